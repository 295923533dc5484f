#include "vmbh/protocols/describe_ic.h"

#include <array>
#include <cstdio>
#include <utility>
#include <variant>

#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/kvp.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"
#include "vmbh/protocols/vss.h"

namespace vmbh::proto {
namespace {

// Where icmsgtype sits in an IC message (pipe header, then icverframe).
constexpr std::size_t kOffIcmsgtype = kIcPipeHeaderSize + 4;
// The layout to read a timesync body in when no negotiate answer was seen:
// the newest, which is what Linux negotiates with every current host.
constexpr IcVersion kNewestTimesyncVersion{4, 0};

struct Bit {
  std::uint64_t mask;
  const char* name;
};

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

// "transaction|request"; bits without a name as hex; "0" for none.
template <std::size_t N>
std::string bit_names(std::uint64_t v, const std::array<Bit, N>& bits) {
  std::string out;
  for (const Bit& b : bits) {
    if ((v & b.mask) == 0) continue;
    out += (out.empty() ? "" : "|") + std::string(b.name);
    v &= ~b.mask;
  }
  if (v != 0) out += (out.empty() ? "" : "|") + hex(v);
  return out.empty() ? "0" : out;
}

std::string version_str(IcVersion v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

std::string version_list(const IcVersionList& l) {
  std::string out = "[";
  for (std::size_t i = 0; i < l.size(); ++i) out += (i == 0 ? "" : ",") + version_str(l[i]);
  return out + "]";
}

std::string status_str(std::uint32_t status) {
  if (const char* name = hresult_name(status)) return name;
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", status);
  return buf;
}

Error rebased(Error e, std::size_t base) {
  e.offset += base;
  return e;
}

std::string header_str(const IcHeader& h) {
  static constexpr std::array<Bit, 3> kIcFlags{
      {{kIcFlagTransaction, "transaction"}, {kIcFlagRequest, "request"}, {kIcFlagResponse, "response"}}};
  std::string out = is_known(h.icmsgtype) ? to_string(h.icmsgtype)
                                          : "icmsgtype=" + std::to_string(static_cast<unsigned>(h.icmsgtype));
  out += " framework=" + version_str(h.icverframe) + " version=" + version_str(h.icvermsg);
  out += " status=" + status_str(h.status) + " icflags=" + bit_names(h.icflags, kIcFlags);
  if (h.ictransaction_id != 0) out += " ictransaction_id=" + std::to_string(h.ictransaction_id);
  return out;
}

// ---- bodies: " key=value" text, or the decoder's error (offsets from the body) ----

Result<std::string> negotiate_body(const IcHeader& h, ByteSpan body, IcVersions& versions) {
  if ((h.icflags & kIcFlagResponse) != 0) {
    auto r = decode_ic_negotiate_response(body);
    if (!r) return r.error();
    versions.framework = r->framework;
    versions.message = r->message;
    if (r->accepted()) {
      return " chosen_framework=" + version_str(r->framework) + " chosen_version=" + version_str(r->message);
    }
    // Not versions but what Linux leaves in the slots (and stores anyway).
    return " chosen=none framework_slot=" + version_str(r->framework) +
           " version_slot=" + version_str(r->message);
  }
  auto n = decode_ic_negotiate(body);
  if (!n) return n.error();
  return " offered_framework=" + version_list(n->framework) + " offered_version=" + version_list(n->message);
}

Result<std::string> heartbeat_body(ByteSpan body) {
  auto m = decode_heartbeat(body);
  if (!m) return m.error();
  return " seq_num=" + std::to_string(m->seq_num);
}

// `body_base`: where the body starts in the packet, for the offset of a bad text.
Result<std::string> shutdown_body(ByteSpan body, std::size_t body_base) {
  auto m = decode_shutdown(body);
  if (!m) return m.error();
  std::string out = " shutdown_flags=" + hex(m->flags);
  if (auto action = shutdown_action(m->flags)) {
    out += *action == ShutdownAction::shutdown ? "(shutdown"
           : *action == ShutdownAction::reboot ? "(reboot"
                                               : "(hibernate";
    out += shutdown_forced(m->flags) ? "|force)" : ")";
  } else {
    out += "(invalid)";
  }
  out += " reason_code=" + hex(m->reason_code) + " timeout_seconds=" + std::to_string(m->timeout_seconds);
  // The text is not part of the layout (Linux never reads it), so a bad one
  // is shown in place rather than failing the message.
  auto text = m->display_message_utf8();
  if (!text) {
    constexpr std::size_t kDisplayMessageOffset = 12;
    out += " message=(" + rebased(text.error(), body_base + kDisplayMessageOffset).message() + ")";
  } else if (!text->empty()) {
    out += " message=" + quoted(*text);
  }
  return out;
}

std::string timesync_flags(std::uint8_t flags) {
  static constexpr std::array<Bit, 2> kBits{{{kTimesyncFlagSync, "SYNC"}, {kTimesyncFlagSample, "SAMPLE"}}};
  return flags == kTimesyncFlagProbe ? "PROBE" : bit_names(flags, kBits);
}

Result<std::string> timesync_body(ByteSpan body, const IcVersions& versions) {
  auto m = decode_timesync(body, versions.message.value_or(kNewestTimesyncVersion));
  if (!m) return m.error();
  if (const auto* ref = std::get_if<TimesyncRefData>(&*m)) {
    return " parenttime=" + hv_time_string(ref->parenttime) + " flags=" + timesync_flags(ref->flags) +
           " vmreferencetime=" + std::to_string(ref->vmreferencetime) +
           " leapflags=" + std::to_string(ref->leapflags) + " stratum=" + std::to_string(ref->stratum);
  }
  const auto& d = std::get<TimesyncData>(*m);
  return " parenttime=" + hv_time_string(d.parenttime) + " flags=" + timesync_flags(d.flags) +
         " childtime=" + std::to_string(d.childtime) + " roundtriptime=" + std::to_string(d.roundtriptime);
}

std::string kvp_value(const char* name, const KvpValue& v) {
  switch (v.type) {
    case KvpValueType::none:
      return "";
    case KvpValueType::sz:
      return std::string(" ") + name + "=" + quoted(v.text);
    case KvpValueType::u32:
      return std::string(" ") + name + "=" + std::to_string(v.number) + " value_type=REG_U32";
    case KvpValueType::u64:
      return std::string(" ") + name + "=" + std::to_string(v.number) + " value_type=REG_U64";
  }
  return "";
}

std::string kvp_pool(KvpPool pool) { return std::string(" pool=") + to_string(pool); }

Result<std::string> kvp_body(ByteSpan body) {
  auto m = decode_kvp(body);
  if (!m) return m.error();
  std::string out = std::string(" op=") + to_string(kvp_operation(*m));
  if (const auto* g = std::get_if<KvpGet>(&*m)) {
    out += kvp_pool(g->pool) + " key=" + quoted(g->key) + kvp_value("value", g->value);
  } else if (const auto* s = std::get_if<KvpSet>(&*m)) {
    out += kvp_pool(s->pool) + " key=" + quoted(s->key) + kvp_value("value", s->value);
  } else if (const auto* d = std::get_if<KvpDelete>(&*m)) {
    out += kvp_pool(d->pool) + " key=" + quoted(d->key);
  } else if (const auto* e = std::get_if<KvpEnumerate>(&*m)) {
    out += kvp_pool(e->pool) + " index=" + std::to_string(e->index);
    if (e->entry) out += " key=" + quoted(e->entry->key) + kvp_value("value", e->entry->value);
  } else {
    static constexpr std::array<Bit, 2> kFamilies{
        {{kKvpAddrFamilyIpv4, "ipv4"}, {kKvpAddrFamilyIpv6, "ipv6"}}};
    const KvpIpAddress& ip = std::get<KvpIpInfo>(*m).ip;
    out += " adapter_id=" + quoted(ip.adapter_id) + " addr_family=" + bit_names(ip.addr_family, kFamilies) +
           " dhcp_enabled=" + std::to_string(ip.dhcp_enabled);
    // Requests leave the address strings empty; only answers and SET_IP_INFO fill them.
    for (const auto& [name, text] : {std::pair<const char*, const std::string&>{"ip_addr", ip.ip_addr},
                                     {"sub_net", ip.sub_net},
                                     {"gate_way", ip.gate_way},
                                     {"dns_addr", ip.dns_addr}}) {
      if (!text.empty()) out += std::string(" ") + name + "=" + quoted(text);
    }
  }
  return out;
}

Result<std::string> vss_body(ByteSpan body) {
  auto m = decode_vss(body);
  if (!m) return m.error();
  std::string out = " op=" + std::string(to_string(m->op)) + " flags=" + hex(m->flags);
  if (!m->extra.empty()) out += " extra_bytes=" + std::to_string(m->extra.size());
  return out;
}

Result<std::string> fcopy_body(ByteSpan body) {
  auto m = decode_fcopy(body);
  if (!m) return m.error();
  std::string out = " op=" + std::string(to_string(op_of(*m)));
  if (const auto* s = std::get_if<FcopyStart>(&*m)) {
    static constexpr std::array<Bit, 2> kFlags{
        {{kFcopyOverWrite, "OVER_WRITE"}, {kFcopyCreatePath, "CREATE_PATH"}}};
    out += " file=" + quoted(s->file_name) + " path=" + quoted(s->path_name) +
           " copy_flags=" + bit_names(s->copy_flags, kFlags) + " file_size=" + std::to_string(s->file_size);
  } else if (const auto* w = std::get_if<FcopyWrite>(&*m)) {
    out += " offset=" + std::to_string(w->offset) + " size=" + std::to_string(w->data.size());
  }
  return out;
}

Result<std::string> service_body(IcMsgType service, ByteSpan body, std::size_t body_base,
                                 const IcVersions& versions) {
  switch (service) {
    case IcMsgType::heartbeat:
      return heartbeat_body(body);
    case IcMsgType::shutdown:
      return shutdown_body(body, body_base);
    case IcMsgType::timesync:
      return timesync_body(body, versions);
    case IcMsgType::kvp_exchange:
      return kvp_body(body);
    case IcMsgType::vss:
      return vss_body(body);
    case IcMsgType::fcopy:
      return fcopy_body(body);
    case IcMsgType::negotiate:  // every channel's, described by negotiate_body
      break;
  }
  return Error{Errc::unknown_type, "ic_header.icmsgtype", 0};
}

std::string summary_of(const PacketDescriptor& d, std::size_t size) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "packet type %u trans_id %#llx, %zu bytes", static_cast<unsigned>(d.type),
                static_cast<unsigned long long>(d.trans_id), size);
  return buf;
}

// Days since 1970-01-01 -> proleptic Gregorian date (H. Hinnant's civil_from_days).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

}  // namespace

