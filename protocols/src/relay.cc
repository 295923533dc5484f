#include "vmbh/protocols/relay.h"

#include <algorithm>
#include <iterator>
#include <type_traits>

namespace vmbh::proto {

namespace {

// Fixed body sizes (bytes after the header): HELLO 16 (magic, version, vcpus,
// region_count), MESSAGE 16 (vp, connection_id/sint, message_type,
// payload_size); each region of HELLO:
constexpr std::size_t kRegionSize = 24;

void check_connection_id(ByteReader& r, std::uint32_t id, const char* field, std::size_t at) {
  if ((id & ~kRelayConnectionIdMask) != 0) r.fail_at(Errc::bad_value, field, at);
}

void check_sint(ByteReader& r, std::uint32_t sint, const char* field, std::size_t at) {
  if (sint >= kRelaySintCount) r.fail_at(Errc::bad_value, field, at);
}

// Reads payload_size and the payload; the payload must be the rest of the body.
Bytes read_payload(ByteReader& r, const char* size_field, const char* payload_field) {
  const std::size_t at = r.offset();
  const std::uint32_t size = r.u32(size_field);
  if (r.ok() && size > kRelayMaxPayload) r.fail_at(Errc::bad_length, size_field, at);
  if (r.ok() && size != r.remaining()) r.fail_at(Errc::bad_length, size_field, at);
  const ByteSpan p = r.bytes(size, payload_field);
  return Bytes(p.begin(), p.end());
}

std::optional<RelayType> request_type(std::uint32_t raw, bool registration) {
  const auto t = static_cast<RelayType>(raw);
  if (registration) {
    if (t == RelayType::add_message_connection || t == RelayType::add_event_connection ||
        t == RelayType::remove_event_connection) {
      return t;
    }
  } else if (t == RelayType::post_message || t == RelayType::signal_event) {
    return t;
  }
  return std::nullopt;
}

RelayHello decode_hello(ByteReader& r) {
  RelayHello h;
  const std::size_t magic_at = r.offset();
  const std::uint32_t magic = r.u32("relay.hello.magic");
  if (r.ok() && magic != kRelayMagic) r.fail_at(Errc::bad_value, "relay.hello.magic", magic_at);
  const std::size_t version_at = r.offset();
  h.version = r.u32("relay.hello.version");
  if (r.ok() && (h.version < kRelayMinVersion || h.version > kRelayVersion)) {
    r.fail_at(Errc::bad_version, "relay.hello.version", version_at);
  }
  const std::size_t vcpus_at = r.offset();
  h.vcpus = r.u32("relay.hello.vcpus");
  if (r.ok() && (h.vcpus == 0 || h.vcpus > kRelayMaxVcpus)) {
    r.fail_at(Errc::bad_value, "relay.hello.vcpus", vcpus_at);
  }
  const std::size_t count_at = r.offset();
  const std::uint32_t count = r.u32("relay.hello.region_count");
  if (r.ok() &&
      (count == 0 || count > kRelayMaxRegions || std::size_t{count} * kRegionSize != r.remaining())) {
    r.fail_at(Errc::bad_length, "relay.hello.region_count", count_at);
  }
  if (!r.ok()) return h;
  std::uint64_t next_gpa = 0;  // regions ascend without overlap
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    const std::size_t at = r.offset();
    RelayRamRegion g;
    g.gpa = r.u64("relay.hello.region.gpa");
    g.size = r.u64("relay.hello.region.size");
    g.file_offset = r.u64("relay.hello.region.file_offset");
    if (!r.ok()) break;
    if (g.gpa % kRelayPageSize != 0 || g.gpa < next_gpa) {
      r.fail_at(Errc::bad_value, "relay.hello.region.gpa", at);
    } else if (g.size == 0 || g.size % kRelayPageSize != 0 || g.size > ~g.gpa) {
      r.fail_at(Errc::bad_value, "relay.hello.region.size", at + 8);
    } else if (g.file_offset % kRelayPageSize != 0 || g.size > ~g.file_offset) {
      r.fail_at(Errc::bad_value, "relay.hello.region.file_offset", at + 16);
    }
    next_gpa = g.gpa + g.size;
    h.regions.push_back(g);
  }
  return h;
}

Result<RelayFrame> decode_body(RelayType type, ByteReader& r) {
  RelayFrame f;
  switch (type) {
    case RelayType::hello:
      f = decode_hello(r);
      break;
    case RelayType::guest_message: {
      RelayGuestMessage m;
      m.vp = r.u32("relay.guest_message.vp");
      const std::size_t at = r.offset();
      m.connection_id = r.u32("relay.guest_message.connection_id");
      check_connection_id(r, m.connection_id, "relay.guest_message.connection_id", at);
      m.message_type = r.u32("relay.guest_message.message_type");
      m.payload = read_payload(r, "relay.guest_message.payload_size", "relay.guest_message.payload");
      f = std::move(m);
      break;
    }
    case RelayType::guest_signal: {
      RelayGuestSignal s;
      s.vp = r.u32("relay.guest_signal.vp");
      const std::size_t at = r.offset();
      s.connection_id = r.u32("relay.guest_signal.connection_id");
      check_connection_id(r, s.connection_id, "relay.guest_signal.connection_id", at);
      f = s;
      break;
    }
    case RelayType::guest_reset:
      f = RelayGuestReset{};
      break;
    case RelayType::result: {
      RelayResult res;
      const std::size_t at = r.offset();
      const auto req = request_type(r.u32("relay.result.request"), true);
      if (r.ok() && !req) r.fail_at(Errc::bad_value, "relay.result.request", at);
      if (req) res.request = *req;
      const std::size_t id_at = r.offset();
      res.connection_id = r.u32("relay.result.connection_id");
      check_connection_id(r, res.connection_id, "relay.result.connection_id", id_at);
      const std::size_t err_at = r.offset();
      res.error = static_cast<std::int32_t>(r.u32("relay.result.error"));
      if (r.ok() && res.error > 0) r.fail_at(Errc::bad_value, "relay.result.error", err_at);
      f = res;
      break;
    }
    case RelayType::error: {
      RelayError e;
      const std::size_t at = r.offset();
      const auto req = request_type(r.u32("relay.error.request"), false);
      if (r.ok() && !req) r.fail_at(Errc::bad_value, "relay.error.request", at);
      if (req) e.request = *req;
      e.vp = r.u32("relay.error.vp");
      const std::size_t sint_at = r.offset();
      e.sint = r.u32("relay.error.sint");
      check_sint(r, e.sint, "relay.error.sint", sint_at);
      const std::size_t err_at = r.offset();
      e.error = static_cast<std::int32_t>(r.u32("relay.error.error"));
      if (r.ok() && e.error >= 0) r.fail_at(Errc::bad_value, "relay.error.error", err_at);
      f = e;
      break;
    }
    case RelayType::ref_time_answer: {
      RelayRefTimeAnswer a;
      a.cookie = r.u32("relay.ref_time_answer.cookie");
      const std::size_t err_at = r.offset();
      a.error = static_cast<std::int32_t>(r.u32("relay.ref_time_answer.error"));
      if (r.ok() && a.error > 0) r.fail_at(Errc::bad_value, "relay.ref_time_answer.error", err_at);
      const std::size_t time_at = r.offset();
      a.reference_time = r.u64("relay.ref_time_answer.reference_time");
      // No time comes with an error.
      if (r.ok() && a.error != 0 && a.reference_time != 0) {
        r.fail_at(Errc::bad_value, "relay.ref_time_answer.reference_time", time_at);
      }
      f = a;
      break;
    }
    case RelayType::add_message_connection:
    case RelayType::add_event_connection:
    case RelayType::remove_event_connection: {
      const char* field =
          type == RelayType::add_message_connection ? "relay.add_message_connection.connection_id"
          : type == RelayType::add_event_connection ? "relay.add_event_connection.connection_id"
                                                    : "relay.remove_event_connection.connection_id";
      const std::size_t at = r.offset();
      const std::uint32_t id = r.u32(field);
      check_connection_id(r, id, field, at);
      if (type == RelayType::add_message_connection) {
        f = RelayAddMessageConnection{id};
      } else if (type == RelayType::add_event_connection) {
        f = RelayAddEventConnection{id};
      } else {
        f = RelayRemoveEventConnection{id};
      }
      break;
    }
    case RelayType::post_message: {
      RelayPostMessage m;
      m.vp = r.u32("relay.post_message.vp");
      const std::size_t at = r.offset();
      m.sint = r.u32("relay.post_message.sint");
      check_sint(r, m.sint, "relay.post_message.sint", at);
      m.message_type = r.u32("relay.post_message.message_type");
      m.payload = read_payload(r, "relay.post_message.payload_size", "relay.post_message.payload");
      f = std::move(m);
      break;
    }
    case RelayType::signal_event: {
      RelaySignalEvent s;
      s.vp = r.u32("relay.signal_event.vp");
      const std::size_t at = r.offset();
      s.sint = r.u32("relay.signal_event.sint");
      check_sint(r, s.sint, "relay.signal_event.sint", at);
      const std::size_t flag_at = r.offset();
      s.flag = r.u32("relay.signal_event.flag");
      if (r.ok() && s.flag >= kRelayEventFlagCount)
        r.fail_at(Errc::bad_value, "relay.signal_event.flag", flag_at);
      f = s;
      break;
    }
    case RelayType::ref_time:
      f = RelayRefTime{r.u32("relay.ref_time.cookie")};
      break;
  }
  r.expect_end("relay.length");
  if (!r.ok()) return *r.error();
  return f;
}

}  // namespace

