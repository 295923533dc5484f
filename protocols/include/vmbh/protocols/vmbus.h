// VMBus channel messages (the payload of SynIC message type 1), the VMBus
// protocol versions with what each adds, and the connection ids.
//
// Facts from Linux 6.1: include/linux/hyperv.h, drivers/hv/connection.c,
// drivers/hv/channel_mgmt.c, drivers/hv/channel.c, drivers/hv/vmbus_drv.c.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/guid.h"
#include "vmbh/protocols/result.h"

namespace vmbh::proto {

// ===========================================================================
// Versions: (major << 16) | minor.

enum class VmbusVersion : std::uint32_t {
  ws2008 = 0x0000000D,      // 0.13
  win7 = 0x00010001,        // 1.1
  win8 = 0x00020004,        // 2.4
  win8_1 = 0x00030000,      // 3.0
  win10 = 0x00040000,       // 4.0
  win10_v4_1 = 0x00040001,  // 4.1
  win10_v5 = 0x00050000,    // 5.0
  win10_v5_1 = 0x00050001,  // 5.1
  win10_v5_2 = 0x00050002,  // 5.2
  win10_v5_3 = 0x00050003,  // 5.3
};

constexpr std::uint32_t raw(VmbusVersion v) { return static_cast<std::uint32_t>(v); }
constexpr std::uint16_t version_major(VmbusVersion v) { return static_cast<std::uint16_t>(raw(v) >> 16); }
constexpr std::uint16_t version_minor(VmbusVersion v) { return static_cast<std::uint16_t>(raw(v) & 0xFFFF); }
// Versions order numerically, as Linux compares them: <, <=, ... work on
// VmbusVersion directly; this is the three-way form (-1, 0, 1).
constexpr int compare_versions(VmbusVersion a, VmbusVersion b) { return a < b ? -1 : (b < a ? 1 : 0); }

// What a version adds, as Linux's behaviour depends on it (cumulative: a
// version has the features of every older one).
enum class VmbusFeature : std::uint32_t {
  // WIN7: OFFERCHANNEL's is_dedicated_interrupt and connection_id are valid;
  // before, the guest signals on the event connection (2).
  offer_connection_id = 1u << 0,
  // WIN8: OPENCHANNEL.target_vp is honoured; channel events arrive as one
  // SIEFP bit per child relid (hv.c assumes >= WIN8); sub-channels
  // (offer.sub_channel_index).
  target_vp = 1u << 1,
  sub_channels = 1u << 2,
  // WIN8.1: the host supports UNLOAD and reconnect (Linux sends UNLOAD only
  // from 3.0 on).
  unload = 1u << 3,
  // WIN10 (4.0): Hyper-V sockets, TL_CONNECT_REQUEST / TL_CONNECT_RESULT
  // (hv_sock refuses to load below 4.0).
  hvsock = 1u << 4,
  // 4.1: MODIFYCHANNEL (re-target a channel's interrupt; no reply before 5.3);
  // Linux also checks the SIEFP for a pending event before EOM.
  modify_channel = 1u << 5,
  // 5.0: INITIATE_CONTACT goes to message connection 4 and carries msg_sint
  // instead of an interrupt page; later messages go to
  // VERSION_RESPONSE.msg_conn_id.
  message_connection_id = 1u << 6,
  // 5.2: the minimum for isolated (SNP/TDX) guests; TL_CONNECT_REQUEST may
  // carry a silo id (Windows; Linux 6.1 never sends it).
  isolation = 1u << 7,
  tl_connect_silo_id = 1u << 8,
  // 5.3: the host answers MODIFYCHANNEL with MODIFYCHANNEL_RESPONSE.
  modify_channel_response = 1u << 9,
};

constexpr std::uint32_t operator|(VmbusFeature a, VmbusFeature b) {
  return static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b);
}
constexpr std::uint32_t operator|(std::uint32_t a, VmbusFeature b) {
  return a | static_cast<std::uint32_t>(b);
}

