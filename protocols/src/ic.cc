#include "vmbh/protocols/ic.h"

#include <algorithm>
#include <cstring>

#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"

namespace vmbh::proto {

namespace {

// Offsets inside a whole packet (pipe header included).
constexpr std::size_t kOffIcmsgsize = kIcPipeHeaderSize + 10;
constexpr std::size_t kOffIcflags = kIcPipeHeaderSize + 17;
constexpr std::size_t kOffFrameCount = kIcMessageHeaderSize;
constexpr std::size_t kOffMsgCount = kIcMessageHeaderSize + 2;
constexpr std::size_t kOffVersions = kIcMessageHeaderSize + kIcNegotiateFixedSize;

std::uint16_t load_u16(ByteSpan s, std::size_t at) {
  return static_cast<std::uint16_t>(std::to_integer<std::uint16_t>(s[at]) |
                                    std::to_integer<std::uint16_t>(s[at + 1]) << 8);
}
// Stores a u16 only if it lies completely inside `s` (Linux may write past
// recvlen into its page-sized buffer; those bytes are never sent).
void store_u16_if_inside(std::span<std::byte> s, std::size_t at, std::uint16_t v) {
  if (at + 2 > s.size()) return;
  s[at] = std::byte(static_cast<std::uint8_t>(v));
  s[at + 1] = std::byte(static_cast<std::uint8_t>(v >> 8));
}

IcVersion read_version(ByteReader& r, const char* field) {
  IcVersion v;
  v.major = r.u16(field);
  v.minor = r.u16(field);
  return v;
}
void write_version(const IcVersion& v, ByteWriter& w) {
  w.u16(v.major);
  w.u16(v.minor);
}

void read_ic_header(ByteReader& r, IcHeader& h) {
  h.icverframe = read_version(r, "ic_header.icverframe");
  h.icmsgtype = static_cast<IcMsgType>(r.u16("ic_header.icmsgtype"));
  h.icvermsg = read_version(r, "ic_header.icvermsg");
  h.icmsgsize = r.u16("ic_header.icmsgsize");
  h.status = r.u32("ic_header.status");
  h.ictransaction_id = r.u8("ic_header.ictransaction_id");
  h.icflags = r.u8("ic_header.icflags");
  h.reserved[0] = r.u8("ic_header.reserved");
  h.reserved[1] = r.u8("ic_header.reserved");
}

bool span_equal(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// Linux's search: guest versions in order; the first offered entry equal to
// it wins. `offered(j)` yields offered entry j of [begin, end).
template <class Get>
bool find_first_common(std::span<const IcVersion> guest, std::size_t begin, std::size_t end, Get offered,
                       IcVersion& out) {
  for (const IcVersion& g : guest) {
    for (std::size_t j = begin; j < end; ++j) {
      IcVersion v = offered(j);
      if (v == g) {
        out = v;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

const char* to_string(IcMsgType type) {
  switch (type) {
    case IcMsgType::negotiate:
      return "negotiate";
    case IcMsgType::heartbeat:
      return "heartbeat";
    case IcMsgType::kvp_exchange:
      return "kvp_exchange";
    case IcMsgType::shutdown:
      return "shutdown";
    case IcMsgType::timesync:
      return "timesync";
    case IcMsgType::vss:
      return "vss";
    case IcMsgType::fcopy:
      return "fcopy";
  }
  return "unknown";
}

const char* hresult_name(std::uint32_t status) {
  switch (status) {
    case kHvSOk:
      return "HV_S_OK";
    case kHvEFail:
      return "HV_E_FAIL";
    case kHvSCont:
      return "HV_S_CONT";
    case kHvErrorNotSupported:
      return "HV_ERROR_NOT_SUPPORTED";
    case kHvErrorMachineLocked:
      return "HV_ERROR_MACHINE_LOCKED";
    case kHvErrorDeviceNotConnected:
      return "HV_ERROR_DEVICE_NOT_CONNECTED";
    case kHvInvalidArg:
      return "HV_INVALIDARG";
    case kHvGuidNotFound:
      return "HV_GUID_NOTFOUND";
    case kHvErrorAlreadyExists:
      return "HV_ERROR_ALREADY_EXISTS";
    case kHvErrorDiskFull:
      return "HV_ERROR_DISK_FULL";
    default:
      return nullptr;
  }
}

bool is_known(IcMsgType type) {
  switch (type) {
    case IcMsgType::negotiate:
    case IcMsgType::heartbeat:
    case IcMsgType::kvp_exchange:
    case IcMsgType::shutdown:
    case IcMsgType::timesync:
    case IcMsgType::vss:
    case IcMsgType::fcopy:
      return true;
  }
  return false;
}

// --- headers and messages ---------------------------------------------------

Result<IcPipeHeader> decode_ic_pipe_header(ByteSpan in) {
  ByteReader r(in);
  IcPipeHeader h;
  h.flags = r.u32("ic_pipe.flags");
  h.msgsize = r.u32("ic_pipe.msgsize");
  return r.finish(h);
}

Result<IcHeader> decode_ic_header(ByteSpan in) {
  ByteReader r(in);
  IcHeader h;
  read_ic_header(r, h);
  return r.finish(h);
}

void encode(const IcPipeHeader& h, ByteWriter& w) {
  w.u32(h.flags);
  w.u32(h.msgsize);
}

void encode(const IcHeader& h, ByteWriter& w) {
  write_version(h.icverframe, w);
  w.u16(static_cast<std::uint16_t>(h.icmsgtype));
  write_version(h.icvermsg, w);
  w.u16(h.icmsgsize);
  w.u32(h.status);
  w.u8(h.ictransaction_id);
  w.u8(h.icflags);
  w.u8(h.reserved[0]);
  w.u8(h.reserved[1]);
}

bool IcMessage::operator==(const IcMessage& o) const {
  return pipe == o.pipe && header == o.header && span_equal(body, o.body) && span_equal(trailing, o.trailing);
}

Result<IcMessage> decode_ic_message(ByteSpan in) {
  ByteReader r(in);
  IcMessage m;
  m.pipe.flags = r.u32("ic_pipe.flags");
  m.pipe.msgsize = r.u32("ic_pipe.msgsize");
  read_ic_header(r, m.header);
  if (!r.ok()) return *r.error();
  if (m.header.icmsgsize > r.remaining()) {
    return Error{Errc::bad_length, "ic_header.icmsgsize", kOffIcmsgsize};
  }
  m.body = r.bytes(m.header.icmsgsize, "ic.body");
  m.trailing = r.rest();
  return m;
}

void encode(const IcMessage& m, ByteWriter& w) {
  encode(m.pipe, w);
  encode(m.header, w);
  w.bytes(m.body);
  w.bytes(m.trailing);
}

void encode_ic_message(const IcHeader& header, ByteSpan body, ByteWriter& w) {
  if (body.size() > 0xFFFF) body = body.first(0xFFFF);
  IcHeader h = header;
  h.icmsgsize = static_cast<std::uint16_t>(body.size());
  encode(IcPipeHeader{kIcPipeFlagData, static_cast<std::uint32_t>(kIcHeaderSize + body.size())}, w);
  encode(h, w);
  w.bytes(body);
}

Bytes encode_ic_message(const IcHeader& header, ByteSpan body) {
  Bytes out;
  out.reserve(kIcMessageHeaderSize + body.size());
  ByteWriter w(out);
  encode_ic_message(header, body, w);
  return out;
}

IcHeader make_ic_request_header(IcMsgType type, IcVersion framework, IcVersion message,
                                std::uint8_t transaction_id) {
  IcHeader h;
  h.icverframe = framework;
  h.icmsgtype = type;
  h.icvermsg = message;
  h.status = kHvSOk;
  h.ictransaction_id = transaction_id;
  h.icflags = kIcFlagsHostRequest;
  return h;
}

// --- version lists ------------------------------------------------------------

bool IcVersionList::assign(std::span<const IcVersion> versions) {
  if (versions.size() > kIcMaxVersionCount) return false;
  std::copy(versions.begin(), versions.end(), items_.begin());
  std::fill(items_.begin() + static_cast<std::ptrdiff_t>(versions.size()), items_.end(), IcVersion{});
  size_ = versions.size();
  return true;
}

bool IcVersionList::push_back(IcVersion v) {
  if (size_ >= kIcMaxVersionCount) return false;
  items_[size_++] = v;
  return true;
}

bool IcVersionList::contains(IcVersion v) const {
  auto items = view();
  return std::ranges::find(items, v) != items.end();
}

bool IcVersionList::operator==(const IcVersionList& o) const { return std::ranges::equal(view(), o.view()); }

// --- negotiate ------------------------------------------------------------------

Result<IcNegotiate> decode_ic_negotiate(ByteSpan body) {
  ByteReader r(body);
  const std::uint16_t frame_count = r.u16("negotiate.icframe_vercnt");
  const std::uint16_t msg_count = r.u16("negotiate.icmsg_vercnt");
  IcNegotiate n;
  n.reserved = r.u32("negotiate.reserved");
  if (!r.ok()) return *r.error();
  if (frame_count > kIcMaxVersionCount) return Error{Errc::bad_length, "negotiate.icframe_vercnt", 0};
  if (msg_count > kIcMaxVersionCount) return Error{Errc::bad_length, "negotiate.icmsg_vercnt", 2};
  const std::size_t need = (std::size_t{frame_count} + msg_count) * kIcVersionSize;
  if (need > r.remaining()) return Error{Errc::truncated, "negotiate.versions", body.size()};
  for (std::size_t i = 0; i < frame_count; ++i)
    (void)n.framework.push_back(read_version(r, "negotiate.versions"));
  for (std::size_t i = 0; i < msg_count; ++i)
    (void)n.message.push_back(read_version(r, "negotiate.versions"));
  r.expect_end("negotiate.versions");
  return r.finish(n);
}

void encode(const IcNegotiate& n, ByteWriter& w) {
  w.u16(static_cast<std::uint16_t>(n.framework.size()));
  w.u16(static_cast<std::uint16_t>(n.message.size()));
  w.u32(n.reserved);
  for (const IcVersion& v : n.framework) write_version(v, w);
  for (const IcVersion& v : n.message) write_version(v, w);
}

Result<Bytes> host_negotiate_offer(std::span<const IcVersion> framework, std::span<const IcVersion> message) {
  IcNegotiate n;
  if (!n.framework.assign(framework)) return Error{Errc::bad_length, "negotiate.icframe_vercnt", 0};
  if (!n.message.assign(message)) return Error{Errc::bad_length, "negotiate.icmsg_vercnt", 0};
  Bytes body;
  ByteWriter bw(body);
  encode(n, bw);
  IcHeader h = make_ic_request_header(IcMsgType::negotiate, framework.empty() ? IcVersion{} : framework[0],
                                      message.empty() ? IcVersion{} : message[0]);
  return encode_ic_message(h, body);
}

IcVersionChoice select_versions(const IcNegotiate& offer, std::span<const IcVersion> guest_framework,
                                std::span<const IcVersion> guest_service) {
  IcVersionChoice c;
  c.framework = {static_cast<std::uint16_t>(offer.framework.size()), 0};
  c.message = {static_cast<std::uint16_t>(offer.message.size()), 0};
  if (!find_first_common(
          guest_framework, 0, offer.framework.size(), [&](std::size_t j) { return offer.framework[j]; },
          c.framework)) {
    return c;
  }
  c.found = find_first_common(
      guest_service, 0, offer.message.size(), [&](std::size_t j) { return offer.message[j]; }, c.message);
  return c;
}

LinuxNegotiation linux_negotiate_in_place(std::span<std::byte> packet,
                                          std::span<const IcVersion> guest_framework,
                                          std::span<const IcVersion> guest_service) {
  LinuxNegotiation out;
  if (packet.size() < kIcMessageHeaderSize) return out;  // dropped
  out.answered = true;
  if (packet.size() >= kIcNegotiateMinPacketSize) {
    out.selection_ran = true;
    store_u16_if_inside(packet, kOffIcmsgsize, kIcNegotiateResponseBodySize);
    const std::uint16_t frame_count = load_u16(packet, kOffFrameCount);
    const std::uint16_t msg_count = load_u16(packet, kOffMsgCount);
    IcVersionChoice& c = out.choice;
    c.framework = {frame_count, 0};
    c.message = {msg_count, 0};
    const std::size_t need = kOffVersions + (std::size_t{frame_count} + msg_count) * kIcVersionSize;
    if (frame_count <= kIcMaxVersionCount && msg_count <= kIcMaxVersionCount && need <= packet.size()) {
      auto offered = [&](std::size_t j) {
        const std::size_t at = kOffVersions + j * kIcVersionSize;
        return IcVersion{load_u16(packet, at), load_u16(packet, at + 2)};
      };
      if (find_first_common(guest_framework, 0, frame_count, offered, c.framework)) {
        c.found = find_first_common(guest_service, frame_count, std::size_t{frame_count} + msg_count, offered,
                                    c.message);
      }
    }
    const std::uint16_t count = c.found ? 1 : 0;
    store_u16_if_inside(packet, kOffFrameCount, count);
    store_u16_if_inside(packet, kOffMsgCount, count);
    store_u16_if_inside(packet, kOffVersions, c.framework.major);
    store_u16_if_inside(packet, kOffVersions + 2, c.framework.minor);
    store_u16_if_inside(packet, kOffVersions + 4, c.message.major);
    store_u16_if_inside(packet, kOffVersions + 6, c.message.minor);
  }
  packet[kOffIcflags] = std::byte{kIcFlagsGuestResponse};
  return out;
}

std::optional<IcNegotiateReply> linux_negotiate_reply(ByteSpan request,
                                                      std::span<const IcVersion> guest_framework,
                                                      std::span<const IcVersion> guest_service) {
  IcNegotiateReply reply;
  reply.packet.assign(request.begin(), request.end());
  reply.negotiation = linux_negotiate_in_place(reply.packet, guest_framework, guest_service);
  if (!reply.negotiation.answered) return std::nullopt;
  return reply;
}

Result<IcNegotiateResponse> decode_ic_negotiate_response(ByteSpan body) {
  ByteReader r(body);
  IcNegotiateResponse n;
  n.icframe_vercnt = r.u16("negotiate_response.icframe_vercnt");
  n.icmsg_vercnt = r.u16("negotiate_response.icmsg_vercnt");
  n.reserved = r.u32("negotiate_response.reserved");
  n.framework = read_version(r, "negotiate_response.framework");
  n.message = read_version(r, "negotiate_response.message");
  r.expect_end("negotiate_response.message");
  if (!r.ok()) return *r.error();
  if (n.icframe_vercnt > 1) return Error{Errc::bad_value, "negotiate_response.icframe_vercnt", 0};
  if (n.icmsg_vercnt != n.icframe_vercnt) return Error{Errc::bad_value, "negotiate_response.icmsg_vercnt", 2};
  return n;
}

void encode(const IcNegotiateResponse& n, ByteWriter& w) {
  w.u16(n.icframe_vercnt);
  w.u16(n.icmsg_vercnt);
  w.u32(n.reserved);
  write_version(n.framework, w);
  write_version(n.message, w);
}

IcNegotiateResponse make_negotiate_response(const IcVersionChoice& choice) {
  IcNegotiateResponse n;
  n.icframe_vercnt = choice.found ? 1 : 0;
  n.icmsg_vercnt = n.icframe_vercnt;
  n.framework = choice.framework;
  n.message = choice.message;
  return n;
}

LinuxIcAnswer linux_ic_answer_in_place(LinuxIcService service, std::span<std::byte> packet,
                                       LinuxIcGuestState& state) {
  constexpr std::size_t kOffType = kIcPipeHeaderSize + 4;
  constexpr std::size_t kOffStatus = kIcPipeHeaderSize + 12;
  constexpr std::size_t kOffBody = kIcMessageHeaderSize;
  LinuxIcAnswer a;
  if (packet.size() < kIcMessageHeaderSize) return a;
  const auto type = static_cast<IcMsgType>(load_u16(packet, kOffType));
  if (type == IcMsgType::negotiate) {
    std::span<const IcVersion> srv = kLinuxHeartbeatVersions;
    if (service == LinuxIcService::shutdown) srv = kLinuxShutdownVersions;
    if (service == LinuxIcService::timesync) srv = kLinuxTimesyncVersions;
    const LinuxNegotiation n = linux_negotiate_in_place(packet, kLinuxUtilFrameworkVersions, srv);
    if (n.selection_ran) state.service_version = n.choice.message;
    a.answered = true;
    a.effect = LinuxIcEffect::negotiated;
    return a;
  }
  const IcMsgType own = service == LinuxIcService::heartbeat  ? IcMsgType::heartbeat
                        : service == LinuxIcService::shutdown ? IcMsgType::shutdown
                                                              : IcMsgType::timesync;
  if (type != own) {
    store_u32(packet, kOffStatus, kHvEFail);
    a.effect = LinuxIcEffect::rejected;
  } else if (service == LinuxIcService::heartbeat) {
    if (packet.size() < kOffBody + kHeartbeatMinSize) return a;
    store_u64(packet, kOffBody, load_u64(packet, kOffBody) + 1);
    a.effect = LinuxIcEffect::heartbeat;
  } else if (service == LinuxIcService::shutdown) {
    if (packet.size() < kOffBody + kShutdownMsgSize) return a;
    const std::uint32_t flags = load_u32(packet, kOffBody + 8);
    const std::uint32_t status = linux_shutdown_status(flags, state.hibernation_supported);
    store_u32(packet, kOffStatus, status);
    const std::optional<ShutdownAction> action = shutdown_action(flags);
    if (status != kHvSOk || !action) {
      a.effect = LinuxIcEffect::rejected;
    } else {
      a.effect = *action == ShutdownAction::shutdown ? LinuxIcEffect::shutdown
                 : *action == ShutdownAction::reboot ? LinuxIcEffect::reboot
                                                     : LinuxIcEffect::hibernate;
    }
  } else {
    const bool ref = timesync_uses_ref_data(state.service_version);
    const std::size_t need = ref ? kTimesyncRefDataSize : kTimesyncDataSize;
    if (packet.size() < kOffBody + need) return a;
    const std::uint8_t flags = std::to_integer<std::uint8_t>(packet[kOffBody + (ref ? 16 : 24)]);
    a.effect = timesync_sets_clock(flags) ? LinuxIcEffect::time_set : LinuxIcEffect::time_sample;
  }
  packet[kOffIcflags] = std::byte{kIcFlagsGuestResponse};
  a.answered = true;
  return a;
}

}  // namespace vmbh::proto
