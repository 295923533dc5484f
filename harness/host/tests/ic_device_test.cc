#include "vmbh/host/ic_device.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "fake_channel_io.h"
#include "linux_ic_guest.h"
#include "vmbh/host/class_ids.h"
#include "vmbh/protocols/heartbeat.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using proto::IcVersion;
using testing::FakeChannelIo;
using testing::LinuxIcGuest;
using testing::LinuxService;

// A fake clock shared by the device and the test's on_tick calls.
struct TestClock {
  Clock::time_point t = Clock::time_point{} + 1000h;
  std::function<Clock::time_point()> fn() {
    return [this] { return t; };
  }
};

IcDeviceOptions heartbeat_options() {
  IcDeviceOptions o;
  o.framework_versions = default_ic_framework_versions();
  o.message_versions = {proto::kLinuxHeartbeatVersions.begin(), proto::kLinuxHeartbeatVersions.end()};
  o.negotiate_timeout = 5s;
  return o;
}

class IcDeviceTest : public ::testing::Test {
 protected:
  IcDeviceTest()
      : dev_(DeviceIdentity{"hb", class_ids::heartbeat(), class_ids::heartbeat()},
             proto::IcMsgType::heartbeat, heartbeat_options()),
        guest_(dev_, io_, LinuxService::heartbeat) {
    dev_.set_clock(clock_.fn());
  }

  proto::Bytes heartbeat_body(std::uint64_t seq) {
    return proto::encode_to_bytes(proto::HeartbeatMsg{seq, {}});
  }
  // Sends a heartbeat request and records its outcome in `out`.
  void beat(std::uint64_t seq, std::optional<Result<IcReply>>& out, Clock::duration timeout = 1s) {
    dev_.send_request(proto::IcMsgType::heartbeat, heartbeat_body(seq), timeout,
                      [&out](Result<IcReply> r) { out.emplace(std::move(r)); });
  }
  void open_and_negotiate() {
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(guest_.last_status.ok()) << guest_.last_status.message();
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }
  static std::uint64_t seq_of(const IcReply& r) {
    auto m = proto::decode_heartbeat(r.body);
    return m.ok() ? m->seq_num : ~0ull;
  }

  TestClock clock_;
  FakeChannelIo io_;
  IcDevice dev_;
  LinuxIcGuest guest_;
};

TEST_F(IcDeviceTest, OpenSendsTheNegotiateOfferAndRecordsLinuxsChoice) {
  dev_.on_open(io_);
  ASSERT_EQ(io_.sent.size(), 1u);
  auto expected =
      proto::host_negotiate_offer(proto::kLinuxUtilFrameworkVersions, proto::kLinuxHeartbeatVersions);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(io_.sent[0].payload, *expected);
  EXPECT_EQ(dev_.state(), IcState::negotiating);
  ASSERT_EQ(guest_.answer_all(), 1u);
  EXPECT_TRUE(guest_.last_status.ok()) << guest_.last_status.message();
  EXPECT_EQ(dev_.state(), IcState::ready);
  EXPECT_EQ(dev_.framework_version(), (IcVersion{3, 0}));
  EXPECT_EQ(dev_.message_version(), (IcVersion{3, 0}));
  auto facts = dev_.facts();
  EXPECT_NE(std::find(facts.begin(), facts.end(), DeviceFacts::value_type{"framework_version", "3.0"}),
            facts.end());
  EXPECT_NE(std::find(facts.begin(), facts.end(), DeviceFacts::value_type{"message_version", "3.0"}),
            facts.end());
  EXPECT_TRUE(io_.noted("negotiated framework 3.0, message 3.0"));
}

TEST_F(IcDeviceTest, OldOnlyOffersAreAcceptedByLinux) {
  dev_.set_offered_versions({{1, 0}}, {{1, 0}});
  open_and_negotiate();
  EXPECT_EQ(dev_.framework_version(), (IcVersion{1, 0}));
  EXPECT_EQ(dev_.message_version(), (IcVersion{1, 0}));
  std::optional<Result<IcReply>> r;
  beat(41, r);
  guest_.answer_all();
  ASSERT_TRUE(r && r->ok()) << (r ? r->message() : "no answer");
  EXPECT_EQ(seq_of(r->value()), 42u);
  // The request carried the negotiated versions.
  auto m = proto::decode_ic_message(io_.sent.back().payload);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.icverframe, (IcVersion{1, 0}));
  EXPECT_EQ(m->header.icvermsg, (IcVersion{1, 0}));
}

