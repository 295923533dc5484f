// Prints trace records decoded by the protocols library, one line each:
//   0.001234567 g->h vp0 conn4 initiate_contact version=5.3 target_vcpu=0 ...
#pragma once

#include <cstdint>
#include <string>

#include "vmbh/pb/trace.pb.h"
#include "vmbh/protocols/vmbus.h"

namespace vmbh::host {

class TracePrinter {
 public:
  std::string line(const trace::TraceRecord& r);

 private:
  // Channel messages decode per version; follow the negotiation as it goes.
  proto::VmbusVersion version_ = proto::VmbusVersion::win10_v5_3;
  std::uint32_t requested_ = 0;
};

}  // namespace vmbh::host