std::optional<IcMsgType> ic_service_of_device(std::string_view device) {
  static constexpr std::array<std::pair<std::string_view, IcMsgType>, 6> kDevices{{
      {"heartbeat", IcMsgType::heartbeat},
      {"shutdown", IcMsgType::shutdown},
      {"timesync", IcMsgType::timesync},
      {"kvp", IcMsgType::kvp_exchange},
      {"vss", IcMsgType::vss},
      {"fcopy", IcMsgType::fcopy},
  }};
  for (const auto& [name, type] : kDevices) {
    if (name == device) return type;
  }
  return std::nullopt;
}

std::string describe_packet_summary(ByteSpan packet) {
  auto p = decode_packet(packet);
  if (!p) return "undecodable packet (" + p.error().message() + ")";
  return summary_of(p->desc, packet.size());
}

std::string describe_ic_packet(std::string_view device, ByteSpan packet, IcVersions& versions) {
  auto p = decode_packet(packet);
  if (!p) return "undecodable packet (" + p.error().message() + ")";
  const std::string summary = summary_of(p->desc, packet.size());
  const auto service = ic_service_of_device(device);
  if (!service) return summary + " (no IC decoder for device \"" + std::string(device) + "\")";
  auto failed = [&](const Error& e) { return summary + " (" + e.message() + ")"; };
  if (p->desc.type != static_cast<std::uint16_t>(PacketType::data_inband)) {
    return failed(Error{Errc::unknown_type, "packet.type", 0});
  }
  const std::size_t base = p->desc.payload_offset();
  auto m = decode_ic_message(p->payload);
  if (!m) return failed(rebased(m.error(), base));

  // Offsets in body errors count from the body; the reader wants them from the packet.
  const std::size_t body_base = base + kIcMessageHeaderSize;
  Result<std::string> body = Error{Errc::unknown_type, "ic_header.icmsgtype", base + kOffIcmsgtype};
  if (m->header.icmsgtype == IcMsgType::negotiate) {
    body = negotiate_body(m->header, m->body, versions);
    if (!body) body = rebased(body.error(), body_base);
  } else if (m->header.icmsgtype == *service) {
    body = service_body(*service, m->body, body_base, versions);
    if (!body) body = rebased(body.error(), body_base);
  }
  const std::string head = header_str(m->header);
  if (!body) return summary + ": " + head + " (" + body.error().message() + ")";
  char id[40];
  std::snprintf(id, sizeof id, "trans_id %#llx: ", static_cast<unsigned long long>(p->desc.trans_id));
  return id + head + *body;
}