TEST_F(IcDeviceTest, NoCommonVersionFailsNegotiationAndEveryRequest) {
  dev_.set_offered_versions({{3, 0}}, {{9, 9}});
  dev_.on_open(io_);
  std::optional<Result<IcReply>> queued;
  beat(1, queued);  // waits for the negotiation
  EXPECT_FALSE(queued.has_value());
  std::optional<Status> waited;
  dev_.when_negotiated([&](const Status& s) { waited = s; });
  guest_.answer_all();
  EXPECT_TRUE(guest_.last_status.ok()) << "a refusal is an answer, not a malformed packet";
  EXPECT_EQ(dev_.state(), IcState::failed);
  EXPECT_NE(dev_.failure().find("accepted none of the offered versions (framework [3.0], message [9.9])"),
            std::string::npos)
      << dev_.failure();
  ASSERT_TRUE(queued.has_value());
  ASSERT_FALSE(queued->ok());
  EXPECT_NE(queued->message().find("negotiation failed"), std::string::npos) << queued->message();
  ASSERT_TRUE(waited.has_value());
  EXPECT_FALSE(waited->ok());
  std::optional<Result<IcReply>> later;
  beat(2, later);
  ASSERT_TRUE(later.has_value());
  EXPECT_FALSE(later->ok());
  EXPECT_EQ(io_.sent.size(), 1u) << "nothing is sent after a failed negotiation";
}

TEST_F(IcDeviceTest, TooManyOfferedVersionsFailWithoutSending) {
  dev_.set_offered_versions(std::vector<IcVersion>(101, IcVersion{3, 0}), {{3, 0}});
  dev_.on_open(io_);
  EXPECT_EQ(dev_.state(), IcState::failed);
  EXPECT_TRUE(io_.sent.empty());
  EXPECT_NE(dev_.failure().find("negotiate.icframe_vercnt"), std::string::npos) << dev_.failure();
}

TEST_F(IcDeviceTest, GuestChoosingAVersionThatWasNotOfferedFails) {
  dev_.on_open(io_);
  auto reply = guest_.answer_for(0);
  ASSERT_TRUE(reply);
  // Framework slot := 2.0 (offered: 3.0, 1.0).
  proto::store_u32(*reply, proto::kIcMessageHeaderSize + 8, 2);
  EXPECT_TRUE(testing::deliver(dev_, *reply, io_.sent[0].trans_id).ok());
  EXPECT_EQ(dev_.state(), IcState::failed);
  EXPECT_NE(dev_.failure().find("framework version 2.0, which was not offered"), std::string::npos)
      << dev_.failure();
}

TEST_F(IcDeviceTest, RequestsBeforeNegotiationAreSentAfterIt) {
  dev_.on_open(io_);
  std::optional<Result<IcReply>> r;
  beat(7, r);
  EXPECT_EQ(io_.sent.size(), 1u) << "only the negotiate offer before the answer";
  guest_.answer_all();  // negotiate answer -> heartbeat goes out -> answered too
  ASSERT_TRUE(r && r->ok()) << (r ? r->message() : "no answer");
  EXPECT_EQ(seq_of(r->value()), 8u);
  EXPECT_EQ(r->value().status, proto::kHvSOk);
}

TEST_F(IcDeviceTest, AnswersAreMatchedByTransactionId) {
  open_and_negotiate();
  std::optional<Result<IcReply>> a, b;
  beat(100, a);
  beat(200, b);
  ASSERT_EQ(io_.sent.size(), 3u) << "not serialized: both in flight";
  auto ans_b = guest_.answer_for(2);
  auto ans_a = guest_.answer_for(1);
  ASSERT_TRUE(ans_a && ans_b);
  EXPECT_NE(io_.sent[1].trans_id, io_.sent[2].trans_id);
  EXPECT_TRUE(testing::deliver(dev_, *ans_b, io_.sent[2].trans_id).ok());
  ASSERT_TRUE(b && b->ok());
  EXPECT_FALSE(a.has_value());
  EXPECT_EQ(seq_of(b->value()), 201u);
  EXPECT_TRUE(testing::deliver(dev_, *ans_a, io_.sent[1].trans_id).ok());
  ASSERT_TRUE(a && a->ok());
  EXPECT_EQ(seq_of(a->value()), 101u);
}

TEST_F(IcDeviceTest, SerializedDevicesKeepOneRequestInFlight) {
  auto o = heartbeat_options();
  o.serialize = true;
  IcDevice dev({"ser", class_ids::kvp(), class_ids::kvp()}, proto::IcMsgType::heartbeat, o);
  dev.set_clock(clock_.fn());
  FakeChannelIo io;
  LinuxIcGuest guest(dev, io, LinuxService::heartbeat);
  dev.on_open(io);
  guest.answer_all();
  ASSERT_TRUE(dev.ready());
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t s : {1, 2, 3}) {
    dev.send_request(proto::IcMsgType::heartbeat, heartbeat_body(s), 1s, [&](Result<IcReply> r) {
      ASSERT_TRUE(r.ok());
      seqs.push_back(seq_of(*r));
    });
  }
  EXPECT_EQ(io.sent.size(), 2u) << "negotiate + the first request";
  EXPECT_EQ(dev.pending(), 3u);
  while (guest.answer_all() != 0) {
  }
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(io.sent.size(), 4u);
}

