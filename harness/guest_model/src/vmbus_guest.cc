#include "vmbh/guest_model/vmbus_guest.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <utility>
#include <variant>

#include "vmbh/protocols/describe.h"
#include "vmbh/protocols/gpadl.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/synic.h"

namespace vmbh::guest_model {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr int kMaxPumpRounds = 100000;

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string vstr(proto::VmbusVersion v) { return proto::version_string(proto::raw(v)); }

}  // namespace

// ---------------------------------------------------------------------------
// GuestChannel

Status GuestChannel::signal_host() {
  ++signals_sent_;
  proto::HvStatus s = guest_.transport_.guest_signal_event(guest_.options_.vp, connection_id_);
  if (s != proto::HvStatus::success) {
    return Status::fail("guest channel " + std::to_string(relid_) + ": HvSignalEvent on connection " +
                        std::to_string(connection_id_) + " failed with status " +
                        std::to_string(static_cast<int>(s)));
  }
  return {};
}

Status GuestChannel::send_inband(proto::ByteSpan payload, std::uint64_t trans_id, bool request_completion) {
  auto desc = proto::make_descriptor(proto::PacketType::data_inband,
                                     request_completion ? proto::kPacketFlagCompletionRequested : 0, trans_id,
                                     proto::kPacketDescriptorSize, payload.size());
  if (!desc) return Status::fail("guest channel " + std::to_string(relid_), desc.error());
  const auto header = proto::encode_descriptor(*desc);
  const std::array<proto::ByteSpan, 2> parts{proto::ByteSpan(header), payload};
  return send_packet(parts);
}

Status GuestChannel::send_packet(std::span<const proto::ByteSpan> parts) {
  auto w = out_.write(parts);
  if (!w) return Status::fail("guest channel " + std::to_string(relid_) + ": guest->host ring", w.error());
  if (*w) return signal_host();
  return {};
}

Result<std::optional<proto::Bytes>> GuestChannel::receive() {
  auto p = in_.peek();
  if (!p) {
    if (p.error().code == proto::Errc::empty) return std::optional<proto::Bytes>();
    return Status::fail("guest channel " + std::to_string(relid_) + ": host->guest ring", p.error());
  }
  proto::Bytes out(p->size());
  std::memcpy(out.data(), p->first.data(), p->first.size());
  if (!p->second.empty()) std::memcpy(out.data() + p->first.size(), p->second.data(), p->second.size());
  proto::encode_descriptor(
      p->desc, std::span<std::byte, proto::kPacketDescriptorSize>(out.data(), proto::kPacketDescriptorSize));
  auto c = in_.consume(*p);
  if (!c) return Status::fail("guest channel " + std::to_string(relid_) + ": host->guest ring", c.error());
  if (*c) {
    Status s = signal_host();
    if (!s) return s;
  }
  return std::optional<proto::Bytes>(std::move(out));
}

// ---------------------------------------------------------------------------
// VmbusGuest

VmbusGuest::VmbusGuest(host::LoopbackTransport& transport, GuestOptions options)
    : transport_(transport), options_(options) {
  // The loopback's RAM is one region at guest-physical 0.
  const auto& regions = transport_.ram().regions();
  const std::uint64_t size = regions.empty() || regions.front().gpa != 0 ? 0 : regions.front().size;
  page_used_.assign(size / kPage, false);
  // A session of a few channels fits without regrowing (the fuzzers build a
  // model per input).
  received_.reserve(64);
  ic_exchanges_.reserve(32);
  for (std::uint64_t p = 0; p < options_.reserved_pages && p < page_used_.size(); ++p) page_used_[p] = true;
}

VmbusGuest::~VmbusGuest() = default;

std::span<std::byte> VmbusGuest::page(std::uint64_t pfn) {
  if (pfn >= page_used_.size()) return {};
  auto it = page_views_.find(pfn);
  if (it == page_views_.end()) {
    const std::array<std::uint64_t, 1> one{pfn};
    auto m = transport_.ram().map_pages(one);
    if (!m) return {};
    it = page_views_.emplace(pfn, std::move(m).value()).first;
  }
  return it->second.bytes();
}