struct VmbusVersionInfo {
  VmbusVersion version;
  const char* name;        // "WIN10_V5_3" as in hyperv.h
  std::uint32_t adds;      // VmbusFeature bits this version introduces
  std::uint32_t features;  // all VmbusFeature bits (cumulative)
};

inline constexpr std::array<VmbusVersionInfo, 10> kVmbusVersions = [] {
  using F = VmbusFeature;
  std::array<VmbusVersionInfo, 10> t = {{
      {VmbusVersion::ws2008, "WS2008", 0, 0},
      {VmbusVersion::win7, "WIN7", static_cast<std::uint32_t>(F::offer_connection_id), 0},
      {VmbusVersion::win8, "WIN8", F::target_vp | F::sub_channels, 0},
      {VmbusVersion::win8_1, "WIN8_1", static_cast<std::uint32_t>(F::unload), 0},
      {VmbusVersion::win10, "WIN10", static_cast<std::uint32_t>(F::hvsock), 0},
      {VmbusVersion::win10_v4_1, "WIN10_V4_1", static_cast<std::uint32_t>(F::modify_channel), 0},
      {VmbusVersion::win10_v5, "WIN10_V5", static_cast<std::uint32_t>(F::message_connection_id), 0},
      {VmbusVersion::win10_v5_1, "WIN10_V5_1", 0, 0},
      {VmbusVersion::win10_v5_2, "WIN10_V5_2", F::isolation | F::tl_connect_silo_id, 0},
      {VmbusVersion::win10_v5_3, "WIN10_V5_3", static_cast<std::uint32_t>(F::modify_channel_response), 0},
  }};
  std::uint32_t acc = 0;
  for (auto& e : t) {
    acc |= e.adds;
    e.features = acc;
  }
  return t;
}();

// The versions Linux 6.1 offers in INITIATE_CONTACT, in order (vmbus_versions[]
// in connection.c; WS2008 and WIN7 are no longer supported by Linux).
inline constexpr std::array<VmbusVersion, 8> kLinuxVmbusVersions = {
    VmbusVersion::win10_v5_3, VmbusVersion::win10_v5_2, VmbusVersion::win10_v5_1, VmbusVersion::win10_v5,
    VmbusVersion::win10_v4_1, VmbusVersion::win10,      VmbusVersion::win8_1,     VmbusVersion::win8,
};

constexpr const VmbusVersionInfo* version_info(VmbusVersion v) {
  for (const auto& e : kVmbusVersions) {
    if (e.version == v) return &e;
  }
  return nullptr;
}
constexpr bool is_known_version(VmbusVersion v) { return version_info(v) != nullptr; }
constexpr std::optional<VmbusVersion> vmbus_version_from_raw(std::uint32_t value) {
  auto v = static_cast<VmbusVersion>(value);
  if (is_known_version(v)) return v;
  return std::nullopt;
}
// False for an unknown version.
constexpr bool has_feature(VmbusVersion v, VmbusFeature f) {
  const VmbusVersionInfo* info = version_info(v);
  return info != nullptr && (info->features & static_cast<std::uint32_t>(f)) != 0;
}
// The feature bits of a raw version number as Linux treats it: by numeric
// comparison (a requested version between two known ones gets the older's).
constexpr std::uint32_t features_of_raw(std::uint32_t value) {
  std::uint32_t f = 0;
  for (const auto& e : kVmbusVersions) {
    if (raw(e.version) <= value) f = e.features;
  }
  return f;
}

