#include "vmbh/host/channel_manager.h"

#include <cstdio>
#include <string>
#include <utility>
#include <variant>

#include "vmbh/protocols/describe.h"
#include "vmbh/protocols/synic.h"

namespace vmbh::host {
namespace {

using proto::VmbusVersion;

// Any non-zero status fails GPADL_CREATED / OPENCHANNEL_RESULT /
// MODIFYCHANNEL_RESPONSE in Linux; this is NT's STATUS_UNSUCCESSFUL.
constexpr std::uint32_t kStatusUnsuccessful = 0xC0000001;
// Linux maps relids into a 2048-bit event-flags slot and skips bit 0.
constexpr std::uint32_t kMaxRelid = 2047;
// Offer connection ids: clear of the message/event/monitor ids 1..4.
constexpr std::uint32_t kChannelConnectionIdBase = 0x10;
constexpr std::uint64_t kPage = 4096;

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string vstr(std::uint32_t raw) { return proto::version_string(raw); }

}  // namespace

ChannelManager::ChannelManager(Transport& transport, ChannelManagerOptions options)
    : transport_(transport), options_(std::move(options)), msg_vp_(options_.vp), msg_sint_(options_.sint) {}

ChannelManager::~ChannelManager() {
  if (started_) transport_.set_events(nullptr);
  for (auto& [relid, c] : channels_) {
    if (c.ring) close_ring(c, "the host is shutting down");
  }
}

Status ChannelManager::start() {
  transport_.set_events(this);
  started_ = true;
  return register_message_connections();
}

Status ChannelManager::register_message_connections() {
  for (std::uint32_t id : {proto::kVmbusMessageConnectionId, proto::kVmbusMessageConnectionId4}) {
    Status s = transport_.add_message_connection(id);
    if (!s)
      return Status::fail("vmbus: registering message connection " + std::to_string(id) + ": " + s.message());
  }
  return {};
}

void ChannelManager::log(const std::string& line) {
  ++log_lines_;
  if (options_.log) options_.log("vmbus: " + line);
}

void ChannelManager::reject(const std::string& what) { log("rejected " + what); }

void ChannelManager::changed() {
  ++generation_;
  if (options_.on_change) options_.on_change();
}

Status ChannelManager::post(const proto::ChannelMessage& m) {
  const proto::Bytes bytes = proto::encode(m, version_.value_or(options_.max_version));
  Status s = transport_.post_message(
      msg_vp_, msg_sint_, static_cast<std::uint32_t>(proto::HvMessageType::vmbus_channel_message), bytes);
  if (!s) log("posting " + proto::describe(m) + ": " + s.message());
  return s;
}

ChannelManager::Channel* ChannelManager::find(std::uint32_t relid) {
  auto it = channels_.find(relid);
  return it == channels_.end() ? nullptr : &it->second;
}

std::string ChannelManager::channel_name(const Channel& c) const {
  return "channel " + std::to_string(c.relid) + " (" + c.device->identity().name + ")";
}

const char* ChannelManager::state_name(State s) {
  switch (s) {
    case State::pending:
      return "pending";
    case State::offered:
      return "offered";
    case State::open:
      return "open";
    case State::closed:
      return "closed";
    case State::rescinding:
      return "rescinding";
    case State::rescinded:
      return "rescinded";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Devices

std::uint32_t ChannelManager::add_device(std::unique_ptr<Device> device) {
  if (!device) return 0;
  if (next_relid_ > kMaxRelid) {
    log("no relid left for device " + device->identity().name);
    return 0;
  }
  const std::uint32_t relid = next_relid_++;
  Channel& c = channels_[relid];
  c.relid = relid;
  c.device = std::move(device);
  c.connection_id = kChannelConnectionIdBase + relid;
  if (version_ && offers_requested_) offer(c);
  changed();
  return relid;
}

void ChannelManager::offer(Channel& c) {
  if (relid_by_connection_.count(c.connection_id) == 0) {
    Status s = transport_.add_event_connection(c.connection_id);
    if (!s) log(channel_name(c) + ": registering event connection: " + s.message());
    relid_by_connection_[c.connection_id] = c.relid;
  }
  const DeviceIdentity& id = c.device->identity();
  proto::OfferChannel o;
  o.if_type = id.class_id;
  o.if_instance = id.instance_id;
  o.mmio_megabytes = id.mmio_megabytes;
  o.child_relid = c.relid;
  o.monitor_flags = 0;  // no monitor pages: the guest signals with HvSignalEvent
  o.interrupt_flags = id.is_dedicated_interrupt ? 1 : 0;
  o.connection_id = c.connection_id;
  c.state = State::offered;
  c.error.clear();
  (void)post(o);
}

Status ChannelManager::rescind(std::uint32_t relid) {
  Channel* c = find(relid);
  if (c == nullptr) return Status::fail("vmbus: rescind: no channel " + std::to_string(relid));
  switch (c->state) {
    case State::rescinding:
    case State::rescinded:
      return Status::fail("vmbus: rescind: " + channel_name(*c) + " is already rescinded");
    case State::pending:
      c->state = State::rescinded;
      changed();
      return {};
    case State::open:
      close_ring(*c, "the host rescinded the channel");
      [[fallthrough]];
    case State::offered:
    case State::closed:
      c->state = State::rescinding;
      c->reoffer_after_release = false;
      (void)post(proto::RescindChannelOffer{relid});
      changed();
      return {};
  }
  return {};
}

Status ChannelManager::reoffer(std::uint32_t relid) {
  Channel* c = find(relid);
  if (c == nullptr) return Status::fail("vmbus: reoffer: no channel " + std::to_string(relid));
  switch (c->state) {
    case State::rescinding:
      c->reoffer_after_release = true;
      return {};
    case State::rescinded:
      c->state = State::pending;
      if (version_ && offers_requested_) offer(*c);
      changed();
      return {};
    default:
      return Status::fail("vmbus: reoffer: " + channel_name(*c) + " is " + state_name(c->state) +
                          ", not rescinded");
  }
}

void ChannelManager::tick(Clock::time_point now) {
  for (auto& [relid, c] : channels_) {
    c.device->on_tick(now);
    if (c.state == State::open && c.more_to_read) drain(c);
  }
}

ChannelManager::ChannelInfo ChannelManager::info(const Channel& c) const {
  ChannelInfo i;
  const DeviceIdentity& id = c.device->identity();
  i.relid = c.relid;
  i.name = id.name;
  i.class_id = id.class_id;
  i.instance_id = id.instance_id;
  i.state = state_name(c.state);
  i.connection_id = c.connection_id;
  i.target_vp = c.target_vp;
  if (c.ring) {
    i.ring_gpadl = c.ring_gpadl;
    i.guest_to_host_ring_size = c.ring->guest_to_host().data_size();
    i.host_to_guest_ring_size = c.ring->host_to_guest().data_size();
  }
  i.error = c.error;
  i.facts = c.device->facts();
  return i;
}

std::vector<ChannelManager::ChannelInfo> ChannelManager::channels() const {
  std::vector<ChannelInfo> out;
  out.reserve(channels_.size());
  for (const auto& [relid, c] : channels_) out.push_back(info(c));
  return out;
}

std::optional<ChannelManager::ChannelInfo> ChannelManager::channel(std::uint32_t relid) const {
  auto it = channels_.find(relid);
  if (it == channels_.end()) return std::nullopt;
  return info(it->second);
}

Device* ChannelManager::device(std::string_view name) const {
  for (const auto& [relid, c] : channels_) {
    if (c.device->identity().name == name) return c.device.get();
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// Guest messages

void ChannelManager::on_guest_message(std::uint32_t /*vp*/, std::uint32_t connection_id,
                                      std::uint32_t message_type, proto::ByteSpan payload) {
  if (message_type != static_cast<std::uint32_t>(proto::HvMessageType::vmbus_channel_message)) {
    reject("SynIC message of type " + hex(message_type) + " on connection " + std::to_string(connection_id) +
           ": VMBus messages are type 1");
    return;
  }
  // Before INITIATE_CONTACT nothing is negotiated: decode at the cap, which
  // knows every message type the guest may legitimately send first.
  auto m = proto::decode_channel_message(payload, version_.value_or(options_.max_version));
  if (!m) {
    reject("guest message (" + std::to_string(payload.size()) + " bytes on connection " +
           std::to_string(connection_id) + "): " + m.error().message());
    return;
  }
  handle(connection_id, *m);
}

void ChannelManager::handle(std::uint32_t connection_id, const proto::ChannelMessage& m) {
  const proto::ChannelMessageType type = proto::message_type(m);
  using T = proto::ChannelMessageType;
  if (const auto* ic = std::get_if<proto::InitiateContact>(&m)) {
    on_initiate_contact(connection_id, *ic);
    return;
  }
  if (type == T::unload) {  // accepted in any state: a crashing guest unloads whatever it has
    on_unload();
    return;
  }
  if (!version_) {
    reject(proto::describe(m) + ": no INITIATE_CONTACT has been accepted yet");
    return;
  }
  if (connection_id != proto::kVmbusMessageConnectionId) {
    log(std::string(proto::to_string(type)) + " arrived on connection " + std::to_string(connection_id) +
        "; this session's message connection is 1 (handled anyway)");
  }
  switch (type) {
    case T::request_offers:
      on_request_offers();
      return;
    case T::gpadl_header:
      on_gpadl_header(std::get<proto::GpadlHeader>(m));
      return;
    case T::gpadl_body:
      on_gpadl_body(std::get<proto::GpadlBody>(m));
      return;
    case T::gpadl_teardown:
      on_gpadl_teardown(std::get<proto::GpadlTeardown>(m));
      return;
    case T::open_channel:
      on_open_channel(std::get<proto::OpenChannel>(m));
      return;
    case T::close_channel:
      on_close_channel(std::get<proto::CloseChannel>(m));
      return;
    case T::relid_released:
      on_relid_released(std::get<proto::RelidReleased>(m));
      return;
    case T::modify_channel:
      on_modify_channel(std::get<proto::ModifyChannel>(m));
      return;
    case T::tl_connect_request:
      reject(proto::describe(m) + ": this host offers no hv_sock services");
      return;
    default:
      reject(proto::describe(m) + ": a host-to-guest message type sent by the guest");
      return;
  }
}

void ChannelManager::on_initiate_contact(std::uint32_t connection_id, const proto::InitiateContact& m) {
  const std::uint32_t requested = m.version_requested;
  const std::uint32_t expected_conn = requested >= proto::raw(VmbusVersion::win10_v5)
                                          ? proto::kVmbusMessageConnectionId4
                                          : proto::kVmbusMessageConnectionId;
  if (connection_id != expected_conn) {
    log("initiate_contact for " + vstr(requested) + " arrived on connection " +
        std::to_string(connection_id) + ", Linux uses " + std::to_string(expected_conn) +
        " (handled anyway)");
  }
  if (version_) {
    log("initiate_contact while connected at " + vstr(proto::raw(*version_)) +
        ": the previous session is dropped");
    drop_session("the guest reconnected");
  }

  std::string refused;
  const auto known = proto::vmbus_version_from_raw(requested);
  if (!known) {
    refused = "not a VMBus version";
  } else if (*known < VmbusVersion::win8) {
    refused = "older than WIN8 (2.4), which per-relid event flags need";
  } else if (*known > options_.max_version) {
    refused = "newer than this host's cap " + vstr(proto::raw(options_.max_version));
  }
  std::uint32_t sint = msg_sint_;
  if (m.uses_msg_sint()) {
    if (m.msg_sint < proto::kSynicSintCount) {
      sint = m.msg_sint;
    } else if (refused.empty()) {
      refused = "msg_sint " + std::to_string(m.msg_sint) + " is not a SINT (0..15)";
    }
  } else {
    // Unused from WIN8 on (monitor_allocated = 0, events per relid), but
    // Linux always sends them: a page outside guest RAM is worth a line.
    const std::pair<const char*, std::uint64_t> pages[] = {{"interrupt_page", m.interrupt_page},
                                                           {"monitor_page1", m.monitor_page1},
                                                           {"monitor_page2", m.monitor_page2}};
    for (const auto& [name, gpa] : pages) {
      if (!transport_.ram().contains_page(gpa))
        log("initiate_contact: " + std::string(name) + " " + hex(gpa) + " is not a guest RAM page (unused)");
    }
  }
  msg_vp_ = m.target_vcpu;
  msg_sint_ = sint;
  const bool ok = refused.empty();
  if (!ok) log("initiate_contact: version " + vstr(requested) + " refused: " + refused);

  proto::VersionResponse r;
  r.version_supported = ok ? 1 : 0;
  r.connection_state = 0;
  r.msg_conn_id = requested >= proto::raw(VmbusVersion::win10_v5) ? proto::kVmbusMessageConnectionId : 0;
  if (ok) {
    version_ = *known;
    ++contacts_accepted_;
  }
  (void)post(r);
  if (ok) {
    log("connected at VMBus " + vstr(requested) + ", messages to VP " + std::to_string(msg_vp_) + " SINT " +
        std::to_string(msg_sint_));
    changed();
  }
}

void ChannelManager::on_request_offers() {
  if (offers_requested_) log("request_offers again: only channels not offered yet are offered");
  offers_requested_ = true;
  for (auto& [relid, c] : channels_) {
    if (c.state == State::pending) offer(c);
  }
  (void)post(proto::AllOffersDelivered{});
  changed();
}

// ---------------------------------------------------------------------------
// GPADLs

void ChannelManager::on_gpadl_header(const proto::GpadlHeader& m) {
  // Built only for a rejection: most headers are fine.
  auto what = [&] { return "gpadl_header " + hex(m.gpadl) + " for relid " + std::to_string(m.child_relid); };
  auto fail = [&](const std::string& why) {
    reject(what() + ": " + why);
    (void)post(proto::GpadlCreated{m.child_relid, m.gpadl, kStatusUnsuccessful});
  };
  if (gpadls_.count(m.gpadl) != 0 || assembling_.count(m.gpadl) != 0) {
    // Answering would complete the guest's wait for the existing one.
    reject(what() + ": the handle is already in use (no answer)");
    return;
  }
  if (find(m.child_relid) == nullptr) return fail("no such channel");
  if (gpadls_.size() + assembling_.size() >= options_.max_gpadls)
    return fail("the guest already has " + std::to_string(options_.max_gpadls) + " GPADLs");
  proto::GpadlLimits limits;
  limits.max_pfns = std::min(options_.max_gpadl_pfns, proto::kGpadlMaxPfns);
  proto::GpadlAssembler a(limits);
  if (auto s = a.start(m); !s) return fail(s.error().message());
  const bool complete = a.complete();
  assembling_.emplace(m.gpadl, std::move(a));
  if (complete) gpadl_complete(m.gpadl);
}

void ChannelManager::on_gpadl_body(const proto::GpadlBody& m) {
  auto it = assembling_.find(m.gpadl);
  if (it == assembling_.end()) {
    reject("gpadl_body for " + hex(m.gpadl) + ": no GPADL of that handle is being assembled");
    return;
  }
  if (auto s = it->second.add_body(m); !s) {
    const std::uint32_t relid = it->second.child_relid();
    assembling_.erase(it);
    reject("gpadl_body for " + hex(m.gpadl) + ": " + s.error().message() + " (GPADL dropped)");
    (void)post(proto::GpadlCreated{relid, m.gpadl, kStatusUnsuccessful});
    return;
  }
  if (it->second.complete()) gpadl_complete(m.gpadl);
}

bool ChannelManager::pfns_in_ram(const proto::Gpadl& g, std::string& bad) const {
  for (const proto::GpaRange& r : g.ranges) {
    for (std::uint64_t pfn : r.pfns) {
      bool found = false;
      if (pfn <= (UINT64_MAX / kPage)) {
        const std::uint64_t gpa = pfn * kPage;
        for (const RamRegion& reg : transport_.ram().regions()) {
          if (gpa >= reg.gpa && gpa - reg.gpa < reg.size) {
            found = true;
            break;
          }
        }
      }
      if (!found) {
        bad = "PFN " + hex(pfn) + " is not guest RAM";
        return false;
      }
    }
  }
  return true;
}

void ChannelManager::gpadl_complete(std::uint32_t handle) {
  auto it = assembling_.find(handle);
  auto g = it->second.finish();
  const std::uint32_t relid = it->second.child_relid();
  assembling_.erase(it);
  std::string bad;
  if (!g) {
    bad = g.error().message();
  } else {
    (void)pfns_in_ram(*g, bad);
  }
  if (!bad.empty()) {
    reject("gpadl " + hex(handle) + " for relid " + std::to_string(relid) + ": " + bad);
    (void)post(proto::GpadlCreated{relid, handle, kStatusUnsuccessful});
    return;
  }
  gpadls_.emplace(handle, GpadlEntry{std::move(g).value(), 0});
  (void)post(proto::GpadlCreated{relid, handle, proto::kVmbusStatusSuccess});
}

void ChannelManager::on_gpadl_teardown(const proto::GpadlTeardown& m) {
  auto what = [&] {
    return "gpadl_teardown " + hex(m.gpadl) + " for relid " + std::to_string(m.child_relid);
  };
  if (assembling_.erase(m.gpadl) != 0) {
    reject(what() + ": the GPADL was never completed (dropped, no answer)");
    return;
  }
  auto it = gpadls_.find(m.gpadl);
  if (it == gpadls_.end()) {
    reject(what() + ": no such GPADL");
    return;
  }
  if (it->second.gpadl.child_relid != m.child_relid) {
    reject(what() + ": the GPADL belongs to relid " + std::to_string(it->second.gpadl.child_relid));
    return;
  }
  if (it->second.used_by != 0) {
    reject(what() + ": it still holds the rings of open channel " + std::to_string(it->second.used_by));
    return;
  }
  gpadls_.erase(it);
  (void)post(proto::GpadlTorndown{m.gpadl});
}

// ---------------------------------------------------------------------------
// Open / close / release / modify

void ChannelManager::on_open_channel(const proto::OpenChannel& m) {
  auto fail = [&](const std::string& why) {
    reject("open_channel relid " + std::to_string(m.child_relid) + " gpadl " + hex(m.ringbuffer_gpadl) +
           " offset " + std::to_string(m.downstream_ringbuffer_page_offset) + ": " + why);
    (void)post(proto::OpenChannelResult{m.child_relid, m.open_id, kStatusUnsuccessful});
  };
  Channel* c = find(m.child_relid);
  if (c == nullptr) return fail("no such channel");
  if (c->state != State::offered && c->state != State::closed)
    return fail(std::string("the channel is ") + state_name(c->state));
  auto g = gpadls_.find(m.ringbuffer_gpadl);
  if (g == gpadls_.end()) return fail("no such GPADL");
  if (g->second.gpadl.child_relid != m.child_relid)
    return fail("the GPADL belongs to relid " + std::to_string(g->second.gpadl.child_relid));
  if (g->second.used_by != 0)
    return fail("the GPADL already holds the rings of channel " + std::to_string(g->second.used_by));
  for (const proto::GpaRange& r : g->second.gpadl.ranges) {
    if (r.byte_offset != 0 || std::uint64_t{r.byte_count} != r.pfns.size() * kPage) {
      return fail("ring GPADL ranges must be whole pages (byte_offset " + std::to_string(r.byte_offset) +
                  ", byte_count " + std::to_string(r.byte_count) + ")");
    }
  }
  auto mapping = transport_.ram().map_pages(g->second.gpadl.all_pfns());
  if (!mapping) return fail(mapping.message());
  auto ring = ChannelRing::create(m.child_relid, std::move(mapping).value(),
                                  m.downstream_ringbuffer_page_offset, transport_, m.target_vp, msg_sint_);
  if (!ring) return fail(ring.message());

  c->ring = std::move(ring).value();
  const std::string name = c->device->identity().name;
  const std::uint32_t relid = c->relid;
  c->ring->set_note_sink([this, relid, name](const std::string& line) {
    if (!options_.log) {  // counted; no one reads the text
      ++log_lines_;
      return;
    }
    log("channel " + std::to_string(relid) + " (" + name + "): " + line);
  });
  if (options_.packet_observer) {
    c->ring->set_sent_observer(
        [this, relid, name](proto::ByteSpan p) { options_.packet_observer(relid, name, true, p); });
  }
  c->ring_gpadl = m.ringbuffer_gpadl;
  c->target_vp = m.target_vp;
  c->state = State::open;
  c->error.clear();
  c->more_to_read = false;
  g->second.used_by = c->relid;
  (void)post(proto::OpenChannelResult{m.child_relid, m.open_id, proto::kVmbusStatusSuccess});
  c->device->on_open(*c->ring);
  changed();
  drain(*c);  // packets the guest wrote before the result (its signal found no open ring)
}

void ChannelManager::close_ring(Channel& c, const std::string& why) {
  if (!c.ring) return;
  c.device->on_close(why);
  c.ring.reset();
  auto g = gpadls_.find(c.ring_gpadl);
  if (g != gpadls_.end()) g->second.used_by = 0;
  c.ring_gpadl = 0;
  c.more_to_read = false;
}

void ChannelManager::on_close_channel(const proto::CloseChannel& m) {
  Channel* c = find(m.child_relid);
  if (c == nullptr) {
    reject("close_channel relid " + std::to_string(m.child_relid) + ": no such channel");
    return;
  }
  if (c->state == State::rescinding) return;  // Linux closes a rescinded channel before releasing it
  if (c->state != State::open) {
    reject("close_channel for " + channel_name(*c) + ": the channel is " + state_name(c->state));
    return;
  }
  close_ring(*c, "the guest closed the channel");
  c->state = State::closed;
  changed();
}

void ChannelManager::on_relid_released(const proto::RelidReleased& m) {
  Channel* c = find(m.child_relid);
  if (c == nullptr || c->state != State::rescinding) {
    reject("relid_released " + std::to_string(m.child_relid) + ": " +
           (c == nullptr ? std::string("no such channel")
                         : std::string("the channel is ") + state_name(c->state) + ", not rescinded"));
    return;
  }
  for (auto it = gpadls_.begin(); it != gpadls_.end();) {
    if (it->second.gpadl.child_relid == c->relid) {
      log(channel_name(*c) + " released with GPADL " + hex(it->first) + " still present: dropped");
      it = gpadls_.erase(it);
    } else {
      ++it;
    }
  }
  if (relid_by_connection_.erase(c->connection_id) != 0)
    (void)transport_.remove_event_connection(c->connection_id);
  c->state = State::rescinded;
  if (c->reoffer_after_release) {
    c->reoffer_after_release = false;
    c->state = State::pending;
    if (version_ && offers_requested_) offer(*c);
  }
  changed();
}

void ChannelManager::on_modify_channel(const proto::ModifyChannel& m) {
  const bool answer = proto::has_feature(*version_, proto::VmbusFeature::modify_channel_response);
  Channel* c = find(m.child_relid);
  if (c == nullptr || c->state != State::open) {
    reject("modify_channel relid " + std::to_string(m.child_relid) + ": " +
           (c == nullptr ? std::string("no such channel")
                         : std::string("the channel is ") + state_name(c->state)));
    if (answer) (void)post(proto::ModifyChannelResponse{m.child_relid, kStatusUnsuccessful});
    return;
  }
  c->target_vp = m.target_vp;
  c->ring->set_target_vp(m.target_vp);
  if (answer) (void)post(proto::ModifyChannelResponse{m.child_relid, proto::kVmbusStatusSuccess});
  changed();
}

void ChannelManager::on_unload() {
  ++unloads_;
  drop_session("the guest unloaded VMBus");
  (void)post(proto::UnloadResponse{});
}

void ChannelManager::drop_session(const std::string& why, bool registrations_gone) {
  for (auto& [relid, c] : channels_) {
    if (c.ring) close_ring(c, why);
    switch (c.state) {
      case State::offered:
      case State::open:
      case State::closed:
        c.state = State::pending;
        break;
      case State::rescinding:
        c.state = c.reoffer_after_release ? State::pending : State::rescinded;
        c.reoffer_after_release = false;
        break;
      case State::pending:
      case State::rescinded:
        break;
    }
  }
  if (!registrations_gone) {
    for (const auto& [conn, relid] : relid_by_connection_) (void)transport_.remove_event_connection(conn);
  }
  relid_by_connection_.clear();
  assembling_.clear();
  gpadls_.clear();
  version_.reset();
  offers_requested_ = false;
  changed();
}

void ChannelManager::on_guest_reset() {
  ++resets_;
  log("guest reset: every channel is closed and the session forgotten");
  // The relay dropped every registration with the reset (relay-protocol.md):
  // without the message connections again the rebooted guest's
  // INITIATE_CONTACT would fail with HV_STATUS_INVALID_CONNECTION_ID.
  drop_session("the guest was reset", true);
  msg_vp_ = options_.vp;
  msg_sint_ = options_.sint;
  if (Status s = register_message_connections(); !s) log(s.message());
}

void ChannelManager::on_transport_closed(const std::string& why) {
  log("transport closed: " + why);
  drop_session("the transport closed: " + why);
}

// ---------------------------------------------------------------------------
// Ring packets

void ChannelManager::on_guest_signal(std::uint32_t /*vp*/, std::uint32_t connection_id) {
  auto it = relid_by_connection_.find(connection_id);
  if (it == relid_by_connection_.end()) {
    reject("signal on connection " + std::to_string(connection_id) + ": no channel has it");
    return;
  }
  Channel& c = channels_.at(it->second);
  if (c.state != State::open) {
    // A signal racing a close or a rescind is normal; on a channel never opened it is not.
    if (c.state == State::offered || c.state == State::pending)
      reject("signal on " + channel_name(c) + ": the channel is " + state_name(c.state) + ", not open");
    return;
  }
  drain(c);
}

void ChannelManager::drain(Channel& c) {
  const std::string& name = c.device->identity().name;
  for (std::size_t n = 0; n < options_.max_packets_per_signal; ++n) {
    if (!c.ring) return;  // closed from a callback
    auto r = c.ring->read_packet();
    if (!r) {
      // The descriptor cannot be trusted, so the packet cannot be skipped:
      // the channel stays stuck until the guest closes it. Log once per error.
      if (c.error != r.message()) {
        c.error = r.message();
        log(c.error + " (the ring is not read any further)");
        changed();
      }
      c.more_to_read = false;
      return;
    }
    if (!r->has_value()) {
      c.more_to_read = false;
      return;
    }
    if (options_.packet_observer) options_.packet_observer(c.relid, name, false, c.ring->last_packet());
    Status s = c.device->on_packet(**r);
    if (!s) log(channel_name(c) + ": " + s.message());
  }
  c.more_to_read = true;
}

}  // namespace vmbh::host
