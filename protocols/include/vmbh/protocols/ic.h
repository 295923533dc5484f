// Integration components (IC): the framing shared by heartbeat, shutdown,
// timesync, KVP, VSS and fcopy, and the version negotiation every IC channel
// starts with.
//
// A whole IC message, as carried in the payload of a VMBus in-band packet:
//
//   pipe header (8)   {flags u32, msgsize u32}          Linux ignores it
//   IC header  (20)   {icverframe {u16,u16}, icmsgtype u16, icvermsg {u16,u16},
//                      icmsgsize u16, status u32, ictransaction_id u8,
//                      icflags u8, reserved[2]}
//   body (icmsgsize)  negotiate / heartbeat / shutdown / timesync / ...
//
// Linux (6.1) answers in place: it rewrites fields of the received buffer and
// sends back exactly the number of bytes it received (the VMBus payload,
// which includes the ring's padding to 8 bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ---------------------------------------------------------------------------
// Sizes and constants
// ---------------------------------------------------------------------------

inline constexpr std::size_t kIcPipeHeaderSize = 8;
inline constexpr std::size_t kIcHeaderSize = 20;
// Pipe header + IC header: where every body starts (Linux's ICMSG_HDR).
inline constexpr std::size_t kIcMessageHeaderSize = kIcPipeHeaderSize + kIcHeaderSize;
inline constexpr std::size_t kIcVersionSize = 4;
// {icframe_vercnt u16, icmsg_vercnt u16, reserved u32} before the version array.
inline constexpr std::size_t kIcNegotiateFixedSize = 8;
// Linux needs at least the two counts to look at a negotiate packet at all.
inline constexpr std::size_t kIcNegotiateMinPacketSize = kIcMessageHeaderSize + 4;
// Linux rejects a count above this (IC_VERSION_NEGOTIATION_MAX_VER_COUNT).
inline constexpr std::size_t kIcMaxVersionCount = 100;
// icmsgsize of Linux's negotiate answer: fixed part + one framework + one message version.
inline constexpr std::uint16_t kIcNegotiateResponseBodySize = 16;
// Linux receives util packets into one page (KVP: 4 pages, VSS: 2 pages).
inline constexpr std::size_t kIcUtilRecvBufferSize = 4096;

// The pipe header's flags as a Hyper-V host writes them: a regular data packet,
// msgsize = bytes after the pipe header. Linux never reads either field.
inline constexpr std::uint32_t kIcPipeFlagData = 1;

enum class IcMsgType : std::uint16_t {
  negotiate = 0,
  heartbeat = 1,
  kvp_exchange = 2,
  shutdown = 3,
  timesync = 4,
  vss = 5,
  fcopy = 7,
};
const char* to_string(IcMsgType type);  // "unknown" for values outside the list
bool is_known(IcMsgType type);

// icflags bits.
inline constexpr std::uint8_t kIcFlagTransaction = 1;
inline constexpr std::uint8_t kIcFlagRequest = 2;
inline constexpr std::uint8_t kIcFlagResponse = 4;
// What a host request carries and what Linux sets on every answer.
inline constexpr std::uint8_t kIcFlagsHostRequest = kIcFlagTransaction | kIcFlagRequest;
inline constexpr std::uint8_t kIcFlagsGuestResponse = kIcFlagTransaction | kIcFlagResponse;

// Status codes (HRESULTs) of include/uapi/linux/hyperv.h.
inline constexpr std::uint32_t kHvSOk = 0x00000000;
inline constexpr std::uint32_t kHvEFail = 0x80004005;
inline constexpr std::uint32_t kHvSCont = 0x80070103;
inline constexpr std::uint32_t kHvErrorNotSupported = 0x80070032;
inline constexpr std::uint32_t kHvErrorMachineLocked = 0x800704F7;
inline constexpr std::uint32_t kHvErrorDeviceNotConnected = 0x8007048F;
inline constexpr std::uint32_t kHvInvalidArg = 0x80070057;
inline constexpr std::uint32_t kHvGuidNotFound = 0x80041002;
inline constexpr std::uint32_t kHvErrorAlreadyExists = 0x80070050;
inline constexpr std::uint32_t kHvErrorDiskFull = 0x80070070;
// The Linux name of a status code above ("HV_E_FAIL"); nullptr for any other value.
const char* hresult_name(std::uint32_t status);