// ===========================================================================
// Connection ids and SINT.
//
// Guest -> host messages (HvPostMessage) go to a message connection:
// INITIATE_CONTACT to 1 before 5.0, to 4 from 5.0 on; every later message to
// 1 before 5.0, and to VERSION_RESPONSE.msg_conn_id from 5.0 on. Host -> guest
// messages arrive in SINT 2 (slot 2 of the SIMP page). The guest signals a
// channel with HvSignalEvent on the offer's connection_id (from WIN7; the
// event connection 2 for WS2008); QEMU's vmbus gives channel relid r the
// connection id 16 + r.
inline constexpr std::uint32_t kVmbusMessageConnectionId = 1;
inline constexpr std::uint32_t kVmbusMessageConnectionId4 = 4;  // 5.0+
inline constexpr std::uint32_t kVmbusEventConnectionId = 2;
inline constexpr std::uint32_t kVmbusMonitorConnectionId = 3;
inline constexpr std::uint32_t kVmbusMessageSint = 2;

constexpr std::uint32_t initiate_contact_connection_id(VmbusVersion requested) {
  return requested >= VmbusVersion::win10_v5 ? kVmbusMessageConnectionId4 : kVmbusMessageConnectionId;
}

// ===========================================================================
// Channel messages: an 8-byte header {msgtype u32, padding u32}, then the body.

enum class ChannelMessageType : std::uint32_t {
  invalid = 0,
  offer_channel = 1,
  rescind_channel_offer = 2,
  request_offers = 3,
  all_offers_delivered = 4,
  open_channel = 5,
  open_channel_result = 6,
  close_channel = 7,
  gpadl_header = 8,
  gpadl_body = 9,
  gpadl_created = 10,
  gpadl_teardown = 11,
  gpadl_torndown = 12,
  relid_released = 13,
  initiate_contact = 14,
  version_response = 15,
  unload = 16,
  unload_response = 17,
  // 18..20 are Windows-internal (reserved channels); Linux ignores them.
  tl_connect_request = 21,
  modify_channel = 22,
  tl_connect_result = 23,
  modify_channel_response = 24,
};
inline constexpr std::uint32_t kChannelMessageTypeCount = 25;  // CHANNELMSG_COUNT

const char* to_string(ChannelMessageType type);  // "offer_channel", or "unknown"

inline constexpr std::size_t kChannelMessageHeaderSize = 8;
inline constexpr std::size_t kChannelMessageMaxSize = 240;  // one SynIC payload
inline constexpr std::size_t kMaxUserDefinedBytes = 120;
inline constexpr std::size_t kMaxPipeUserDefinedBytes = 116;
// struct vmbus_channel_offer (the part shared with the guest's device), and
// the whole OFFERCHANNEL message including its 8-byte header.
inline constexpr std::size_t kChannelOfferSize = 176;
inline constexpr std::size_t kOfferChannelSize = 196;
inline constexpr std::size_t kOpenChannelSize = 148;
inline constexpr std::size_t kInitiateContactSize = 40;
inline constexpr std::size_t kVersionResponseSize = 16;
inline constexpr std::size_t kTlConnectRequestSize = 40;      // endpoint + service id
inline constexpr std::size_t kTlConnectRequestSiloSize = 56;  // + silo id (5.2+)
inline constexpr std::size_t kTlConnectResultSize = 44;

// Offer channel flags (chn_flags).
inline constexpr std::uint16_t kChannelEnumerateDeviceInterface = 0x0001;
inline constexpr std::uint16_t kChannelServerSupportsTransferPages = 0x0002;
inline constexpr std::uint16_t kChannelServerSupportsGpadls = 0x0004;
inline constexpr std::uint16_t kChannelNamedPipeMode = 0x0010;
inline constexpr std::uint16_t kChannelLoopbackOffer = 0x0100;
inline constexpr std::uint16_t kChannelParentOffer = 0x0200;
inline constexpr std::uint16_t kChannelRequestMonitoredNotification = 0x0400;
inline constexpr std::uint16_t kChannelTlnpiProviderOffer = 0x2000;
// Pipe modes (first u32 of the user-defined area in pipe mode).
inline constexpr std::uint32_t kPipeTypeByte = 0x00000000;
inline constexpr std::uint32_t kPipeTypeMessage = 0x00000004;
// GPADL_CREATED.creation_status, OPENCHANNEL_RESULT.status: 0 is success.
inline constexpr std::uint32_t kVmbusStatusSuccess = 0;

