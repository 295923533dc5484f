#include "vmbh/host/ic_device.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <utility>

namespace vmbh::host {

namespace {

constexpr std::size_t kTimedOutMemory = 64;  // late answers recognised per device

std::string version_list(const std::vector<proto::IcVersion>& vs) {
  std::string out = "[";
  for (std::size_t i = 0; i < vs.size(); ++i) out += (i ? ", " : "") + to_string(vs[i]);
  return out + "]";
}

std::string hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

}  // namespace

std::vector<proto::IcVersion> default_ic_framework_versions() {
  return {proto::kLinuxUtilFrameworkVersions.begin(), proto::kLinuxUtilFrameworkVersions.end()};
}

const char* to_string(IcState state) {
  switch (state) {
    case IcState::closed:
      return "closed";
    case IcState::negotiating:
      return "negotiating";
    case IcState::ready:
      return "ready";
    case IcState::failed:
      return "failed";
  }
  return "unknown";
}

std::string to_string(proto::IcVersion v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

std::string hresult_string(std::uint32_t status) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIx32, status);
  const char* name = proto::hresult_name(status);
  return name ? std::string(buf) + " (" + name + ")" : std::string(buf);
}

IcDevice::IcDevice(DeviceIdentity identity, proto::IcMsgType service, IcDeviceOptions options)
    : identity_(std::move(identity)),
      service_(service),
      options_(std::move(options)),
      now_([] { return Clock::now(); }) {}

IcDevice::~IcDevice() = default;

void IcDevice::set_offered_versions(std::vector<proto::IcVersion> framework,
                                    std::vector<proto::IcVersion> message) {
  options_.framework_versions = std::move(framework);
  options_.message_versions = std::move(message);
}

void IcDevice::note(std::string message) {
  if (io_ != nullptr) io_->note(std::move(message));
}

void IcDevice::on_open(ChannelIo& io) {
  if (io_ != nullptr) on_close("reopened without a close");
  io_ = &io;
  ++opens_;
  state_ = IcState::negotiating;
  failure_.clear();
  framework_version_ = {};
  message_version_ = {};
  timed_out_.clear();
  send_blocked_noted_ = false;
  in_order_noted_ = false;
  start_negotiation();
}

void IcDevice::start_negotiation() {
  auto offer = proto::host_negotiate_offer(options_.framework_versions, options_.message_versions);
  if (!offer.ok()) {
    finish_negotiation(Status::fail(name() + ": cannot build the negotiate offer", offer.error()));
    return;
  }
  note(name() + ": offering framework " + version_list(options_.framework_versions) + ", message " +
       version_list(options_.message_versions));
  Request r;
  r.trans_id = next_trans_id_++;
  r.type = proto::IcMsgType::negotiate;
  r.label = "negotiate";
  r.body = std::move(offer.value());
  r.started = now_();
  r.timeout = options_.negotiate_timeout;
  r.deadline = r.started + r.timeout;
  queue_.push_front(std::move(r));
  pump();
}

Status IcDevice::check_negotiate_response(const proto::IcNegotiateResponse& r, std::uint32_t status) const {
  const std::string st = status == proto::kHvSOk ? "" : ", status " + hresult_string(status);
  if (!r.accepted()) {
    return Status::fail(name() + ": guest accepted none of the offered versions (framework " +
                        version_list(options_.framework_versions) + ", message " +
                        version_list(options_.message_versions) + st + ")");
  }
  auto offered = [](const std::vector<proto::IcVersion>& l, proto::IcVersion v) {
    return std::find(l.begin(), l.end(), v) != l.end();
  };
  if (!offered(options_.framework_versions, r.framework)) {
    return Status::fail(name() + ": guest chose framework version " + to_string(r.framework) +
                        ", which was not offered");
  }
  if (!offered(options_.message_versions, r.message)) {
    return Status::fail(name() + ": guest chose message version " + to_string(r.message) +
                        ", which was not offered");
  }
  return {};
}

void IcDevice::finish_negotiation(const Status& result) {
  if (state_ == IcState::negotiating) {
    if (result.ok()) {
      state_ = IcState::ready;
      note(name() + ": negotiated framework " + to_string(framework_version_) + ", message " +
           to_string(message_version_));
    } else {
      state_ = IcState::failed;
      failure_ = result.message();
      note(failure_);
    }
  }
  auto waiters = std::move(negotiated_waiters_);
  negotiated_waiters_.clear();
  for (auto& w : waiters) w(result);
  if (state_ == IcState::ready) {
    on_ready();
    pump();
  } else if (state_ == IcState::failed) {
    fail_all(name() + ": negotiation failed: " + failure_);
  }
}