Result<std::vector<std::uint64_t>> VmbusGuest::alloc_pages(std::size_t n) {
  std::vector<std::uint64_t> out;
  const std::size_t total = page_used_.size();
  for (std::size_t i = 0; i < total && out.size() < n; ++i) {
    const std::size_t p = options_.scatter_pages ? total - 1 - i : i;
    if (!page_used_[p]) out.push_back(p);
  }
  if (out.size() < n)
    return Status::fail("guest model: out of guest RAM for " + std::to_string(n) + " pages");
  if (Status s = transport_.ram().zero_pages(out); !s) return s;
  for (std::uint64_t p : out) page_used_[p] = true;
  return out;
}

void VmbusGuest::free_pages(std::span<const std::uint64_t> pfns) {
  for (std::uint64_t p : pfns) {
    if (p < page_used_.size() && p >= options_.reserved_pages) page_used_[p] = false;
  }
}

proto::HvStatus VmbusGuest::post_raw(std::uint32_t connection_id, proto::ByteSpan bytes) {
  return transport_.guest_post_message(
      options_.vp, connection_id, static_cast<std::uint32_t>(proto::HvMessageType::vmbus_channel_message),
      bytes);
}

proto::HvStatus VmbusGuest::post(const proto::ChannelMessage& m) {
  const proto::Bytes bytes = proto::encode(m, version_.value_or(proto::VmbusVersion::win10_v5_3));
  std::uint32_t conn = msg_conn_id_;
  if (const auto* ic = std::get_if<proto::InitiateContact>(&m)) {
    conn = ic->version_requested >= proto::raw(proto::VmbusVersion::win10_v5)
               ? proto::kVmbusMessageConnectionId4
               : proto::kVmbusMessageConnectionId;
  }
  return post_raw(conn, bytes);
}

Status VmbusGuest::pump() {
  for (int round = 0; round < kMaxPumpRounds; ++round) {
    bool moved = false;
    if (transport_.has_pending_guest_actions()) {
      Status s = transport_.dispatch();
      if (!s) return s;
      moved = true;
    }
    while (auto m = transport_.next_message()) {
      on_message(*m);
      moved = true;
    }
    for (const auto& e : transport_.take_all_events()) {
      moved = true;
      if (e.sint == options_.msg_sint) on_event(e.flag);
    }
    if (!rescinds_to_handle_.empty()) {
      std::vector<std::uint32_t> todo = std::exchange(rescinds_to_handle_, {});
      for (std::uint32_t relid : todo) handle_rescind(relid);
      moved = true;
    }
    if (!moved) return {};
  }
  return Status::fail("guest model: host and guest kept exchanging for " + std::to_string(kMaxPumpRounds) +
                      " rounds");
}

void VmbusGuest::on_message(const host::LoopbackMessage& m) {
  if (m.message_type != static_cast<std::uint32_t>(proto::HvMessageType::vmbus_channel_message) ||
      m.sint != options_.msg_sint) {
    bad_messages_.push_back("SynIC message type " + hex(m.message_type) + " on SINT " +
                            std::to_string(m.sint));
    return;
  }
  auto d = proto::decode_channel_message(m.payload, version_.value_or(proto::VmbusVersion::win10_v5_3));
  if (!d) {
    bad_messages_.push_back(d.error().message());
    return;
  }
  received_.push_back(*d);
  std::visit(
      [&](const auto& msg) {
        using M = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<M, proto::VersionResponse>) {
          version_response_ = msg;
        } else if constexpr (std::is_same_v<M, proto::OfferChannel>) {
          offers_[msg.child_relid] = msg;
          rescinded_.erase(msg.child_relid);
        } else if constexpr (std::is_same_v<M, proto::AllOffersDelivered>) {
          all_offers_ = true;
        } else if constexpr (std::is_same_v<M, proto::GpadlCreated>) {
          gpadl_created_[msg.gpadl] = msg.creation_status;
        } else if constexpr (std::is_same_v<M, proto::GpadlTorndown>) {
          torndown_.insert(msg.gpadl);
        } else if constexpr (std::is_same_v<M, proto::OpenChannelResult>) {
          open_results_[msg.child_relid] = msg.status;
        } else if constexpr (std::is_same_v<M, proto::RescindChannelOffer>) {
          rescinded_.insert(msg.child_relid);
          rescinds_to_handle_.push_back(msg.child_relid);
        } else if constexpr (std::is_same_v<M, proto::UnloadResponse>) {
          unload_response_ = true;
        } else if constexpr (std::is_same_v<M, proto::ModifyChannelResponse>) {
          modify_results_[msg.child_relid] = msg.status;
        } else {
          bad_messages_.push_back("unexpected " + proto::describe(msg));
        }
      },
      *d);
}