// --- Body structs. Every struct's fields are in wire order.

// OFFERCHANNEL (1), host -> guest: 196 bytes with the header.
//   8 if_type | 24 if_instance | 40 reserved1 u64 | 48 reserved2 u64
//   56 chn_flags u16 | 58 mmio_megabytes u16 | 60 user_def[120] (pipe mode:
//   pipe_mode u32 + user_def[116]) | 180 sub_channel_index u16 | 182 reserved3 u16
//   184 child_relid u32 | 188 monitorid u8 | 189 monitor flags u8 (bit 0
//   monitor_allocated) | 190 interrupt flags u16 (bit 0 is_dedicated_interrupt)
//   192 connection_id u32
// Bit-field bytes are kept raw so reserved bits round-trip.
struct OfferChannel {
  Guid if_type;
  Guid if_instance;
  std::uint64_t reserved1 = 0;
  std::uint64_t reserved2 = 0;
  std::uint16_t chn_flags = 0;
  std::uint16_t mmio_megabytes = 0;
  std::array<std::byte, kMaxUserDefinedBytes> user_def{};
  std::uint16_t sub_channel_index = 0;  // WIN8+: 0 = primary channel
  std::uint16_t reserved3 = 0;
  std::uint32_t child_relid = 0;
  std::uint8_t monitor_id = 0;
  std::uint8_t monitor_flags = 0;     // bit 0 monitor_allocated
  std::uint16_t interrupt_flags = 0;  // bit 0 is_dedicated_interrupt (WIN7+)
  std::uint32_t connection_id = 0;    // WIN7+: HvSignalEvent target

  bool monitor_allocated() const { return (monitor_flags & 1) != 0; }
  bool is_dedicated_interrupt() const { return (interrupt_flags & 1) != 0; }
  bool is_pipe() const { return (chn_flags & kChannelNamedPipeMode) != 0; }
  // The union's pipe view: pipe_mode is the first u32 of user_def.
  std::uint32_t pipe_mode() const;
  ByteSpan pipe_user_def() const { return ByteSpan(user_def).subspan(4); }
  // The connection id the guest signals this channel on.
  std::uint32_t signal_connection_id(VmbusVersion v) const {
    return has_feature(v, VmbusFeature::offer_connection_id) ? connection_id : kVmbusEventConnectionId;
  }

  bool operator==(const OfferChannel&) const = default;
};

struct RescindChannelOffer {  // 2, host -> guest: 12 bytes
  std::uint32_t child_relid = 0;
  bool operator==(const RescindChannelOffer&) const = default;
};

struct RequestOffers {  // 3, guest -> host: header only
  bool operator==(const RequestOffers&) const = default;
};

struct AllOffersDelivered {  // 4, host -> guest: header only
  bool operator==(const AllOffersDelivered&) const = default;
};

// OPENCHANNEL (5), guest -> host: 148 bytes.
//   8 child_relid | 12 openid | 16 ringbuffer_gpadlhandle | 20 target_vp
//   24 downstream_ringbuffer_pageoffset (pages) | 28 userdata[120]
struct OpenChannel {
  std::uint32_t child_relid = 0;
  std::uint32_t open_id = 0;
  std::uint32_t ringbuffer_gpadl = 0;
  std::uint32_t target_vp = 0;  // WIN8+; 0 before
  std::uint32_t downstream_ringbuffer_page_offset = 0;
  std::array<std::byte, kMaxUserDefinedBytes> user_data{};
  bool operator==(const OpenChannel&) const = default;
};