void IcDevice::when_negotiated(DoneStatus done) {
  if (state_ == IcState::ready) {
    done({});
  } else if (state_ == IcState::failed) {
    done(Status::fail(failure_));
  } else {
    negotiated_waiters_.push_back(std::move(done));
  }
}

void IcDevice::send_request(proto::IcMsgType type, proto::ByteSpan body, Clock::duration timeout,
                            Done<IcReply> done, std::string label) {
  if (label.empty()) label = proto::to_string(type);
  if (state_ == IcState::closed) {
    done(Status::fail(name() + ": cannot send " + label + ": the channel is not open"));
    return;
  }
  if (state_ == IcState::failed) {
    done(Status::fail(name() + ": cannot send " + label + ": negotiation failed: " + failure_));
    return;
  }
  Request r;
  r.trans_id = next_trans_id_++;
  r.type = type;
  r.label = std::move(label);
  r.body.assign(body.begin(), body.end());
  r.started = now_();
  r.timeout = timeout;
  r.deadline = r.started + timeout;
  r.done = std::move(done);
  ++requests_;
  queue_.push_back(std::move(r));
  pump();
}

bool IcDevice::send(Request& r) {
  proto::Bytes packet;
  if (r.type == proto::IcMsgType::negotiate) {
    packet = r.body;
  } else {
    const auto header = proto::make_ic_request_header(r.type, framework_version_, message_version_,
                                                      static_cast<std::uint8_t>(r.trans_id & 0xFF));
    packet = proto::encode_ic_message(header, r.body);
  }
  Status s = io_->send_inband(packet, r.trans_id, false);
  if (!s.ok()) {
    // A full ring is retried on the next tick until the deadline.
    if (!send_blocked_noted_) note(name() + ": cannot send " + r.label + " yet: " + s.message());
    send_blocked_noted_ = true;
    return false;
  }
  send_blocked_noted_ = false;
  r.sent = now_();
  return true;
}

void IcDevice::pump() {
  while (io_ != nullptr && !queue_.empty()) {
    Request& r = queue_.front();
    if (state_ != IcState::ready && r.type != proto::IcMsgType::negotiate) break;
    if ((options_.serialize || r.type == proto::IcMsgType::negotiate) && !in_flight_.empty()) break;
    if (!send(r)) break;
    const std::uint64_t id = r.trans_id;
    const bool negotiate = r.type == proto::IcMsgType::negotiate;
    in_flight_.emplace(id, std::move(r));
    queue_.pop_front();
    if (negotiate) break;  // nothing else goes out before the answer
  }
}

void IcDevice::complete(const Request& r, Result<IcReply> result) {
  if (r.type == proto::IcMsgType::negotiate) {
    finish_negotiation(result.ok() ? Status() : result.status());
    return;
  }
  if (result.ok()) ++answers_;
  r.done(std::move(result));
}

std::optional<std::uint64_t> IcDevice::match_reply(std::uint64_t trans_id) const {
  if (in_flight_.count(trans_id) != 0) return trans_id;
  if (options_.match == ReplyMatch::in_order && !in_flight_.empty()) return in_flight_.begin()->first;
  return std::nullopt;
}

