// The host side shared by every integration component (heartbeat, shutdown,
// timesync, KVP, VSS, fcopy): the version negotiation that starts each IC
// channel, then host requests answered by the guest in place.
//
// On open the device sends the negotiate request (host_negotiate_offer) and
// records what the guest chose. Requests made before the answer wait in a
// queue; after a failed negotiation they fail. Each request gets its own
// packet trans_id, which Linux's drivers echo in the answer (the 6.12 fcopy
// uio daemon does not: ReplyMatch::in_order). Deadlines run from the moment
// send_request is called and are checked in on_tick.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vmbh/host/device.h"
#include "vmbh/protocols/ic.h"

namespace vmbh::host {

// How answers are paired with requests.
enum class ReplyMatch : std::uint8_t {
  trans_id,  // the answer's packet trans_id names the request (Linux kernel drivers)
  in_order,  // the answer belongs to the oldest request in flight, whatever its trans_id
};

struct IcDeviceOptions {
  // Offered in this order (host_negotiate_offer puts the first one in the IC header).
  std::vector<proto::IcVersion> framework_versions;
  std::vector<proto::IcVersion> message_versions;
  // Linux's KVP driver holds the negotiate packet until its daemon registers or
  // 55 s pass (HV_UTIL_NEGO_TIMEOUT), so the default leaves room for that.
  Clock::duration negotiate_timeout = std::chrono::seconds(70);
  // One request in flight at a time (KVP, VSS, fcopy: Linux does not even read
  // the ring while a transaction is open).
  bool serialize = false;
  ReplyMatch match = ReplyMatch::trans_id;
};

// The framework versions a Hyper-V host offers (Linux accepts 3.0 and 1.0).
std::vector<proto::IcVersion> default_ic_framework_versions();

// The guest's answer to a request.
struct IcReply {
  std::uint32_t status = 0;  // HRESULT from the IC header
  proto::IcHeader header;
  proto::Bytes body;  // icmsgsize bytes after the IC header
  Clock::duration latency{};
};

enum class IcState : std::uint8_t { closed, negotiating, ready, failed };
const char* to_string(IcState state);

class IcDevice : public Device {
 public:
  IcDevice(DeviceIdentity identity, proto::IcMsgType service, IcDeviceOptions options);
  ~IcDevice() override;
  IcDevice(const IcDevice&) = delete;
  IcDevice& operator=(const IcDevice&) = delete;

  const DeviceIdentity& identity() const override { return identity_; }
  void on_open(ChannelIo& io) override;
  Status on_packet(const proto::PacketView& packet) override;
  void on_close(const std::string& why) override;
  void on_tick(Clock::time_point now) override;
  DeviceFacts facts() const override;

  // Versions offered at the next on_open (e.g. only old ones). Lists over 100
  // entries make that negotiation fail.
  void set_offered_versions(std::vector<proto::IcVersion> framework, std::vector<proto::IcVersion> message);
  const IcDeviceOptions& options() const { return options_; }

  IcState state() const { return state_; }
  bool ready() const { return state_ == IcState::ready; }
  // Valid once ready.
  proto::IcVersion framework_version() const { return framework_version_; }
  proto::IcVersion message_version() const { return message_version_; }
  // Why negotiation failed or the channel closed ("" otherwise).
  const std::string& failure() const { return failure_; }
  // Called once negotiation ends (ok, or the reason it failed or the channel
  // closed); immediately if it already ended.
  void when_negotiated(DoneStatus done);

  // Sends one request of `type` with `body` (IC header with the negotiated
  // versions). `done` gets the guest's answer, or a failure: timeout, channel
  // closed, negotiation failed, malformed answer.
  // `label` names the request in messages ("GET", "freeze"; default: the type).
  void send_request(proto::IcMsgType type, proto::ByteSpan body, Clock::duration timeout, Done<IcReply> done,
                    std::string label = {});

  // Requests sent or queued and not answered yet.
  std::size_t pending() const { return queue_.size() + in_flight_.size(); }

  // Time source for deadlines and latencies (tests drive it by hand).
  void set_clock(std::function<Clock::time_point()> now) { now_ = std::move(now); }
  Clock::time_point now() const { return now_(); }

 protected:
  const std::string& name() const { return identity_.name; }
  proto::IcMsgType service() const { return service_; }
  // A note through the open channel (dropped when closed).
  void note(std::string message);
  // Hooks for subclasses.
  virtual void on_ready() {}
  virtual void on_channel_closed(const std::string& /*why*/) {}

 private:
  struct Request {
    std::uint64_t trans_id = 0;
    proto::IcMsgType type = proto::IcMsgType::negotiate;
    std::string label;
    proto::Bytes body;  // IC body; for negotiate the whole IC message
    Clock::time_point started;
    Clock::time_point sent;
    Clock::time_point deadline;
    Clock::duration timeout{};
    Done<IcReply> done;
  };

  void start_negotiation();
  Status check_negotiate_response(const proto::IcNegotiateResponse& r, std::uint32_t status) const;
  void finish_negotiation(const Status& result);
  void pump();
  bool send(Request& r);
  void complete(const Request& r, Result<IcReply> result);
  void fail_all(const std::string& why);
  std::string timeout_message(const Request& r) const;
  std::optional<std::uint64_t> match_reply(std::uint64_t trans_id) const;

  DeviceIdentity identity_;
  proto::IcMsgType service_;
  IcDeviceOptions options_;
  std::function<Clock::time_point()> now_;

  ChannelIo* io_ = nullptr;
  IcState state_ = IcState::closed;
  std::string failure_;
  proto::IcVersion framework_version_;
  proto::IcVersion message_version_;
  std::uint64_t next_trans_id_ = 1;
  std::vector<DoneStatus> negotiated_waiters_;

  std::deque<Request> queue_;  // not sent yet (waiting for negotiation, a slot or ring space)
  std::map<std::uint64_t, Request> in_flight_;  // by trans_id (ordered = oldest first)
  std::deque<std::uint64_t> timed_out_;         // recent trans_ids that timed out (late answers)
  bool send_blocked_noted_ = false;
  bool in_order_noted_ = false;

  // Counters for facts().
  std::uint64_t requests_ = 0;
  std::uint64_t answers_ = 0;
  std::uint64_t timeouts_ = 0;
  std::uint64_t malformed_ = 0;
  std::uint64_t opens_ = 0;
};

// "3.0"
std::string to_string(proto::IcVersion v);
// "0x80004005 (HV_E_FAIL)"
std::string hresult_string(std::uint32_t status);

}  // namespace vmbh::host