struct OpenChannelResult {  // 6, host -> guest: 20 bytes
  std::uint32_t child_relid = 0;
  std::uint32_t open_id = 0;
  std::uint32_t status = 0;
  bool operator==(const OpenChannelResult&) const = default;
};

struct CloseChannel {  // 7, guest -> host: 12 bytes
  std::uint32_t child_relid = 0;
  bool operator==(const CloseChannel&) const = default;
};

// 8 GPADL_HEADER and 9 GPADL_BODY: GpadlHeader / GpadlBody in gpadl.h.

struct GpadlCreated {  // 10, host -> guest: 20 bytes
  std::uint32_t child_relid = 0;
  std::uint32_t gpadl = 0;
  std::uint32_t creation_status = 0;
  bool operator==(const GpadlCreated&) const = default;
};

struct GpadlTeardown {  // 11, guest -> host: 16 bytes
  std::uint32_t child_relid = 0;
  std::uint32_t gpadl = 0;
  bool operator==(const GpadlTeardown&) const = default;
};

struct GpadlTorndown {  // 12, host -> guest: 12 bytes
  std::uint32_t gpadl = 0;
  bool operator==(const GpadlTorndown&) const = default;
};

struct RelidReleased {  // 13, guest -> host: 12 bytes
  std::uint32_t child_relid = 0;
  bool operator==(const RelidReleased&) const = default;
};

// INITIATE_CONTACT (14), guest -> host: 40 bytes.
//   8 vmbus_version_requested | 12 target_vcpu | 16 union (8 bytes)
//   24 monitor_page1 u64 | 32 monitor_page2 u64
// The union's layout follows the version *requested in this message* (there
// is no negotiated version yet): below 5.0 it is interrupt_page u64; from 5.0
// msg_sint u8 (Linux: 2), then msg_vtl u8, reserved u16 and feature_flags u32,
// which Linux 6.1 leaves zero (Windows defines VTL from 5.1 and feature flags
// from 6.0). The decoder fills the fields of the layout in use and leaves the
// others zero; the encoder writes the layout of version_requested.
struct InitiateContact {
  std::uint32_t version_requested = 0;  // raw; may be a version we do not know
  std::uint32_t target_vcpu = 0;
  std::uint64_t interrupt_page = 0;  // < 5.0
  std::uint8_t msg_sint = 0;         // >= 5.0
  std::uint8_t msg_vtl = 0;          // >= 5.0
  std::uint16_t reserved = 0;        // >= 5.0
  std::uint32_t feature_flags = 0;   // >= 5.0
  std::uint64_t monitor_page1 = 0;
  std::uint64_t monitor_page2 = 0;

  bool uses_msg_sint() const { return version_requested >= raw(VmbusVersion::win10_v5); }
  bool operator==(const InitiateContact&) const = default;
};

// VERSION_RESPONSE (15), host -> guest: 16 bytes at every version (Linux's
// minimum length is the whole struct).
//   8 version_supported u8 | 9 connection_state u8 | 10 padding u16 | 12 msg_conn_id u32
// Linux uses msg_conn_id only when it requested 5.0 or later.
struct VersionResponse {
  std::uint8_t version_supported = 0;  // boolean
  std::uint8_t connection_state = 0;   // 0 ok, 1 low resources, 2 unknown failure
  std::uint16_t padding = 0;
  std::uint32_t msg_conn_id = 0;

  // The connection id the guest posts later messages to, having requested `requested`.
  std::uint32_t message_connection_id(VmbusVersion requested) const {
    return requested >= VmbusVersion::win10_v5 ? msg_conn_id : kVmbusMessageConnectionId;
  }
  bool operator==(const VersionResponse&) const = default;
};

struct Unload {  // 16, guest -> host: header only
  bool operator==(const Unload&) const = default;
};

struct UnloadResponse {  // 17, host -> guest: header only
  bool operator==(const UnloadResponse&) const = default;
};