TEST_F(IcDeviceTest, TimeoutFailsTheRequestAndALateAnswerIsOnlyNoted) {
  open_and_negotiate();
  std::optional<Result<IcReply>> r;
  beat(5, r, 1500ms);
  clock_.t += 1499ms;
  dev_.on_tick(clock_.t);
  EXPECT_FALSE(r.has_value());
  clock_.t += 1ms;
  dev_.on_tick(clock_.t);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->message(), "timeout: hb did not answer heartbeat within 1500 ms");
  EXPECT_EQ(guest_.answer_all(), 1u);
  EXPECT_TRUE(guest_.last_status.ok()) << guest_.last_status.message();
  EXPECT_TRUE(io_.noted("late answer"));
  // Still working.
  std::optional<Result<IcReply>> again;
  beat(9, again);
  guest_.answer_all();
  ASSERT_TRUE(again && again->ok());
}

TEST_F(IcDeviceTest, NegotiationTimeoutFailsTheDevice) {
  dev_.on_open(io_);
  std::optional<Status> waited;
  dev_.when_negotiated([&](const Status& s) { waited = s; });
  clock_.t += 5s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(dev_.state(), IcState::failed);
  EXPECT_NE(dev_.failure().find("timeout: hb did not answer negotiate within 5000 ms"), std::string::npos)
      << dev_.failure();
  ASSERT_TRUE(waited && !waited->ok());
}

TEST_F(IcDeviceTest, CloseFailsEverythingPendingWithTheReason) {
  dev_.on_open(io_);
  std::optional<Result<IcReply>> queued;
  beat(1, queued);
  std::optional<Status> waited;
  dev_.when_negotiated([&](const Status& s) { waited = s; });
  dev_.on_close("guest closed the channel");
  ASSERT_TRUE(queued && !queued->ok());
  EXPECT_EQ(queued->message(), "hb: channel closed: guest closed the channel");
  ASSERT_TRUE(waited && !waited->ok());
  EXPECT_EQ(dev_.state(), IcState::closed);
  EXPECT_EQ(dev_.pending(), 0u);
  // After close: immediate failure, and a reopen negotiates again.
  std::optional<Result<IcReply>> closed;
  beat(2, closed);
  ASSERT_TRUE(closed && !closed->ok());
  EXPECT_NE(closed->message().find("not open"), std::string::npos);
  FakeChannelIo io2;
  LinuxIcGuest guest2(dev_, io2, LinuxService::heartbeat);
  dev_.on_open(io2);
  guest2.answer_all();
  EXPECT_TRUE(dev_.ready());
}

TEST_F(IcDeviceTest, CloseWithRequestsInFlight) {
  open_and_negotiate();
  std::optional<Result<IcReply>> a;
  beat(1, a);
  dev_.on_close("rescind");
  ASSERT_TRUE(a && !a->ok());
  EXPECT_EQ(a->message(), "hb: channel closed: rescind");
  EXPECT_FALSE(dev_.on_packet(proto::PacketView{}).ok());
}

