// Answers what an IC device sent through a FakeChannelIo the way a Linux
// guest does: negotiation with the driver's version lists (the protocols/
// simulation), heartbeat/shutdown/timesync with linux_ic_answer_in_place, and
// KVP/VSS/fcopy service messages through a test-supplied answer (the daemons'
// work), in place, echoing the packet's trans_id. The 6.12 fcopy uio daemon
// variant answers with trans_id all-ones and status E_FAIL unless it matched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "fake_channel_io.h"
#include "vmbh/protocols/ic.h"

namespace vmbh::host::testing {

enum class LinuxService { heartbeat, shutdown, timesync, kvp, vss, fcopy, fcopy_uio };

inline constexpr std::size_t kIcStatusOffset = proto::kIcPipeHeaderSize + 12;
inline constexpr std::size_t kIcFlagsOffset = proto::kIcPipeHeaderSize + 17;
inline constexpr std::uint64_t kUioTransId = ~std::uint64_t{0};

class LinuxIcGuest {
 public:
  // Changes a service packet in place (body, status); false: no answer.
  using ServiceAnswer = std::function<bool(std::span<std::byte> packet)>;

  LinuxIcGuest(Device& device, FakeChannelIo& io, LinuxService service)
      : device_(device), io_(io), service_(service) {}

  // The guest's version lists (default: the driver's).
  std::span<const proto::IcVersion> framework() const {
    if (!framework_override.empty()) return framework_override;
    if (service_ == LinuxService::vss || service_ == LinuxService::fcopy ||
        service_ == LinuxService::fcopy_uio)
      return proto::kLinuxVssFcopyFrameworkVersions;
    return proto::kLinuxUtilFrameworkVersions;
  }
  std::span<const proto::IcVersion> versions() const {
    if (!service_override.empty()) return service_override;
    switch (service_) {
      case LinuxService::heartbeat:
        return proto::kLinuxHeartbeatVersions;
      case LinuxService::shutdown:
        return proto::kLinuxShutdownVersions;
      case LinuxService::timesync:
        return proto::kLinuxTimesyncVersions;
      case LinuxService::kvp:
        return proto::kLinuxKvpVersions;
      case LinuxService::vss:
        return proto::kLinuxVssVersions;
      case LinuxService::fcopy:
      case LinuxService::fcopy_uio:
        return proto::kLinuxFcopyVersions;
    }
    return {};
  }

  // The guest's answer to sent packet `i` (padded as received), or nothing.
  std::optional<proto::Bytes> answer_for(std::size_t i) {
    proto::Bytes p = padded(io_.sent.at(i).payload);
    if (p.size() < proto::kIcMessageHeaderSize) return std::nullopt;
    const auto type =
        static_cast<proto::IcMsgType>(proto::load_u32(p, proto::kIcPipeHeaderSize + 4) & 0xFFFF);
    const bool util = service_ == LinuxService::heartbeat || service_ == LinuxService::shutdown ||
                      service_ == LinuxService::timesync;
    if (util && framework_override.empty() && service_override.empty()) {
      const auto s = service_ == LinuxService::heartbeat  ? proto::LinuxIcService::heartbeat
                     : service_ == LinuxService::shutdown ? proto::LinuxIcService::shutdown
                                                          : proto::LinuxIcService::timesync;
      if (type != proto::IcMsgType::negotiate && service_answer) {
        if (!service_answer(p)) return std::nullopt;
        p[kIcFlagsOffset] = std::byte{proto::kIcFlagsGuestResponse};
        return p;
      }
      if (!proto::linux_ic_answer_in_place(s, p, state).answered) return std::nullopt;
      return p;
    }
    if (type == proto::IcMsgType::negotiate) {
      const auto n = proto::linux_negotiate_in_place(p, framework(), versions());
      if (!n.answered) return std::nullopt;
      if (n.selection_ran) state.service_version = n.choice.message;
      if (service_ == LinuxService::fcopy_uio)
        proto::store_u32(p, kIcStatusOffset, n.choice.found ? proto::kHvSOk : proto::kHvEFail);
      return p;
    }
    if (service_ == LinuxService::fcopy_uio) proto::store_u32(p, kIcStatusOffset, proto::kHvEFail);
    if (service_answer && !service_answer(p)) return std::nullopt;
    p[kIcFlagsOffset] = std::byte{proto::kIcFlagsGuestResponse};
    return p;
  }

  // Answers every packet sent since the last call; returns how many were answered.
  std::size_t answer_all() {
    std::size_t answered = 0;
    while (next_ < io_.sent.size()) {
      const std::size_t i = next_++;
      auto a = answer_for(i);
      if (!a) continue;
      const std::uint64_t id = service_ == LinuxService::fcopy_uio ? kUioTransId : io_.sent[i].trans_id;
      last_status = deliver(device_, *a, id);
      ++answered;
    }
    return answered;
  }
  // Answers only the oldest packet not yet looked at; false if there was none.
  bool answer_next() {
    if (next_ >= io_.sent.size()) return false;
    const std::size_t i = next_++;
    auto a = answer_for(i);
    if (!a) return true;
    const std::uint64_t id = service_ == LinuxService::fcopy_uio ? kUioTransId : io_.sent[i].trans_id;
    last_status = deliver(device_, *a, id);
    return true;
  }
  // Skips what was sent so far (those packets get no answer).
  void drop_all() { next_ = io_.sent.size(); }

  proto::LinuxIcGuestState state;
  ServiceAnswer service_answer;
  std::vector<proto::IcVersion> framework_override;
  std::vector<proto::IcVersion> service_override;
  Status last_status;

 private:
  Device& device_;
  FakeChannelIo& io_;
  LinuxService service_;
  std::size_t next_ = 0;
};

// Sets the IC status of a packet being answered.
inline void set_ic_status(std::span<std::byte> packet, std::uint32_t status) {
  proto::store_u32(packet, kIcStatusOffset, status);
}

}  // namespace vmbh::host::testing
