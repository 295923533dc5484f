// A ChannelIo without VMBus underneath, for device tests and the device
// fuzzer: it records what the device sends and notes, can refuse sends (a
// full ring), and turns guest payloads into the PacketView a device receives
// from the channel manager.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vmbh/host/device.h"
#include "vmbh/protocols/packet.h"

namespace vmbh::host::testing {

class FakeChannelIo : public ChannelIo {
 public:
  struct Sent {
    proto::Bytes payload;
    std::uint64_t trans_id = 0;
    bool request_completion = false;
  };

  explicit FakeChannelIo(std::uint32_t relid = 7) : relid_(relid) {}

  std::uint32_t relid() const override { return relid_; }
  Status send_inband(proto::ByteSpan payload, std::uint64_t trans_id, bool request_completion) override {
    ++send_attempts;
    if (refuse_sends > 0) {
      --refuse_sends;
      return Status::fail("fake: ring full");
    }
    sent.push_back({proto::Bytes(payload.begin(), payload.end()), trans_id, request_completion});
    return {};
  }
  void note(std::string message) override { notes.push_back(std::move(message)); }

  // Whether any note contains `text`.
  bool noted(const std::string& text) const {
    for (const auto& n : notes) {
      if (n.find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::vector<Sent> sent;
  std::vector<std::string> notes;
  int refuse_sends = 0;  // the next N sends fail
  int send_attempts = 0;

 private:
  std::uint32_t relid_;
};

// The payload as the receiver sees it: the sender's bytes zero-padded to 8
// (the ring carries len8; the unpadded length is lost).
inline proto::Bytes padded(proto::ByteSpan payload) {
  proto::Bytes out(payload.begin(), payload.end());
  out.resize(proto::align8(out.size()), std::byte{0});
  return out;
}

// Delivers one packet from the guest to `device` as the channel manager
// would: encoded as a whole packet, then decoded into a PacketView.
inline Status deliver(Device& device, proto::ByteSpan payload, std::uint64_t trans_id,
                      proto::PacketType type = proto::PacketType::data_inband) {
  proto::Bytes wire;
  if (type == proto::PacketType::completion) {
    wire = proto::encode(proto::CompletionPacket{0, trans_id, proto::Bytes(payload.begin(), payload.end())});
  } else {
    wire = proto::encode(proto::InbandPacket{0, trans_id, proto::Bytes(payload.begin(), payload.end())});
    if (type != proto::PacketType::data_inband && wire.size() >= 2) {
      wire[0] = std::byte(static_cast<std::uint8_t>(type));
      wire[1] = std::byte{0};
    }
  }
  if (wire.empty()) return Status::fail("fake: packet too large");
  auto view = proto::decode_packet(wire);
  if (!view.ok()) return Status::fail("fake: packet", view.error());
  return device.on_packet(*view);
}

}  // namespace vmbh::host::testing