TEST_F(IcDeviceTest, MalformedAnswersNameTheFieldFailTheRequestAndTheDeviceKeepsWorking) {
  open_and_negotiate();
  std::optional<Result<IcReply>> r;
  beat(1, r);
  const std::uint64_t id = io_.sent.back().trans_id;
  // 20 bytes: shorter than the pipe + IC headers.
  proto::Bytes short_packet(20, std::byte{0});
  Status s = testing::deliver(dev_, short_packet, id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("hb: malformed guest packet: ic_header"), std::string::npos) << s.message();
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->message(), s.message());

  std::optional<Result<IcReply>> r2;
  beat(2, r2);
  auto good = guest_.answer_for(io_.sent.size() - 1);
  ASSERT_TRUE(good);
  proto::Bytes bad_size = *good;
  proto::store_u32(bad_size, 8 + 10, 0xFFFF);  // icmsgsize (and status low half) past the end
  s = testing::deliver(dev_, bad_size, io_.sent.back().trans_id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ic_header.icmsgsize"), std::string::npos) << s.message();

  std::optional<Result<IcReply>> r3;
  beat(3, r3);
  guest_.drop_all();
  auto a3 = guest_.answer_for(io_.sent.size() - 1);
  ASSERT_TRUE(a3);
  s = testing::deliver(dev_, *a3, 0xABCDEF);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("trans_id 0xabcdef matches no pending request"), std::string::npos)
      << s.message();
  EXPECT_FALSE(r3.has_value()) << "an unmatched answer does not touch the pending request";
  proto::Bytes not_response = *a3;
  not_response[testing::kIcFlagsOffset] = std::byte{proto::kIcFlagsHostRequest};
  s = testing::deliver(dev_, not_response, io_.sent.back().trans_id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("without the response bit"), std::string::npos) << s.message();
  ASSERT_TRUE(r3 && !r3->ok());

  std::optional<Result<IcReply>> r4;
  beat(4, r4);
  auto a4 = guest_.answer_for(io_.sent.size() - 1);
  ASSERT_TRUE(a4);
  (*a4)[8 + 4] = std::byte{static_cast<std::uint8_t>(proto::IcMsgType::shutdown)};
  s = testing::deliver(dev_, *a4, io_.sent.back().trans_id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("guest answered heartbeat with message type 3 (shutdown)"), std::string::npos)
      << s.message();

  std::optional<Result<IcReply>> r5;
  beat(5, r5);
  auto a5 = guest_.answer_for(io_.sent.size() - 1);
  s = testing::deliver(dev_, *a5, io_.sent.back().trans_id, proto::PacketType::completion);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("packet of type 11"), std::string::npos) << s.message();

  // And a well-formed exchange still works.
  guest_.drop_all();
  std::optional<Result<IcReply>> ok;
  beat(10, ok);
  guest_.answer_all();
  ASSERT_TRUE(ok && ok->ok()) << (ok ? ok->message() : "none");
  EXPECT_EQ(seq_of(ok->value()), 11u);
  auto facts = dev_.facts();
  EXPECT_NE(std::find(facts.begin(), facts.end(), DeviceFacts::value_type{"malformed", "6"}), facts.end());
}

TEST_F(IcDeviceTest, MalformedNegotiateAnswerFailsNegotiation) {
  dev_.on_open(io_);
  auto reply = guest_.answer_for(0);
  ASSERT_TRUE(reply);
  proto::store_u32(*reply, proto::kIcMessageHeaderSize, 0x00020002);  // counts 2/2
  Status s = testing::deliver(dev_, *reply, io_.sent[0].trans_id);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("negotiate_response.icframe_vercnt"), std::string::npos) << s.message();
  EXPECT_EQ(dev_.state(), IcState::failed);
}

TEST_F(IcDeviceTest, RefusedSendsAreRetriedOnTheNextTick) {
  open_and_negotiate();
  io_.refuse_sends = 2;
  std::optional<Result<IcReply>> r;
  beat(1, r, 10s);
  EXPECT_EQ(io_.sent.size(), 1u);
  EXPECT_TRUE(io_.noted("cannot send heartbeat yet: fake: ring full"));
  dev_.on_tick(clock_.t);
  EXPECT_EQ(io_.sent.size(), 1u);
  dev_.on_tick(clock_.t);
  EXPECT_EQ(io_.sent.size(), 2u);
  guest_.answer_all();
  ASSERT_TRUE(r && r->ok());
}

TEST_F(IcDeviceTest, QueuedRequestsTimeOutWhileTheRingStaysFull) {
  open_and_negotiate();
  io_.refuse_sends = 1000;
  std::optional<Result<IcReply>> r;
  beat(1, r, 2s);
  clock_.t += 2s;
  dev_.on_tick(clock_.t);
  ASSERT_TRUE(r && !r->ok());
  EXPECT_EQ(r->message(), "timeout: hb did not answer heartbeat within 2000 ms");
}

TEST_F(IcDeviceTest, InOrderMatchingAcceptsAnyTransId) {
  auto o = heartbeat_options();
  o.serialize = true;
  o.match = ReplyMatch::in_order;
  IcDevice dev({"uio", class_ids::fcopy(), class_ids::fcopy_uio_instance()}, proto::IcMsgType::heartbeat, o);
  FakeChannelIo io;
  dev.on_open(io);
  auto a = LinuxIcGuest(dev, io, LinuxService::heartbeat).answer_for(0);
  ASSERT_TRUE(a);
  EXPECT_TRUE(testing::deliver(dev, *a, testing::kUioTransId).ok());
  EXPECT_TRUE(dev.ready());
  EXPECT_TRUE(io.noted("in-order matching"));
  // Nothing in flight: an answer matches nothing.
  EXPECT_FALSE(testing::deliver(dev, *a, testing::kUioTransId).ok());
}

TEST_F(IcDeviceTest, HresultNames) {
  EXPECT_EQ(hresult_string(0x80004005), "0x80004005 (HV_E_FAIL)");
  EXPECT_EQ(hresult_string(0x80070103), "0x80070103 (HV_S_CONT)");
  EXPECT_EQ(hresult_string(0x12345678), "0x12345678");
}

}  // namespace
}  // namespace vmbh::host
