// Prints trace records decoded by the protocols library, one line each:
//   0.001234567 g->h vp0 conn4 initiate_contact version=5.3 target_vcpu=0 ...
//   0.002000000 h->g relid 1 heartbeat trans_id 0x2: heartbeat framework=3.0 ... seq_num=7
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "vmbh/pb/trace.pb.h"
#include "vmbh/protocols/describe_ic.h"
#include "vmbh/protocols/vmbus.h"

namespace vmbh::host {

class TracePrinter {
 public:
  // Records must come in trace order: later lines depend on negotiations seen earlier.
  std::string line(const trace::TraceRecord& r);
  // Takes in a record without printing it (a reader starting mid-trace still
  // has to see the negotiations before its first line).
  void follow(const trace::TraceRecord& r) { (void)line(r); }

 private:
  // Channel messages decode per version; follow the negotiation as it goes.
  proto::VmbusVersion version_ = proto::VmbusVersion::win10_v5_3;
  std::uint32_t requested_ = 0;
  // IC channels: the versions each one negotiated, by relid. The device name
  // guards against a relid reused by another device.
  struct IcChannel {
    std::string device;
    proto::IcVersions versions;
  };
  std::map<std::uint32_t, IcChannel> ic_channels_;
};

}  // namespace vmbh::host