void VmbusGuest::on_event(std::uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end()) return;
  ++it->second->events_seen_;
  if (it->second->ic_) run_ic(*it->second);
}

void VmbusGuest::handle_rescind(std::uint32_t relid) {
  if (!options_.auto_release) return;
  // vmbus_onoffer_rescind -> the driver's remove -> vmbus_close (CLOSECHANNEL,
  // GPADL_TEARDOWN, not waiting for the answer) -> RELID_RELEASED.
  auto it = channels_.find(relid);
  if (it != channels_.end()) {
    (void)post(proto::CloseChannel{relid});
    (void)post(proto::GpadlTeardown{relid, it->second->gpadl_});
    free_pages(it->second->pfns_);
    channels_.erase(it);
  }
  (void)post(proto::RelidReleased{relid});
}

void VmbusGuest::forget_session() {
  for (auto& [relid, c] : channels_) free_pages(c->pfns_);
  channels_.clear();
  offers_.clear();
  rescinded_.clear();
  rescinds_to_handle_.clear();
  all_offers_ = false;
  version_.reset();
  msg_conn_id_ = proto::kVmbusMessageConnectionId;
}

Result<proto::VmbusVersion> VmbusGuest::connect(std::span<const proto::VmbusVersion> versions) {
  refused_.clear();
  for (proto::VmbusVersion v : versions) {
    proto::InitiateContact ic;
    ic.version_requested = proto::raw(v);
    ic.target_vcpu = options_.vp;
    if (ic.uses_msg_sint()) {
      ic.msg_sint = options_.msg_sint;
    } else {
      ic.interrupt_page = 0;  // reserved page 0, like Linux's int_page
    }
    ic.monitor_page1 = 1 * kPage;
    ic.monitor_page2 = 2 * kPage;
    version_response_.reset();
    proto::HvStatus hs = post(ic);
    if (hs != proto::HvStatus::success) {
      return Status::fail("guest model: HvPostMessage of initiate_contact " + vstr(v) + " failed with " +
                          std::to_string(static_cast<int>(hs)));
    }
    Status s = pump();
    if (!s) return s;
    if (!version_response_)
      return Status::fail("guest model: no version_response to initiate_contact " + vstr(v));
    if (version_response_->version_supported != 0) {
      version_ = v;
      msg_conn_id_ = version_response_->message_connection_id(v);
      return v;
    }
    refused_.push_back(v);
  }
  return Status::fail("guest model: the host refused every version offered");
}

Status VmbusGuest::request_offers() {
  all_offers_ = false;
  if (post(proto::RequestOffers{}) != proto::HvStatus::success)
    return Status::fail("guest model: HvPostMessage of request_offers failed");
  Status s = pump();
  if (!s) return s;
  if (!all_offers_) return Status::fail("guest model: no all_offers_delivered after request_offers");
  return {};
}