struct IcVersion {
  std::uint16_t major = 0;
  std::uint16_t minor = 0;

  // Linux's int encoding (major << 16 | minor); orders versions like Linux does.
  constexpr std::uint32_t packed() const { return std::uint32_t{major} << 16 | minor; }
  static constexpr IcVersion from_packed(std::uint32_t v) {
    return {static_cast<std::uint16_t>(v >> 16), static_cast<std::uint16_t>(v & 0xFFFF)};
  }
  bool operator==(const IcVersion&) const = default;
};

// Versions Linux 6.1 offers, highest first, in the order it tries them.
// Framework: hv_util.c and hv_kvp.c pass {3.0, 1.0}; hv_snapshot.c and hv_fcopy.c only {3.0}.
inline constexpr std::array<IcVersion, 2> kLinuxUtilFrameworkVersions{{{3, 0}, {1, 0}}};
inline constexpr std::array<IcVersion, 1> kLinuxVssFcopyFrameworkVersions{{{3, 0}}};
inline constexpr std::array<IcVersion, 2> kLinuxHeartbeatVersions{{{3, 0}, {1, 0}}};
inline constexpr std::array<IcVersion, 4> kLinuxShutdownVersions{{{3, 2}, {3, 1}, {3, 0}, {1, 0}}};
inline constexpr std::array<IcVersion, 3> kLinuxTimesyncVersions{{{4, 0}, {3, 0}, {1, 0}}};
inline constexpr std::array<IcVersion, 3> kLinuxKvpVersions{{{4, 0}, {3, 0}, {1, 0}}};
inline constexpr std::array<IcVersion, 1> kLinuxVssVersions{{{5, 0}}};
inline constexpr std::array<IcVersion, 1> kLinuxFcopyVersions{{{1, 1}}};

// ---------------------------------------------------------------------------
// Headers and whole messages
// ---------------------------------------------------------------------------

struct IcPipeHeader {
  std::uint32_t flags = 0;
  std::uint32_t msgsize = 0;
  bool operator==(const IcPipeHeader&) const = default;
};

struct IcHeader {
  IcVersion icverframe;
  IcMsgType icmsgtype = IcMsgType::negotiate;
  IcVersion icvermsg;
  std::uint16_t icmsgsize = 0;
  std::uint32_t status = 0;
  std::uint8_t ictransaction_id = 0;
  std::uint8_t icflags = 0;
  std::array<std::uint8_t, 2> reserved{};
  bool operator==(const IcHeader&) const = default;
};

// A decoded IC message. `body` is the icmsgsize bytes after the IC header and
// `trailing` whatever follows them (typically the ring's padding to 8 bytes);
// both point into the decoded input.
struct IcMessage {
  IcPipeHeader pipe;
  IcHeader header;
  ByteSpan body;
  ByteSpan trailing;

  bool operator==(const IcMessage& o) const;  // compares span contents
};

Result<IcPipeHeader> decode_ic_pipe_header(ByteSpan in);
Result<IcHeader> decode_ic_header(ByteSpan in);  // the 20 bytes after the pipe header
void encode(const IcPipeHeader& h, ByteWriter& w);
void encode(const IcHeader& h, ByteWriter& w);

// Decodes pipe header + IC header and splits the body: fails if the input is
// shorter than 28 bytes or icmsgsize exceeds the bytes after the IC header.
// The pipe header is kept as is (Linux ignores it).
Result<IcMessage> decode_ic_message(ByteSpan in);
// Writes pipe header, IC header, body and trailing bytes verbatim.
void encode(const IcMessage& m, ByteWriter& w);

