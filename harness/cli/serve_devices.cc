#include "serve_devices.h"

#include <memory>

#include "ic_versions.h"

namespace vmbh::cli {

namespace {

using Reply = ControlServer::Reply;

std::string version_text(proto::IcVersion v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor);
}

control::Response ic_response(const host::IcDevice& d, std::uint32_t status) {
  control::Response r;
  auto* ic = r.mutable_ic();
  ic->set_status(status);
  ic->set_framework_version(version_text(d.framework_version()));
  ic->set_message_version(version_text(d.message_version()));
  return r;
}

std::string value_text(const proto::KvpValue& v) {
  return v.type == proto::KvpValueType::sz ? v.text : std::to_string(v.number);
}

control::Response kvp_response(const host::KvpResult& k) {
  control::Response r;
  auto* out = r.mutable_kvp();
  out->set_status(k.status);
  if (k.value) out->set_value(value_text(*k.value));
  if (k.entry) {
    out->set_key(k.entry->key);
    out->set_value(value_text(k.entry->value));
  }
  if (k.ip) {
    out->set_adapter_id(k.ip->adapter_id);
    out->set_ip_addresses(k.ip->ip_addr);
    out->set_subnets(k.ip->sub_net);
    out->set_gateways(k.ip->gate_way);
    out->set_dns(k.ip->dns_addr);
    out->set_dhcp(k.ip->dhcp_enabled != 0);
  }
  return r;
}

// One fcopy transfer: START, WRITE fragments, then COMPLETE (or CANCEL after
// cancel_after_bytes), stopping at the first step the guest fails.
struct FcopyJob : std::enable_shared_from_this<FcopyJob> {
  host::FcopyDevice* dev = nullptr;
  control::FcopyRequest req;
  Reply reply;
  std::uint64_t sent = 0;

  void finish(const std::string& step, std::uint32_t status) {
    control::Response r;
    auto* f = r.mutable_fcopy();
    f->set_status(status);
    f->set_failed_step(status == proto::kHvSOk ? "" : step);
    f->set_bytes_sent(sent);
    reply(r);
  }
  // Runs `next` if the step succeeded; finishes the request otherwise.
  host::Done<std::uint32_t> then(const std::string& step, std::function<void()> next) {
    auto self = shared_from_this();
    return [self, step, next = std::move(next)](host::Result<std::uint32_t> r) {
      if (!r) return self->reply(control_error("fcopy " + step + ": " + r.message()));
      if (r.value() != proto::kHvSOk) return self->finish(step, r.value());
      next();
    };
  }
  void start() {
    std::uint32_t flags =
        (req.overwrite() ? proto::kFcopyOverWrite : 0) | (req.create_path() ? proto::kFcopyCreatePath : 0);
    auto self = shared_from_this();
    dev->start(req.file_name(), req.path(), flags, req.data().size(),
               then("start", [self] { self->write_next(); }));
  }
  void write_next() {
    const std::string& data = req.data();
    std::uint64_t stop =
        req.cancel() ? std::min<std::uint64_t>(req.cancel_after_bytes(), data.size()) : data.size();
    auto self = shared_from_this();
    if (sent >= stop) {
      if (req.cancel()) return dev->cancel(then("cancel", [self] { self->finish("cancel", proto::kHvSOk); }));
      return dev->complete(then("complete", [self] { self->finish("complete", proto::kHvSOk); }));
    }
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(stop - sent, proto::kFcopyDataFragment));
    proto::ByteSpan chunk(reinterpret_cast<const std::byte*>(data.data()) + sent, n);
    std::uint64_t offset = sent;
    sent += n;
    dev->write(offset, chunk, then("write", [self] { self->write_next(); }));
  }
};

template <class T>
T* add(host::ChannelManager& m, std::unique_ptr<T> d) {
  T* raw = d.get();
  m.add_device(std::move(d));
  return raw;
}

// A request's timeout_ms, or the device's default when the request has none.
host::Clock::duration timeout_or(std::uint32_t ms, host::Clock::duration fallback) {
  return ms != 0 ? host::Clock::duration(std::chrono::milliseconds(ms)) : fallback;
}

}  // namespace