std::optional<std::uint32_t> VmbusGuest::find_offer(const proto::Guid& class_id) const {
  for (const auto& [relid, o] : offers_) {
    if (o.if_type == class_id && rescinded_.count(relid) == 0) return relid;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> VmbusGuest::gpadl_status(std::uint32_t handle) const {
  auto it = gpadl_created_.find(handle);
  if (it == gpadl_created_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::uint32_t> VmbusGuest::open_status(std::uint32_t relid) const {
  auto it = open_results_.find(relid);
  if (it == open_results_.end()) return std::nullopt;
  return it->second;
}

Result<std::uint32_t> VmbusGuest::create_gpadl(std::uint32_t relid, std::span<const std::uint64_t> pfns) {
  const std::uint32_t handle = next_gpadl_++;
  auto msgs = proto::split_gpadl(relid, handle, pfns);
  if (!msgs) return Status::fail("guest model: GPADL", msgs.error());
  (void)post(msgs->header);
  for (const proto::GpadlBody& b : msgs->bodies) (void)post(b);
  Status s = pump();
  if (!s) return s;
  auto st = gpadl_status(handle);
  if (!st) return Status::fail("guest model: no gpadl_created for " + hex(handle));
  if (*st != proto::kVmbusStatusSuccess)
    return Status::fail("guest model: gpadl_created for " + hex(handle) + " with status " + hex(*st));
  return handle;
}

Status VmbusGuest::teardown_gpadl(std::uint32_t relid, std::uint32_t handle) {
  (void)post(proto::GpadlTeardown{relid, handle});
  Status s = pump();
  if (!s) return s;
  if (!torn_down(handle)) return Status::fail("guest model: no gpadl_torndown for " + hex(handle));
  return {};
}

GuestChannel* VmbusGuest::channel(std::uint32_t relid) {
  auto it = channels_.find(relid);
  return it == channels_.end() ? nullptr : it->second.get();
}

Result<GuestChannel*> VmbusGuest::open(std::uint32_t relid, std::uint32_t send_pages,
                                       std::uint32_t recv_pages) {
  auto offer = offers_.find(relid);
  if (offer == offers_.end() || rescinded_.count(relid) != 0)
    return Status::fail("guest model: relid " + std::to_string(relid) + " is not offered");
  if (channels_.count(relid) != 0)
    return Status::fail("guest model: relid " + std::to_string(relid) + " is open");
  if (send_pages < 2 || recv_pages < 2) return Status::fail("guest model: a ring needs at least 2 pages");
  auto pfns = alloc_pages(std::size_t{send_pages} + recv_pages);
  if (!pfns) return pfns.status();
  // hv_ringbuffer_init: zeroed header, pending-send-size feature on both rings.
  auto gpadl = create_gpadl(relid, *pfns);
  if (!gpadl) {
    free_pages(*pfns);
    return gpadl.status();
  }
  auto mapping = transport_.ram().map_pages(*pfns);
  if (!mapping) {
    free_pages(*pfns);
    return mapping.status();
  }
  std::span<std::byte> all = mapping->bytes();
  auto out = proto::RingView::create(all.first(std::size_t{send_pages} * kPage));
  auto in = proto::RingView::create(all.subspan(std::size_t{send_pages} * kPage));
  if (!out || !in) {
    free_pages(*pfns);
    return Status::fail("guest model: ring views", out ? in.error() : out.error());
  }
  out->set_feature_bits(proto::kRingFeaturePendingSendSz);
  in->set_feature_bits(proto::kRingFeaturePendingSendSz);
  std::vector<std::uint64_t> pages = *pfns;
  auto c = std::unique_ptr<GuestChannel>(new GuestChannel(*this, relid, offer->second.connection_id, *gpadl,
                                                          std::move(pages), std::move(mapping).value(), *out,
                                                          *in));
  GuestChannel* raw = c.get();
  channels_[relid] = std::move(c);

  proto::OpenChannel o;
  o.child_relid = relid;
  o.open_id = relid;  // Linux: openid = child_relid
  o.ringbuffer_gpadl = *gpadl;
  o.target_vp = options_.vp;
  o.downstream_ringbuffer_page_offset = send_pages;
  open_results_.erase(relid);
  (void)post(o);
  Status s = pump();
  auto st = open_status(relid);
  if (!s || !st || *st != proto::kVmbusStatusSuccess) {
    channels_.erase(relid);
    (void)teardown_gpadl(relid, *gpadl);
    free_pages(*pfns);
    if (!s) return s;
    if (!st) return Status::fail("guest model: no open_channel_result for relid " + std::to_string(relid));
    return Status::fail("guest model: open_channel_result for relid " + std::to_string(relid) +
                        " with status " + hex(*st));
  }
  return raw;
}

Status VmbusGuest::close(std::uint32_t relid) {
  auto it = channels_.find(relid);
  if (it == channels_.end())
    return Status::fail("guest model: relid " + std::to_string(relid) + " is not open");
  const std::uint32_t gpadl = it->second->gpadl_;
  std::vector<std::uint64_t> pfns = it->second->pfns_;
  channels_.erase(it);
  (void)post(proto::CloseChannel{relid});
  Status s = teardown_gpadl(relid, gpadl);
  free_pages(pfns);
  return s;
}

Status VmbusGuest::release(std::uint32_t relid) {
  (void)post(proto::RelidReleased{relid});
  return pump();
}

Result<std::optional<std::uint32_t>> VmbusGuest::modify(std::uint32_t relid, std::uint32_t target_vp) {
  modify_results_.erase(relid);
  (void)post(proto::ModifyChannel{relid, target_vp});
  Status s = pump();
  if (!s) return s;
  if (!version_ || !proto::has_feature(*version_, proto::VmbusFeature::modify_channel_response))
    return std::optional<std::uint32_t>();
  auto it = modify_results_.find(relid);
  if (it == modify_results_.end()) return Status::fail("guest model: no modify_channel_response");
  return std::optional<std::uint32_t>(it->second);
}

Status VmbusGuest::unload() {
  unload_response_ = false;
  (void)post(proto::Unload{});
  Status s = pump();
  if (!s) return s;
  if (!unload_response_) return Status::fail("guest model: no unload_response");
  forget_session();
  return {};
}

Status VmbusGuest::reset() {
  transport_.guest_reset();
  forget_session();
  return pump();
}

// ---------------------------------------------------------------------------
// Integration components

Status VmbusGuest::act_as_linux_ic(std::uint32_t relid, IcService service) {
  GuestChannel* c = channel(relid);
  if (c == nullptr) return Status::fail("guest model: relid " + std::to_string(relid) + " is not open");
  c->ic_ = service;
  run_ic(*c);
  return pump();
}

void VmbusGuest::run_ic(GuestChannel& c) {
  for (;;) {
    auto r = c.receive();
    if (!r) {
      bad_messages_.push_back(r.message());
      return;
    }
    if (!r->has_value()) return;
    auto view = proto::decode_packet(**r);
    if (!view) {
      bad_messages_.push_back("IC packet: " + view.error().message());
      continue;
    }
    IcExchange ex;
    ex.relid = c.relid_;
    ex.trans_id = view->desc.trans_id;
    ex.request.assign(view->payload.begin(), view->payload.end());
    proto::Bytes buf = ex.request;
    bool answered = false;
    switch (*c.ic_) {
      case IcService::heartbeat:
      case IcService::shutdown:
      case IcService::timesync: {
        const proto::LinuxIcService svc = *c.ic_ == IcService::heartbeat  ? proto::LinuxIcService::heartbeat
                                          : *c.ic_ == IcService::shutdown ? proto::LinuxIcService::shutdown
                                                                          : proto::LinuxIcService::timesync;
        answered = proto::linux_ic_answer_in_place(svc, buf, c.ic_state_).answered;
        break;
      }
      case IcService::kvp:
      case IcService::vss:
      case IcService::fcopy: {
        // The kernel negotiates; service messages go to the daemon (set_ic_daemon).
        auto msg = proto::decode_ic_message(buf);
        if (!msg) break;
        if (msg->header.icmsgtype != proto::IcMsgType::negotiate) {
          auto d = ic_daemons_.find(c.relid_);
          if (d == ic_daemons_.end() || !d->second || !d->second(buf)) break;
          // hv_kvp/hv_snapshot/hv_fcopy *_respond_to_host: flags, then the buffer back.
          buf[proto::kIcPipeHeaderSize + 17] = std::byte{proto::kIcFlagsGuestResponse};
          answered = true;
          break;
        }
        std::span<const proto::IcVersion> fw = proto::kLinuxVssFcopyFrameworkVersions;
        std::span<const proto::IcVersion> svc = proto::kLinuxVssVersions;
        if (*c.ic_ == IcService::kvp) {
          fw = proto::kLinuxUtilFrameworkVersions;
          svc = proto::kLinuxKvpVersions;
        } else if (*c.ic_ == IcService::fcopy) {
          svc = proto::kLinuxFcopyVersions;
        }
        answered = proto::linux_negotiate_in_place(buf, fw, svc).answered;
        break;
      }
    }
    if (answered) {
      Status s = c.send_inband(buf, view->desc.trans_id);
      if (!s) bad_messages_.push_back(s.message());
      ex.answer = std::move(buf);
    }
    ic_exchanges_.push_back(std::move(ex));
  }
}

}  // namespace vmbh::guest_model