bool is_known(RelayType t) { return to_string(t) != "UNKNOWN"; }

bool is_qemu_to_host(RelayType t) {
  return is_known(t) &&
         static_cast<std::uint32_t>(t) < static_cast<std::uint32_t>(RelayType::add_message_connection);
}

std::string_view to_string(RelayType t) {
  switch (t) {
    case RelayType::hello:
      return "hello";
    case RelayType::guest_message:
      return "guest_message";
    case RelayType::guest_signal:
      return "guest_signal";
    case RelayType::guest_reset:
      return "guest_reset";
    case RelayType::result:
      return "result";
    case RelayType::error:
      return "error";
    case RelayType::ref_time_answer:
      return "ref_time_answer";
    case RelayType::add_message_connection:
      return "add_message_connection";
    case RelayType::add_event_connection:
      return "add_event_connection";
    case RelayType::remove_event_connection:
      return "remove_event_connection";
    case RelayType::post_message:
      return "post_message";
    case RelayType::signal_event:
      return "signal_event";
    case RelayType::ref_time:
      return "ref_time";
  }
  return "UNKNOWN";
}

RelayType type_of(const RelayFrame& f) {
  // In RelayFrame's alternative order.
  static constexpr RelayType kTypes[] = {
      RelayType::hello,
      RelayType::guest_message,
      RelayType::guest_signal,
      RelayType::guest_reset,
      RelayType::result,
      RelayType::error,
      RelayType::ref_time_answer,
      RelayType::add_message_connection,
      RelayType::add_event_connection,
      RelayType::remove_event_connection,
      RelayType::post_message,
      RelayType::signal_event,
      RelayType::ref_time,
  };
  static_assert(std::size(kTypes) == std::variant_size_v<RelayFrame>);
  return kTypes[f.index()];
}