// Builds a message as a host sends it: pipe {kIcPipeFlagData, 20 + body size},
// icmsgsize = body size (body must be <= 65535 bytes; larger bodies are cut).
void encode_ic_message(const IcHeader& header, ByteSpan body, ByteWriter& w);
Bytes encode_ic_message(const IcHeader& header, ByteSpan body);

// A host request header: icflags transaction|request, status 0.
IcHeader make_ic_request_header(IcMsgType type, IcVersion framework, IcVersion message,
                                std::uint8_t transaction_id = 0);

// ---------------------------------------------------------------------------
// Version negotiation
// ---------------------------------------------------------------------------

// Up to kIcMaxVersionCount versions, stored inline (no allocation).
class IcVersionList {
 public:
  IcVersionList() = default;
  // Fails (returns false, list unchanged) beyond kIcMaxVersionCount.
  bool assign(std::span<const IcVersion> versions);
  bool push_back(IcVersion v);
  void clear() { size_ = 0; }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const IcVersion& operator[](std::size_t i) const { return items_[i]; }
  std::span<const IcVersion> view() const { return {items_.data(), size_}; }
  const IcVersion* begin() const { return items_.data(); }
  const IcVersion* end() const { return items_.data() + size_; }
  bool contains(IcVersion v) const;

  bool operator==(const IcVersionList& o) const;

 private:
  std::array<IcVersion, kIcMaxVersionCount> items_{};
  std::size_t size_ = 0;
};

// The negotiate body a host sends: counts, then framework versions, then
// message (service) versions.
struct IcNegotiate {
  std::uint32_t reserved = 0;
  IcVersionList framework;
  IcVersionList message;
  bool operator==(const IcNegotiate&) const = default;
};

// Decodes a negotiate body (the IC message body): each count <= 100
// ("negotiate.icframe_vercnt"/"negotiate.icmsg_vercnt": bad_length), the
// versions must fit in the bytes present ("negotiate.versions": truncated)
// and nothing may follow them ("negotiate.versions": trailing_data).
Result<IcNegotiate> decode_ic_negotiate(ByteSpan body);
void encode(const IcNegotiate& n, ByteWriter& w);

// The full negotiate packet a Hyper-V host sends on a fresh IC channel:
// icverframe/icvermsg = the first (highest) version of each list, type 0,
// icflags transaction|request, transaction id 0. Lists over 100 entries fail.
Result<Bytes> host_negotiate_offer(std::span<const IcVersion> framework, std::span<const IcVersion> message);

// Outcome of Linux's version selection (vmbus_prep_negotiate_resp).
//
// found: a framework and a message version were both matched.
// framework/message: what Linux writes into the two version slots of its
// answer and reports as negotiated. When nothing matched these are not
// versions: Linux leaves {icframe_vercnt, 0} / {icmsg_vercnt, 0} there (the
// framework slot keeps a matched framework version if only the service
// version failed), and the driver stores `message` as its service version
// anyway (timesync then picks its body layout from it).
struct IcVersionChoice {
  bool found = false;
  IcVersion framework;
  IcVersion message;
  bool operator==(const IcVersionChoice&) const = default;
};

// Linux's selection on a decoded offer: for each guest framework version in
// order, the first equal offered framework version wins; then likewise for the
// service versions among the offered message versions. The guest lists are
// what the driver passes (highest first), so the result is the guest's
// preferred common version, whatever the host's order.
IcVersionChoice select_versions(const IcNegotiate& offer, std::span<const IcVersion> guest_framework,
                                std::span<const IcVersion> guest_service);