Devices::Devices(host::ChannelManager& manager, const ServeOptions& o, host::Clock::time_point qemu_started,
                 std::function<std::optional<std::uint64_t>()> guest_reference_time)
    : manager_(manager) {
  host::HeartbeatOptions hb;
  hb.period = std::chrono::milliseconds(o.heartbeat_ms);
  heartbeat_ = add(manager, std::make_unique<host::HeartbeatDevice>(hb));
  shutdown_ = add(manager, std::make_unique<host::ShutdownDevice>());
  host::TimesyncOptions ts;
  // Linux sets its clock to parenttime + (its reference time now -
  // vmreferencetime): the guest's own reference time, which QEMU tells the
  // relay. Until QEMU has answered, time since QEMU started, which runs
  // ahead of it by QEMU's start-up (0.5-0.8 s measured under load).
  ts.reference_clock = [qemu_started, ref = std::move(guest_reference_time)] {
    if (ref) {
      if (auto t = ref()) return *t;
    }
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(host::Clock::now() - qemu_started).count() /
        100);
  };
  ts.period = std::chrono::milliseconds(o.timesync_ms);
  timesync_ = add(manager, std::make_unique<host::TimesyncDevice>(ts));
  kvp_ = add(manager, std::make_unique<host::KvpDevice>());
  vss_ = add(manager, std::make_unique<host::VssDevice>());
  host::FcopyOptions fo;
  fo.guest = o.fcopy_uio ? host::FcopyGuest::uio_daemon : host::FcopyGuest::kernel_driver;
  fcopy_ = add(manager, std::make_unique<host::FcopyDevice>(fo));
  for (host::IcDevice* d :
       std::initializer_list<host::IcDevice*>{heartbeat_, shutdown_, timesync_, kvp_, vss_, fcopy_}) {
    ics_[d->identity().name] = {d, d->options().framework_versions, d->options().message_versions};
  }
}

control::Response Devices::set_ic_versions(const control::SetIcVersions& req) {
  auto it = ics_.find(req.name());
  if (it == ics_.end()) {
    std::string names;
    for (const auto& [name, ic] : ics_) names += (names.empty() ? "" : ", ") + name;
    return control_error("set_ic_versions: no integration component named \"" + req.name() + "\" (" + names +
                         ")");
  }
  Ic& ic = it->second;
  auto framework =
      parse_ic_versions({req.framework().begin(), req.framework().end()}, req.name() + " framework");
  if (!framework) return control_error("set_ic_versions: " + framework.message());
  auto message = parse_ic_versions({req.message().begin(), req.message().end()}, req.name() + " message");
  if (!message) return control_error("set_ic_versions: " + message.message());
  ic.device->set_offered_versions(framework->empty() ? ic.default_framework : std::move(framework).value(),
                                  message->empty() ? ic.default_message : std::move(message).value());
  control::Response r;
  auto* out = r.mutable_ic_versions();
  out->set_name(req.name());
  for (const auto& v : ic.device->options().framework_versions) out->add_framework(host::to_string(v));
  for (const auto& v : ic.device->options().message_versions) out->add_message(host::to_string(v));
  return r;
}

bool Devices::usable(const host::IcDevice& d, Reply& reply) const {
  if (d.ready()) return true;
  std::string state = "not offered";
  for (const auto& c : manager_.channels()) {
    if (c.name == d.identity().name) state = c.state;
  }
  std::string why = state != "open" ? "the channel is " + state
                                    : "version negotiation has not finished" +
                                          (d.failure().empty() ? std::string() : " (" + d.failure() + ")");
  reply(control_error(d.identity().name + ": " + why));
  return false;
}

