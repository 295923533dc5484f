// KVP IC host side: host-initiated GET, SET, DELETE, ENUMERATE (by index),
// GET_IP_INFO and SET_IP_INFO on any pool. Like Hyper-V, one operation is in
// flight at a time (Linux does not read the ring while a transaction is open)
// and the rest wait in a queue. Each result carries the guest's status
// (HV_S_OK, HV_E_FAIL, HV_S_CONT at the end of an enumeration, ...) and, on
// S_OK, the decoded answer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmbh/host/ic_device.h"
#include "vmbh/protocols/kvp.h"

namespace vmbh::host {

struct KvpOptions {
  IcDeviceOptions ic = default_ic_options();
  // Linux fails a transaction its daemon leaves unanswered after 30 s
  // (HV_UTIL_TIMEOUT); a little more lets that answer arrive.
  Clock::duration timeout = std::chrono::seconds(35);
  std::uint32_t enumerate_limit = 4096;  // enumerate_all stops with an error beyond this

  static IcDeviceOptions default_ic_options();
};

struct KvpResult {
  proto::KvpOperation operation = proto::KvpOperation::get;
  std::uint32_t status = 0;
  std::optional<proto::KvpValue> value;   // GET on S_OK
  std::optional<proto::KvpEntry> entry;   // ENUMERATE on S_OK
  std::optional<proto::KvpIpAddress> ip;  // GET_IP_INFO on S_OK
  Clock::duration latency{};
  bool ok() const { return status == proto::kHvSOk; }
};

class KvpDevice : public IcDevice {
 public:
  explicit KvpDevice(KvpOptions options = {}, DeviceIdentity identity = default_identity());
  static DeviceIdentity default_identity();

  void get(proto::KvpPool pool, std::string key, Done<KvpResult> done);
  void set(proto::KvpPool pool, std::string key, proto::KvpValue value, Done<KvpResult> done);
  void del(proto::KvpPool pool, std::string key, Done<KvpResult> done);
  void enumerate(proto::KvpPool pool, std::uint32_t index, Done<KvpResult> done);
  void get_ip_info(std::string adapter_id, std::uint8_t addr_family, Done<KvpResult> done);
  void set_ip_info(proto::KvpIpAddress ip, Done<KvpResult> done);
  // Any message (a conformance check's own request).
  void request(const proto::KvpMessage& message, Done<KvpResult> done);

  // ENUMERATE from index 0 until the guest answers HV_S_CONT; any other
  // non-S_OK status fails with that status.
  void enumerate_all(proto::KvpPool pool, Done<std::vector<proto::KvpEntry>> done);

  // How long the next requests wait for the guest (default: KvpOptions::timeout).
  void set_timeout(Clock::duration t) { options_.timeout = t; }
  DeviceFacts facts() const override;

 private:
  void enumerate_from(proto::KvpPool pool, std::uint32_t index,
                      const std::shared_ptr<std::vector<proto::KvpEntry>>& acc,
                      Done<std::vector<proto::KvpEntry>> done);
  Result<KvpResult> interpret(const proto::KvpMessage& request, const IcReply& reply) const;

  KvpOptions options_;
  std::optional<std::string> last_;  // "SET pool 0: 0x00000000 (HV_S_OK)"
  std::uint64_t operations_ = 0;
};

}  // namespace vmbh::host