// Linux's whole negotiate handling of a received packet (the driver's
// callback plus vmbus_prep_negotiate_resp), done in place on `packet`, the
// received VMBus payload from the pipe header on (packet.size() = recvlen).
//
// - under 28 bytes: dropped, no answer (answered = false, buffer unchanged);
// - 28..31 bytes: no selection (selection_ran = false; the driver keeps its
//   previous service version); only icflags changes;
// - otherwise icmsgsize = 16, counts 1/1 (found) or 0/0, the two version
//   slots after the counts (each u16 written only if inside the packet).
//   Counts over 100 or versions past the packet end fail without searching.
// In every answered case icflags = transaction|response and the status is
// left as received; all packet.size() bytes go back to the host.
struct LinuxNegotiation {
  bool answered = false;
  bool selection_ran = false;
  IcVersionChoice choice;  // meaningful when selection_ran
  bool operator==(const LinuxNegotiation&) const = default;
};
LinuxNegotiation linux_negotiate_in_place(std::span<std::byte> packet,
                                          std::span<const IcVersion> guest_framework,
                                          std::span<const IcVersion> guest_service);
// Same on a copy: the bytes Linux sends back (nullopt: no answer).
struct IcNegotiateReply {
  Bytes packet;
  LinuxNegotiation negotiation;
};
std::optional<IcNegotiateReply> linux_negotiate_reply(ByteSpan request,
                                                      std::span<const IcVersion> guest_framework,
                                                      std::span<const IcVersion> guest_service);

// The negotiate body of Linux's answer (icmsgsize 16): counts 1/1 with the
// chosen versions, or 0/0 (no common version) with leftovers in the slots.
struct IcNegotiateResponse {
  std::uint16_t icframe_vercnt = 0;
  std::uint16_t icmsg_vercnt = 0;
  std::uint32_t reserved = 0;
  IcVersion framework;
  IcVersion message;

  bool accepted() const { return icframe_vercnt == 1 && icmsg_vercnt == 1; }
  bool operator==(const IcNegotiateResponse&) const = default;
};
// Exactly 16 bytes; counts must be 1/1 or 0/0 ("negotiate_response.icframe_vercnt",
// "negotiate_response.icmsg_vercnt": bad_value).
Result<IcNegotiateResponse> decode_ic_negotiate_response(ByteSpan body);
void encode(const IcNegotiateResponse& r, ByteWriter& w);
// The answer body Linux writes for a given choice.
IcNegotiateResponse make_negotiate_response(const IcVersionChoice& choice);

// ---------------------------------------------------------------------------
// Linux 6.1's answers on the heartbeat, shutdown and timesync channels
// ---------------------------------------------------------------------------

enum class LinuxIcService : std::uint8_t { heartbeat, shutdown, timesync };

// What the driver keeps between packets.
struct LinuxIcGuestState {
  // The service version it stored at the last negotiation (the drivers start at 0).
  IcVersion service_version;
  bool hibernation_supported = false;
};

enum class LinuxIcEffect : std::uint8_t {
  none,         // no answer, or an answer without action
  negotiated,   // a negotiate packet was answered (see the stored version)
  heartbeat,    // seq_num incremented
  shutdown,     // power off scheduled
  reboot,       // reboot scheduled
  hibernate,    // hibernation uevent sent
  rejected,     // status set to E_FAIL (bad shutdown flags, unexpected type)
  time_sample,  // timesync sample recorded
  time_set,     // timesync sample recorded and the clock set (sync flag)
};

struct LinuxIcAnswer {
  bool answered = false;  // false: the packet is dropped without an answer
  LinuxIcEffect effect = LinuxIcEffect::none;
  bool operator==(const LinuxIcAnswer&) const = default;
};

// What the hv_utils driver of `service` does with one received packet
// (`packet` = the received VMBus payload, recvlen = packet.size()), in place:
// packets under 28 bytes are dropped; negotiate packets go through
// linux_negotiate_in_place with the service's lists (storing the service
// version in `state` whenever the selection ran, found or not); service
// messages too short for their body are dropped (heartbeat: 8 bytes of
// seq_num; shutdown: 2060; timesync: 22 or 25 by the stored version); a
// heartbeat gets seq_num + 1, a shutdown request its status; any other type
// gets status E_FAIL. Every answer has icflags transaction|response and all
// packet.size() bytes.
LinuxIcAnswer linux_ic_answer_in_place(LinuxIcService service, std::span<std::byte> packet,
                                       LinuxIcGuestState& state);

}  // namespace vmbh::proto