void Devices::handle(const control::Request& req, Reply reply) {
  switch (req.op_case()) {
    case control::Request::kHeartbeat: {
      control::Response r;
      auto* hb = r.mutable_heartbeat();
      hb->set_requests(heartbeat_->count() + heartbeat_->missed());
      hb->set_answers(heartbeat_->count());
      for (const auto& s : heartbeat_->history()) {
        if (!s.received) continue;
        hb->add_sequence(*s.received);
        hb->add_latency_us(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(s.latency).count()));
      }
      return reply(r);
    }
    case control::Request::kShutdown: {
      if (!usable(*shutdown_, reply)) return;
      const auto& s = req.shutdown();
      auto action = s.action() == control::ShutdownRequest::REBOOT      ? proto::ShutdownAction::reboot
                    : s.action() == control::ShutdownRequest::HIBERNATE ? proto::ShutdownAction::hibernate
                                                                        : proto::ShutdownAction::shutdown;
      shutdown_->set_timeout(timeout_or(s.timeout_ms(), host::ShutdownDevice::kDefaultTimeout));
      auto* dev = shutdown_;
      return shutdown_->request(action, s.force(), [dev, reply](host::Result<std::uint32_t> r) {
        reply(r ? ic_response(*dev, r.value()) : control_error(r.message()));
      });
    }
    case control::Request::kTimesync: {
      if (!usable(*timesync_, reply)) return;
      const auto& t = req.timesync();
      timesync_->set_offset(t.host_offset_ns() / 100);
      timesync_->set_timeout(timeout_or(t.timeout_ms(), host::TimesyncOptions{}.timeout));
      auto* dev = timesync_;
      auto done = [dev, reply](host::Result<host::TimesyncResult> r) {
        reply(r ? ic_response(*dev, r.value().status) : control_error(r.message()));
      };
      return t.kind() == control::TimesyncRequest::SAMPLE ? timesync_->sample(done) : timesync_->sync(done);
    }
    case control::Request::kKvp: {
      if (!usable(*kvp_, reply)) return;
      const auto& k = req.kvp();
      if (k.pool() > 4)
        return reply(control_error("kvp: pool " + std::to_string(k.pool()) + " does not exist (0..4)"));
      auto pool = static_cast<proto::KvpPool>(k.pool());
      kvp_->set_timeout(timeout_or(k.timeout_ms(), host::KvpOptions{}.timeout));
      auto done = [reply](host::Result<host::KvpResult> r) {
        reply(r ? kvp_response(r.value()) : control_error(r.message()));
      };
      switch (k.op()) {
        case control::KvpRequest::GET:
          return kvp_->get(pool, k.key(), done);
        case control::KvpRequest::SET:
          return kvp_->set(pool, k.key(), proto::KvpValue::string(k.value()), done);
        case control::KvpRequest::DELETE:
          return kvp_->del(pool, k.key(), done);
        case control::KvpRequest::ENUMERATE:
          return kvp_->enumerate(pool, k.index(), done);
        case control::KvpRequest::GET_IP_INFO:
          return kvp_->get_ip_info(k.adapter_id(), proto::kKvpAddrFamilyIpv4 | proto::kKvpAddrFamilyIpv6,
                                   done);
        case control::KvpRequest::SET_IP_INFO: {
          proto::KvpIpAddress ip;
          ip.adapter_id = k.adapter_id();
          ip.addr_family = proto::kKvpAddrFamilyIpv4;
          ip.dhcp_enabled = k.dhcp() ? 1 : 0;
          ip.ip_addr = k.ip_addresses();
          ip.sub_net = k.subnets();
          ip.gate_way = k.gateways();
          ip.dns_addr = k.dns();
          return kvp_->set_ip_info(std::move(ip), done);
        }
        default:
          return reply(control_error("kvp: unknown operation " + std::to_string(k.op())));
      }
    }
    case control::Request::kVss: {
      if (!usable(*vss_, reply)) return;
      const host::VssOptions defaults;
      const auto ms = req.vss().timeout_ms();
      vss_->set_timeouts(timeout_or(ms, defaults.timeout), timeout_or(ms, defaults.freeze_timeout));
      auto* dev = vss_;
      auto done = [dev, reply](host::Result<host::VssResult> r) {
        reply(r ? ic_response(*dev, r.value().status) : control_error(r.message()));
      };
      switch (req.vss().op()) {
        case control::VssRequest::FREEZE:
          return vss_->freeze(done);
        case control::VssRequest::THAW:
          return vss_->thaw(done);
        case control::VssRequest::HOT_BACKUP:
          return vss_->hot_backup(done);
        default:
          return reply(control_error("vss: unknown operation"));
      }
    }
    case control::Request::kSetIcVersions:
      return reply(set_ic_versions(req.set_ic_versions()));
    case control::Request::kFcopy: {
      if (!usable(*fcopy_, reply)) return;
      fcopy_->set_timeout(timeout_or(req.fcopy().timeout_ms(), host::FcopyOptions{}.timeout));
      auto job = std::make_shared<FcopyJob>();
      job->dev = fcopy_;
      job->req = req.fcopy();
      job->reply = std::move(reply);
      return job->start();
    }
    default:
      return reply(control_error("control: request without an operation, or one this serve does not know"));
  }
}

}  // namespace vmbh::cli
