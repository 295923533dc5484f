#include "vmbh/host/kvp_device.h"

#include <memory>
#include <utility>

#include "vmbh/host/class_ids.h"

namespace vmbh::host {

namespace {

proto::KvpPool pool_of(const proto::KvpMessage& m) {
  return std::visit([](const auto& v) { return v.pool; }, m);
}

std::string describe(const proto::KvpMessage& m) {
  std::string s = proto::to_string(proto::kvp_operation(m));
  const auto op = proto::kvp_operation(m);
  if (op != proto::KvpOperation::get_ip_info && op != proto::KvpOperation::set_ip_info) {
    s += std::string(" pool ") + proto::to_string(pool_of(m));
  }
  if (const auto* e = std::get_if<proto::KvpEnumerate>(&m)) s += " index " + std::to_string(e->index);
  return s;
}

}  // namespace

IcDeviceOptions KvpOptions::default_ic_options() {
  IcDeviceOptions o;
  o.framework_versions = default_ic_framework_versions();
  o.message_versions = {proto::kLinuxKvpVersions.begin(), proto::kLinuxKvpVersions.end()};
  o.serialize = true;
  return o;
}

DeviceIdentity KvpDevice::default_identity() { return {"kvp", class_ids::kvp(), class_ids::kvp()}; }

KvpDevice::KvpDevice(KvpOptions options, DeviceIdentity identity)
    : IcDevice(std::move(identity), proto::IcMsgType::kvp_exchange, options.ic),
      options_(std::move(options)) {}

void KvpDevice::get(proto::KvpPool pool, std::string key, Done<KvpResult> done) {
  request(proto::KvpGet{pool, std::move(key), {}}, std::move(done));
}
void KvpDevice::set(proto::KvpPool pool, std::string key, proto::KvpValue value, Done<KvpResult> done) {
  request(proto::KvpSet{pool, std::move(key), std::move(value)}, std::move(done));
}
void KvpDevice::del(proto::KvpPool pool, std::string key, Done<KvpResult> done) {
  request(proto::KvpDelete{pool, std::move(key)}, std::move(done));
}
void KvpDevice::enumerate(proto::KvpPool pool, std::uint32_t index, Done<KvpResult> done) {
  request(proto::KvpEnumerate{pool, index, std::nullopt}, std::move(done));
}
void KvpDevice::get_ip_info(std::string adapter_id, std::uint8_t addr_family, Done<KvpResult> done) {
  proto::KvpIpInfo m;
  m.operation = proto::KvpOperation::get_ip_info;
  m.ip.adapter_id = std::move(adapter_id);
  m.ip.addr_family = addr_family;
  request(m, std::move(done));
}
void KvpDevice::set_ip_info(proto::KvpIpAddress ip, Done<KvpResult> done) {
  proto::KvpIpInfo m;
  m.operation = proto::KvpOperation::set_ip_info;
  m.ip = std::move(ip);
  request(m, std::move(done));
}

void KvpDevice::request(const proto::KvpMessage& message, Done<KvpResult> done) {
  const std::string label = describe(message);
  auto body = proto::encode_kvp(message);
  if (!body.ok()) {
    done(Status::fail(name() + ": cannot encode " + label, body.error()));
    return;
  }
  ++operations_;
  send_request(
      proto::IcMsgType::kvp_exchange, *body, options_.timeout,
      [this, message, label, done = std::move(done)](Result<IcReply> r) {
        if (!r.ok()) {
          done(r.status());
          return;
        }
        last_ = label + ": " + hresult_string(r->status);
        auto res = interpret(message, *r);
        if (!res.ok()) note(res.message());
        done(std::move(res));
      },
      label);
}

Result<KvpResult> KvpDevice::interpret(const proto::KvpMessage& request, const IcReply& reply) const {
  KvpResult res;
  res.operation = proto::kvp_operation(request);
  res.status = reply.status;
  res.latency = reply.latency;
  // On an error Linux sends the request back as it came (or half-filled);
  // only the status means anything then.
  if (reply.status != proto::kHvSOk) return res;
  const std::string what = name() + ": malformed answer to " + describe(request);
  auto answer = proto::decode_kvp(reply.body);
  if (!answer.ok()) return Status::fail(what, answer.error());
  if (proto::kvp_operation(*answer) != res.operation) {
    return Status::fail(what + ": the guest answered operation " +
                        proto::to_string(proto::kvp_operation(*answer)));
  }
  if (const auto* g = std::get_if<proto::KvpGet>(&*answer)) {
    res.value = g->value;
  } else if (const auto* e = std::get_if<proto::KvpEnumerate>(&*answer)) {
    if (!e->entry) return Status::fail(what + ": S_OK without an entry");
    res.entry = e->entry;
  } else if (const auto* ip = std::get_if<proto::KvpIpInfo>(&*answer)) {
    if (res.operation == proto::KvpOperation::get_ip_info) res.ip = ip->ip;
  }
  return res;
}

void KvpDevice::enumerate_all(proto::KvpPool pool, Done<std::vector<proto::KvpEntry>> done) {
  enumerate_from(pool, 0, std::make_shared<std::vector<proto::KvpEntry>>(), std::move(done));
}

void KvpDevice::enumerate_from(proto::KvpPool pool, std::uint32_t index,
                               const std::shared_ptr<std::vector<proto::KvpEntry>>& acc,
                               Done<std::vector<proto::KvpEntry>> done) {
  if (index >= options_.enumerate_limit) {
    done(Status::fail(name() + ": pool " + proto::to_string(pool) + " has more than " +
                      std::to_string(options_.enumerate_limit) + " entries; stopped"));
    return;
  }
  enumerate(pool, index, [this, pool, index, acc, done = std::move(done)](Result<KvpResult> r) {
    if (!r.ok()) {
      done(r.status());
    } else if (r->status == proto::kHvSCont) {
      done(std::move(*acc));
    } else if (r->status != proto::kHvSOk) {
      done(Status::fail(name() + ": guest answered ENUMERATE pool " + proto::to_string(pool) + " index " +
                        std::to_string(index) + " with " + hresult_string(r->status)));
    } else {
      acc->push_back(*r->entry);
      enumerate_from(pool, index + 1, acc, done);
    }
  });
}

DeviceFacts KvpDevice::facts() const {
  DeviceFacts f = IcDevice::facts();
  f.emplace_back("operations", std::to_string(operations_));
  if (last_) f.emplace_back("last", *last_);
  return f;
}

}  // namespace vmbh::host
