// The vmbus-relay protocol: the stream between QEMU's `-device vmbus-relay`
// (harness/qemu/patches/0010-*) and the C++ VMBus host (RelayTransport).
// QEMU forwards the guest's HvPostMessage/HvSignalEvent on the connection ids
// the host registered; the host asks QEMU to post SynIC messages and set
// event flags, and asks for the guest's reference time. Full description in
// docs/relay-protocol.md.
//
// Frame (all integers little-endian):
//    0  type u32     RelayType
//    4  length u32   body bytes that follow (the exact size of that type's body)
//    8  body
//
// Each body has a fixed layout (GUEST_MESSAGE/POST_MESSAGE: a fixed part and
// payload_size bytes; HELLO: a fixed part and region_count regions) and must
// be consumed exactly. No frame exceeds kRelayMaxFrameSize.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

inline constexpr std::uint32_t kRelayMagic = 0x52424D56;  // bytes 'V' 'M' 'B' 'R', first in HELLO
// HELLO's version: what QEMU understands. 1: the base protocol; 2: also
// REF_TIME. A host accepts both and asks REF_TIME only of version >= 2.
inline constexpr std::uint32_t kRelayVersion = 2;
inline constexpr std::uint32_t kRelayMinVersion = 1;
inline constexpr std::uint32_t kRelayRefTimeVersion = 2;
inline constexpr std::size_t kRelayHeaderSize = 8;
inline constexpr std::size_t kRelayMaxFrameSize = 4096;  // header + body
inline constexpr std::size_t kRelayMaxPayload = 240;     // HV_MESSAGE_PAYLOAD_BYTE_COUNT
inline constexpr std::uint32_t kRelayMaxVcpus = 4096;
inline constexpr std::uint32_t kRelayMaxRegions = 16;
inline constexpr std::uint64_t kRelayPageSize = 4096;
inline constexpr std::uint32_t kRelaySintCount = 16;
inline constexpr std::uint32_t kRelayEventFlagCount = 2048;        // bits in one SIEF page slot
inline constexpr std::uint32_t kRelayConnectionIdMask = 0xFFFFFF;  // 24-bit connection ids
// GUEST_SIGNAL.vp when QEMU cannot tell which vCPU signalled (its event
// connections are EventNotifiers, which carry no vCPU).
inline constexpr std::uint32_t kRelayVpUnknown = 0xFFFFFFFF;

enum class RelayType : std::uint32_t {
  // QEMU -> host
  hello = 1,
  guest_message = 2,
  guest_signal = 3,
  guest_reset = 4,
  result = 5,           // answer to every add/remove request
  error = 6,            // a post_message / signal_event QEMU could not carry out
  ref_time_answer = 7,  // answer to ref_time
  // host -> QEMU
  add_message_connection = 0x101,
  add_event_connection = 0x102,
  remove_event_connection = 0x103,
  post_message = 0x104,
  signal_event = 0x105,
  ref_time = 0x106,  // version >= 2
};

bool is_known(RelayType t);
bool is_qemu_to_host(RelayType t);
std::string_view to_string(RelayType t);  // "guest_message"; "UNKNOWN"

struct RelayRamRegion {
  std::uint64_t gpa = 0;
  std::uint64_t size = 0;
  std::uint64_t file_offset = 0;  // offset of gpa in the memory-backend-file
  bool operator==(const RelayRamRegion&) const = default;
};

// ---- QEMU -> host