std::string hv_time_string(std::uint64_t hv_time) {
  // Days since 1601-01-01 fit easily in int64 (u64 max is about 21 million days).
  constexpr std::int64_t kDays1601To1970 = 134774;
  constexpr std::uint64_t kSecondsPerDay = 86400;
  const std::uint64_t seconds = hv_time / kHvTicksPerSecond;
  const std::uint64_t ticks = hv_time % kHvTicksPerSecond;
  const std::uint64_t second_of_day = seconds % kSecondsPerDay;
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(static_cast<std::int64_t>(seconds / kSecondsPerDay) - kDays1601To1970, year, month, day);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%07lluZ", static_cast<long long>(year),
                month, day, static_cast<unsigned>(second_of_day / 3600),
                static_cast<unsigned>(second_of_day / 60 % 60), static_cast<unsigned>(second_of_day % 60),
                static_cast<unsigned long long>(ticks));
  return buf;
}

std::string quoted(std::string_view utf8, std::size_t max_chars) {
  auto starts_char = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; };
  std::size_t chars = 0;
  for (char c : utf8) chars += starts_char(c) ? 1 : 0;
  std::string out = "\"";
  std::size_t seen = 0;
  for (char c : utf8) {
    if (starts_char(c) && ++seen > max_chars) break;
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  out += '"';
  if (chars > max_chars) out += "...(" + std::to_string(chars) + " chars)";
  return out;
}

}  // namespace vmbh::proto