Result<RelayHeader> decode_relay_header(ByteSpan header) {
  ByteReader r(header.first(std::min(header.size(), kRelayHeaderSize)));
  const std::uint32_t type = r.u32("relay.type");
  const std::uint32_t length = r.u32("relay.length");
  if (!r.ok()) return *r.error();
  if (!is_known(static_cast<RelayType>(type))) return Error{Errc::unknown_type, "relay.type", 0};
  if (length > kRelayMaxFrameSize - kRelayHeaderSize) return Error{Errc::bad_length, "relay.length", 4};
  return RelayHeader{static_cast<RelayType>(type), length};
}

Result<RelayFrame> decode_relay_frame(ByteSpan frame) {
  auto h = decode_relay_header(frame);
  if (!h.ok()) return h.error();
  if (frame.size() - kRelayHeaderSize != h->length) {
    return Error{frame.size() - kRelayHeaderSize < h->length ? Errc::truncated : Errc::trailing_data,
                 "relay.length", 4};
  }
  ByteReader r(frame.subspan(kRelayHeaderSize));
  auto f = decode_body(h->type, r);
  if (!f.ok()) {
    Error e = f.error();
    e.offset += kRelayHeaderSize;
    return e;
  }
  return f;
}

void encode(const RelayFrame& f, ByteWriter& w) {
  const std::size_t start = w.size();
  w.u32(static_cast<std::uint32_t>(type_of(f)));
  w.u32(0);  // patched below
  std::visit(
      [&w](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, RelayHello>) {
          w.u32(kRelayMagic);
          w.u32(m.version);
          w.u32(m.vcpus);
          w.u32(static_cast<std::uint32_t>(m.regions.size()));
          for (const auto& g : m.regions) {
            w.u64(g.gpa);
            w.u64(g.size);
            w.u64(g.file_offset);
          }
        } else if constexpr (std::is_same_v<T, RelayGuestMessage>) {
          w.u32(m.vp);
          w.u32(m.connection_id);
          w.u32(m.message_type);
          w.u32(static_cast<std::uint32_t>(m.payload.size()));
          w.bytes(m.payload);
        } else if constexpr (std::is_same_v<T, RelayGuestSignal>) {
          w.u32(m.vp);
          w.u32(m.connection_id);
        } else if constexpr (std::is_same_v<T, RelayGuestReset>) {
          // no body
        } else if constexpr (std::is_same_v<T, RelayResult>) {
          w.u32(static_cast<std::uint32_t>(m.request));
          w.u32(m.connection_id);
          w.u32(static_cast<std::uint32_t>(m.error));
        } else if constexpr (std::is_same_v<T, RelayError>) {
          w.u32(static_cast<std::uint32_t>(m.request));
          w.u32(m.vp);
          w.u32(m.sint);
          w.u32(static_cast<std::uint32_t>(m.error));
        } else if constexpr (std::is_same_v<T, RelayRefTimeAnswer>) {
          w.u32(m.cookie);
          w.u32(static_cast<std::uint32_t>(m.error));
          w.u64(m.reference_time);
        } else if constexpr (std::is_same_v<T, RelayAddMessageConnection> ||
                             std::is_same_v<T, RelayAddEventConnection> ||
                             std::is_same_v<T, RelayRemoveEventConnection>) {
          w.u32(m.connection_id);
        } else if constexpr (std::is_same_v<T, RelayPostMessage>) {
          w.u32(m.vp);
          w.u32(m.sint);
          w.u32(m.message_type);
          w.u32(static_cast<std::uint32_t>(m.payload.size()));
          w.bytes(m.payload);
        } else if constexpr (std::is_same_v<T, RelaySignalEvent>) {
          w.u32(m.vp);
          w.u32(m.sint);
          w.u32(m.flag);
        } else {
          static_assert(std::is_same_v<T, RelayRefTime>);
          w.u32(m.cookie);
        }
      },
      f);
  w.patch_u32(start + 4, static_cast<std::uint32_t>(w.size() - start - kRelayHeaderSize));
}