// TL_CONNECT_REQUEST (21), guest -> host, 4.0+: 40 bytes (guest_endpoint_id,
// host_service_id); from 5.2 an optional silo_id makes it 56 (Linux 6.1 always
// sends 40). The silo id is decoded and encoded only at 5.2+.
struct TlConnectRequest {
  Guid guest_endpoint_id;
  Guid host_service_id;
  std::optional<Guid> silo_id;
  bool operator==(const TlConnectRequest&) const = default;
};

struct ModifyChannel {  // 22, guest -> host, 4.1+: 16 bytes
  std::uint32_t child_relid = 0;
  std::uint32_t target_vp = 0;
  bool operator==(const ModifyChannel&) const = default;
};

// TL_CONNECT_RESULT (23), host -> guest, 4.0+: 44 bytes. Linux has no handler.
struct TlConnectResult {
  Guid guest_endpoint_id;
  Guid host_service_id;
  std::uint32_t status = 0;
  bool operator==(const TlConnectResult&) const = default;
};

struct ModifyChannelResponse {  // 24, host -> guest, 5.3+: 16 bytes
  std::uint32_t child_relid = 0;
  std::uint32_t status = 0;
  bool operator==(const ModifyChannelResponse&) const = default;
};

using ChannelMessage =
    std::variant<OfferChannel, RescindChannelOffer, RequestOffers, AllOffersDelivered, OpenChannel,
                 OpenChannelResult, CloseChannel, GpadlHeader, GpadlBody, GpadlCreated, GpadlTeardown,
                 GpadlTorndown, RelidReleased, InitiateContact, VersionResponse, Unload, UnloadResponse,
                 TlConnectRequest, ModifyChannel, TlConnectResult, ModifyChannelResponse>;

ChannelMessageType message_type(const ChannelMessage& m);

// The oldest version at which `type` exists, or nullopt for an unknown type
// (0, 18..20, >= 25). TL_CONNECT_* need 4.0, MODIFYCHANNEL 4.1,
// MODIFYCHANNEL_RESPONSE 5.3; the others exist at every version.
std::optional<VmbusVersion> channel_message_since(ChannelMessageType type);
bool channel_message_exists(ChannelMessageType type, VmbusVersion v);

// The minimum message length (with header) decode_channel_message accepts.
//
// Length policy. Linux drops a host message shorter than its struct
// (channel_message_table min_payload_len) and ignores any bytes beyond it; the
// decoder does the same for every fixed-layout type in both directions:
// length >= the struct size, trailing bytes ignored (and not re-encoded).
// Header-only types need the 8-byte header. The exceptions, where the length
// carries information:
//   GPADL_HEADER  28 + 8n bytes exactly, n <= 26 (n = PFN words carried)
//   GPADL_BODY    16 + 8n bytes exactly, n <= 28
//   TL_CONNECT_REQUEST at 5.2+: 40..55 bytes = no silo id, >= 56 = silo id
// Nothing longer than 240 bytes (one SynIC payload) is a channel message.
std::size_t channel_message_min_size(ChannelMessageType type);

// Decodes one channel message (header included) as exchanged at version `v`.
// Errors: bad_version "channel_message.version" for a v not in kVmbusVersions;
// bad_length "channel_message.size" above 240 bytes; unknown_type
// "channel_message.msgtype" for an unknown type or one that does not exist at
// `v`; truncated naming the first missing field; bad_length/bad_value naming
// the field for the GPADL consistency rules.
Result<ChannelMessage> decode_channel_message(ByteSpan msg, VmbusVersion v);

// Encodes exactly the layout Linux uses at `v` (header padding zero). The
// version gate is not checked here; `v` only selects TL_CONNECT_REQUEST's
// silo id (INITIATE_CONTACT's layout follows its version_requested).
void encode(const ChannelMessage& m, VmbusVersion v, ByteWriter& w);
Bytes encode(const ChannelMessage& m, VmbusVersion v);

}  // namespace vmbh::proto