struct RelayHello {
  std::uint32_t version = kRelayVersion;
  std::uint32_t vcpus = 0;
  std::vector<RelayRamRegion> regions;  // page-aligned, ascending, non-overlapping gpa
  bool operator==(const RelayHello&) const = default;
};
struct RelayGuestMessage {
  std::uint32_t vp = 0;
  std::uint32_t connection_id = 0;
  std::uint32_t message_type = 0;
  Bytes payload;  // <= kRelayMaxPayload
  bool operator==(const RelayGuestMessage&) const = default;
};
struct RelayGuestSignal {
  std::uint32_t vp = kRelayVpUnknown;
  std::uint32_t connection_id = 0;
  bool operator==(const RelayGuestSignal&) const = default;
};
struct RelayGuestReset {
  bool operator==(const RelayGuestReset&) const = default;
};
struct RelayResult {
  RelayType request = RelayType::add_message_connection;  // one of the three add/remove types
  std::uint32_t connection_id = 0;
  std::int32_t error = 0;  // 0, or a negative errno (-EEXIST: id already registered)
  bool operator==(const RelayResult&) const = default;
};
struct RelayError {
  RelayType request = RelayType::post_message;  // post_message or signal_event
  std::uint32_t vp = 0;
  std::uint32_t sint = 0;
  std::int32_t error = 0;  // negative errno
  bool operator==(const RelayError&) const = default;
};
// The guest's partition reference time (100 ns units, what TIME_REF_COUNT
// reads) when QEMU handled the ref_time request with this cookie.
struct RelayRefTimeAnswer {
  std::uint32_t cookie = 0;
  std::int32_t error = 0;  // 0, or a negative errno (-ENOTSUP: QEMU cannot tell); then reference_time is 0
  std::uint64_t reference_time = 0;
  bool operator==(const RelayRefTimeAnswer&) const = default;
};

// ---- host -> QEMU

struct RelayAddMessageConnection {
  std::uint32_t connection_id = 0;
  bool operator==(const RelayAddMessageConnection&) const = default;
};
struct RelayAddEventConnection {
  std::uint32_t connection_id = 0;
  bool operator==(const RelayAddEventConnection&) const = default;
};
struct RelayRemoveEventConnection {
  std::uint32_t connection_id = 0;
  bool operator==(const RelayRemoveEventConnection&) const = default;
};
struct RelayPostMessage {
  std::uint32_t vp = 0;
  std::uint32_t sint = 0;
  std::uint32_t message_type = 0;
  Bytes payload;  // <= kRelayMaxPayload
  bool operator==(const RelayPostMessage&) const = default;
};
struct RelaySignalEvent {
  std::uint32_t vp = 0;
  std::uint32_t sint = 0;
  std::uint32_t flag = 0;  // < kRelayEventFlagCount
  bool operator==(const RelaySignalEvent&) const = default;
};
struct RelayRefTime {
  std::uint32_t cookie = 0;  // echoed by the answer
  bool operator==(const RelayRefTime&) const = default;
};

using RelayFrame =
    std::variant<RelayHello, RelayGuestMessage, RelayGuestSignal, RelayGuestReset, RelayResult, RelayError,
                 RelayRefTimeAnswer, RelayAddMessageConnection, RelayAddEventConnection,
                 RelayRemoveEventConnection, RelayPostMessage, RelaySignalEvent, RelayRefTime>;

RelayType type_of(const RelayFrame& f);

struct RelayHeader {
  RelayType type = RelayType::hello;
  std::uint32_t length = 0;
  bool operator==(const RelayHeader&) const = default;
};

// The 8 header bytes: a known type and a length that fits kRelayMaxFrameSize.
Result<RelayHeader> decode_relay_header(ByteSpan header);
// Exactly one whole frame (header + body); field names are "relay.<type>.<field>".
Result<RelayFrame> decode_relay_frame(ByteSpan frame);

// Appends one frame. Encoding checks nothing: encode only frames that decode
// (payloads <= 240 bytes, <= 16 regions), or the peer will reject them.
void encode(const RelayFrame& f, ByteWriter& w);
Bytes encode_relay_frame(const RelayFrame& f);

// Splits a byte stream (reads of any size) into frames. The stream has no
// resynchronisation: after the first malformed frame the reader stays failed,
// and the peer is expected to close the connection.
class RelayFrameReader {
 public:
  void feed(ByteSpan chunk);
  // The next whole frame, the (sticky) error, or nothing until more bytes arrive.
  std::optional<Result<RelayFrame>> next();
  // Bytes of an incomplete frame held back.
  std::size_t buffered() const { return buf_.size() - pos_; }
  bool failed() const { return error_.has_value(); }

 private:
  Bytes buf_;
  std::size_t pos_ = 0;
  std::size_t consumed_ = 0;  // stream offset of buf_[0], for error offsets
  std::optional<Error> error_;
};

}  // namespace vmbh::proto