Bytes encode_relay_frame(const RelayFrame& f) {
  Bytes out;
  ByteWriter w(out);
  encode(f, w);
  return out;
}

void RelayFrameReader::feed(ByteSpan chunk) {
  if (error_) return;
  // Compact before growing so a long-lived reader keeps at most one frame.
  if (pos_ > 0 && pos_ == buf_.size()) {
    consumed_ += pos_;
    buf_.clear();
    pos_ = 0;
  } else if (pos_ >= kRelayMaxFrameSize) {
    consumed_ += pos_;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), chunk.begin(), chunk.end());
}

std::optional<Result<RelayFrame>> RelayFrameReader::next() {
  if (error_) return Result<RelayFrame>(*error_);
  const ByteSpan avail = ByteSpan(buf_).subspan(pos_);
  if (avail.size() < kRelayHeaderSize) return std::nullopt;
  auto fail = [this](Error e) {
    e.offset += consumed_ + pos_;
    error_ = e;
    return Result<RelayFrame>(e);
  };
  auto h = decode_relay_header(avail);
  if (!h.ok()) return fail(h.error());
  const std::size_t total = kRelayHeaderSize + h->length;
  if (avail.size() < total) return std::nullopt;
  auto f = decode_relay_frame(avail.first(total));
  if (!f.ok()) return fail(f.error());
  pos_ += total;
  return f;
}

}  // namespace vmbh::proto