Status IcDevice::on_packet(const proto::PacketView& packet) {
  if (io_ == nullptr) return Status::fail(name() + ": packet on a closed channel");
  const std::uint64_t trans_id = packet.desc.trans_id;
  const auto matched = match_reply(trans_id);
  // A malformed answer to a pending request fails that request at once
  // (rather than letting it time out) and is reported to the caller.
  auto reject = [&](Status s) {
    ++malformed_;
    note(s.message());
    if (matched) {
      auto node = in_flight_.extract(*matched);
      complete(node.mapped(), s);
      pump();
    }
    return s;
  };
  if (packet.desc.type != static_cast<std::uint16_t>(proto::PacketType::data_inband)) {
    return reject(Status::fail(name() + ": guest sent a packet of type " + std::to_string(packet.desc.type) +
                               "; IC answers are in-band packets (6)"));
  }
  auto m = proto::decode_ic_message(packet.payload);
  if (!m.ok()) return reject(Status::fail(name() + ": malformed guest packet", m.error()));
  if ((m->header.icflags & proto::kIcFlagResponse) == 0) {
    return reject(Status::fail(name() + ": guest packet has icflags " + std::to_string(m->header.icflags) +
                               " without the response bit (4)"));
  }
  if (!matched) {
    const bool late = std::find(timed_out_.begin(), timed_out_.end(), trans_id) != timed_out_.end();
    if (late) {
      note(name() + ": late answer for trans_id " + hex64(trans_id) + ", which already timed out");
      return {};
    }
    ++malformed_;
    Status s = Status::fail(name() + ": guest answer with trans_id " + hex64(trans_id) +
                            " matches no pending request");
    note(s.message());
    return s;
  }
  if (*matched != trans_id && !in_order_noted_) {
    in_order_noted_ = true;
    note(name() + ": answer with trans_id " + hex64(trans_id) + " taken as the answer to trans_id " +
         hex64(*matched) + " (in-order matching; noted once per open)");
  }
  const Request& req = in_flight_.at(*matched);
  if (m->header.icmsgtype != req.type) {
    return reject(Status::fail(name() + ": guest answered " + req.label + " with message type " +
                               std::to_string(static_cast<unsigned>(m->header.icmsgtype)) + " (" +
                               proto::to_string(m->header.icmsgtype) + ")"));
  }
  if (req.type == proto::IcMsgType::negotiate) {
    auto resp = proto::decode_ic_negotiate_response(m->body);
    if (!resp.ok()) return reject(Status::fail(name() + ": malformed negotiate answer", resp.error()));
    in_flight_.erase(*matched);
    Status verdict = check_negotiate_response(*resp, m->header.status);
    if (verdict.ok()) {
      framework_version_ = resp->framework;
      message_version_ = resp->message;
    }
    finish_negotiation(verdict);
    return {};
  }
  IcReply reply;
  reply.status = m->header.status;
  reply.header = m->header;
  reply.body.assign(m->body.begin(), m->body.end());
  auto node = in_flight_.extract(*matched);
  reply.latency = now_() - node.mapped().sent;
  if (reply.status != proto::kHvSOk) {
    note(name() + ": guest answered " + node.mapped().label + " with " + hresult_string(reply.status));
  }
  complete(node.mapped(), std::move(reply));
  pump();
  return {};
}

std::string IcDevice::timeout_message(const Request& r) const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.timeout).count();
  return "timeout: " + name() + " did not answer " + r.label + " within " + std::to_string(ms) + " ms";
}

void IcDevice::on_tick(Clock::time_point now) {
  if (io_ == nullptr) return;
  std::vector<Request> expired;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.deadline <= now) {
      timed_out_.push_back(it->first);
      if (timed_out_.size() > kTimedOutMemory) timed_out_.pop_front();
      expired.push_back(std::move(it->second));
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->deadline <= now) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& r : expired) {
    ++timeouts_;
    std::string msg = timeout_message(r);
    note(msg);
    complete(r, Status::fail(std::move(msg)));
  }
  pump();
}

void IcDevice::fail_all(const std::string& why) {
  std::vector<Request> all;
  for (auto& [id, r] : in_flight_) all.push_back(std::move(r));
  in_flight_.clear();
  for (auto& r : queue_) all.push_back(std::move(r));
  queue_.clear();
  for (auto& r : all) complete(r, Status::fail(why));
}

void IcDevice::on_close(const std::string& why) {
  if (io_ == nullptr) return;
  const std::string msg = name() + ": channel closed: " + why;
  io_->note(msg);
  io_ = nullptr;
  state_ = IcState::closed;
  failure_ = msg;
  fail_all(msg);
  // Waiters of a negotiation that never ran.
  auto waiters = std::move(negotiated_waiters_);
  negotiated_waiters_.clear();
  for (auto& w : waiters) w(Status::fail(msg));
  on_channel_closed(why);
}

DeviceFacts IcDevice::facts() const {
  DeviceFacts f;
  f.reserve(16);  // room for the subclasses' facts too: one allocation
  f.emplace_back("state", to_string(state_));
  if (state_ == IcState::ready) {
    f.emplace_back("framework_version", to_string(framework_version_));
    f.emplace_back("message_version", to_string(message_version_));
  }
  if (!failure_.empty()) f.emplace_back("failure", failure_);
  f.emplace_back("requests", std::to_string(requests_));
  f.emplace_back("answers", std::to_string(answers_));
  f.emplace_back("timeouts", std::to_string(timeouts_));
  f.emplace_back("malformed", std::to_string(malformed_));
  f.emplace_back("pending", std::to_string(pending()));
  f.emplace_back("opens", std::to_string(opens_));
  return f;
}

}  // namespace vmbh::host
