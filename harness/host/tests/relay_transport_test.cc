// RelayTransport against a test playing QEMU's vmbus-relay over a socketpair
// or a real unix socket, with a real RAM file.
#include "vmbh/host/relay_transport.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using proto::Bytes;

struct Recorder final : HostEvents {
  std::vector<std::string> log;
  void on_guest_message(std::uint32_t vp, std::uint32_t connection_id, std::uint32_t message_type,
                        proto::ByteSpan payload) override {
    log.push_back("message vp=" + std::to_string(vp) + " conn=" + std::to_string(connection_id) +
                  " type=" + std::to_string(message_type) + " size=" + std::to_string(payload.size()));
  }
  void on_guest_signal(std::uint32_t vp, std::uint32_t connection_id) override {
    log.push_back("signal vp=" + std::to_string(vp) + " conn=" + std::to_string(connection_id));
  }
  void on_guest_reset() override { log.push_back("reset"); }
  void on_transport_closed(const std::string& why) override { log.push_back("closed: " + why); }
};

class RelayTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmbh-relay-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ram_path_ = dir_ + "/guest.ram";
    const int fd = ::open(ram_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, off_t{128} * 1024), 0);
    // A marker in the second region's second page: gpa 0x101000 = file offset 0x11000.
    const char marker[] = "vmbh guest page";
    ASSERT_EQ(::pwrite(fd, marker, sizeof marker, 0x11000), static_cast<ssize_t>(sizeof marker));
    ::close(fd);
  }
  void TearDown() override {
    if (qemu_ >= 0) ::close(qemu_);
    std::filesystem::remove_all(dir_);
  }

  // Two regions: [0, 64K) at file 0 and [1M, 1M + 64K) at file 64K.
  static proto::RelayHello hello() {
    return proto::RelayHello{proto::kRelayVersion, 2, {{0, 0x10000, 0}, {0x100000, 0x10000, 0x10000}}};
  }

  void qemu_sends(const proto::RelayFrame& f) { qemu_writes(proto::encode_relay_frame(f)); }
  void qemu_writes(const Bytes& b) {
    ASSERT_EQ(::write(qemu_, b.data(), b.size()), static_cast<ssize_t>(b.size()));
  }
  // The next frame the host sent, as QEMU would read it.
  proto::RelayFrame qemu_reads() {
    std::byte buf[proto::kRelayMaxFrameSize];
    for (;;) {
      if (auto f = qemu_reader_.next()) {
        EXPECT_TRUE(f->ok()) << f->error().message();
        return f->ok() ? **f : proto::RelayFrame{};
      }
      const ssize_t n = ::read(qemu_, buf, sizeof buf);
      if (n <= 0) {
        ADD_FAILURE() << "host sent nothing";
        return {};
      }
      qemu_reader_.feed(proto::ByteSpan(buf, static_cast<std::size_t>(n)));
    }
  }

  // Whether the host sent anything QEMU has not read.
  bool host_sent_more() {
    if (qemu_reader_.buffered() > 0) return true;
    std::byte b;
    return ::recv(qemu_, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  // A transport over a socketpair, after QEMU's HELLO. A version 2 QEMU
  // reads the REF_TIME the host sends at once and, with `answer`, answers it
  // with kRefTime (taken by the next read).
  std::unique_ptr<RelayTransport> connected(bool answer = true,
                                            std::uint32_t version = proto::kRelayVersion) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    qemu_ = sv[1];
    proto::RelayHello h = hello();
    h.version = version;
    qemu_sends(h);
    auto t = RelayTransport::connect(sv[0], ram_path_, 2s);
    EXPECT_TRUE(t.ok()) << t.message();
    if (!t.ok()) return nullptr;
    t.value()->set_events(&rec_);
    t.value()->set_reply_timeout(500ms);
    if (version >= proto::kRelayRefTimeVersion) {
      EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayRefTime{1}));
      if (answer) qemu_sends(proto::RelayRefTimeAnswer{1, 0, kRefTime});
    }
    return std::move(t.value());
  }

  static constexpr std::uint64_t kRefTime = 123'456'789;

  Result<std::unique_ptr<RelayTransport>> connect_after(const Bytes& first_bytes, bool then_eof = false) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    qemu_ = sv[1];
    qemu_writes(first_bytes);
    if (then_eof) ::shutdown(qemu_, SHUT_WR);
    return RelayTransport::connect(sv[0], ram_path_, 200ms);
  }

  std::string dir_;
  std::string ram_path_;
  int qemu_ = -1;
  proto::RelayFrameReader qemu_reader_;
  Recorder rec_;
};

TEST_F(RelayTransportTest, HelloMapsGuestRamFromTheFile) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->hello(), hello());
  ASSERT_EQ(t->ram().regions().size(), 2u);
  EXPECT_EQ(t->ram().regions()[1].gpa, 0x100000u);
  EXPECT_EQ(t->ram().regions()[1].file_offset, 0x10000u);
  auto page = t->ram().map_range(0x101000, 4096);
  ASSERT_TRUE(page.ok()) << page.message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(page->bytes().data())), "vmbh guest page");
  // A GPA in neither region is refused.
  EXPECT_FALSE(t->ram().map_range(0x20000, 4096).ok());
  EXPECT_EQ(t->poll_fd() >= 0, true);
}

TEST_F(RelayTransportTest, ListenerAcceptsQemuAndTimesOutWithoutIt) {
  const std::string sock = dir_ + "/relay.sock";
  auto listener = RelayListener::listen(sock);
  ASSERT_TRUE(listener.ok()) << listener.message();

  auto none = listener->accept(ram_path_, 50ms);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.message(), "relay: QEMU did not connect to " + sock + " within 0.05 s");

  // QEMU's side: connect as a client, send HELLO.
  qemu_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(qemu_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  // Connected but no HELLO yet (QEMU still building the machine): the caller
  // chooses how long HELLO may take, independently of the accept timeout.
  auto late = listener->accept(ram_path_, 50ms, 300ms);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.message(), "relay: no HELLO from QEMU within 0.3 s");
  ::close(std::exchange(qemu_, -1));
  qemu_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(qemu_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  qemu_sends(hello());
  auto t = listener->accept(ram_path_, 2s);
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(t.value()->hello().vcpus, 2u);

  // The socket file goes with the listener.
  { RelayListener gone = std::move(listener.value()); }
  EXPECT_FALSE(std::filesystem::exists(sock));
}

TEST_F(RelayTransportTest, HandshakeFailuresSayWhat) {
  auto no_hello = connect_after(proto::encode_relay_frame(proto::RelayGuestReset{}));
  ASSERT_FALSE(no_hello.ok());
  EXPECT_EQ(no_hello.message(), "relay: QEMU's first frame is guest_reset, not hello");
  ::close(std::exchange(qemu_, -1));

  auto silent = connect_after({});
  ASSERT_FALSE(silent.ok());
  EXPECT_EQ(silent.message(), "relay: no HELLO from QEMU within 0.2 s");
  ::close(std::exchange(qemu_, -1));

  // HELLO places RAM past the end of the 128 KiB file.
  auto big = connect_after(proto::encode_relay_frame(proto::RelayHello{1, 1, {{0, 0x100000, 0}}}));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.message().find("has 0x20000 bytes"), std::string::npos) << big.message();
  ::close(std::exchange(qemu_, -1));

  auto garbage = connect_after(proto::bytes_of(0xff, 0, 0, 0, 0, 0, 0, 0));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.message(), "relay: malformed frame from QEMU: relay.type: unknown_type at offset 0");
  ::close(std::exchange(qemu_, -1));

  auto eof = connect_after(proto::bytes_of(1, 0, 0), true);
  ASSERT_FALSE(eof.ok());
  EXPECT_EQ(eof.message(), "QEMU closed the relay socket inside a frame (3 bytes buffered)");
}

TEST_F(RelayTransportTest, RegistrationWaitsForResultAndKeepsGuestFramesInOrder) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  // QEMU: a guest message races the answer.
  qemu_sends(proto::RelayGuestMessage{1, 1, 1, proto::bytes_of(3, 0, 0, 0, 0, 0, 0, 0)});
  qemu_sends(proto::RelayResult{proto::RelayType::add_message_connection, 4, 0});
  qemu_sends(proto::RelayGuestSignal{proto::kRelayVpUnknown, 0x10});
  ASSERT_TRUE(t->add_message_connection(4).ok());
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayAddMessageConnection{4}));
  EXPECT_TRUE(rec_.log.empty());  // delivered by dispatch, not inside the registration

  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_EQ(rec_.log,
            (std::vector<std::string>{"message vp=1 conn=1 type=1 size=8", "signal vp=4294967295 conn=16"}));
}

TEST_F(RelayTransportTest, RefusedAndUnansweredRegistrations) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayResult{proto::RelayType::add_event_connection, 0x10, -EEXIST});
  Status refused = t->add_event_connection(0x10);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), "relay: QEMU refused add_event_connection 0x10: File exists");
  EXPECT_GE(t->poll_fd(), 0);  // still usable

  qemu_sends(proto::RelayResult{proto::RelayType::remove_event_connection, 0x10, 0});
  EXPECT_TRUE(t->remove_event_connection(0x10).ok());
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayAddEventConnection{0x10}));
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayRemoveEventConnection{0x10}));

  // An answer for something else is a protocol violation.
  qemu_sends(proto::RelayResult{proto::RelayType::add_message_connection, 5, 0});
  Status wrong = t->add_message_connection(4);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.message(),
            "relay: QEMU answered add_message_connection 0x5 while add_message_connection 0x4 was awaited");
  EXPECT_EQ(t->poll_fd(), -1);
}

TEST_F(RelayTransportTest, UnansweredRegistrationTimesOut) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  t->set_reply_timeout(50ms);
  Status st = t->add_message_connection(1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "relay: QEMU did not answer add_message_connection 0x1 within 0.05 s");
  ASSERT_EQ(rec_.log.size(), 1u);
  EXPECT_EQ(rec_.log[0], "closed: " + st.message());
}

TEST_F(RelayTransportTest, PostAndSignalGoOnTheWire) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  const Bytes payload = proto::bytes_of(15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0);
  ASSERT_TRUE(t->post_message(1, 2, 1, payload).ok());
  ASSERT_TRUE(t->signal_event(0, 2, 17).ok());
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayPostMessage{1, 2, 1, payload}));
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelaySignalEvent{0, 2, 17}));

  // Refused locally, nothing sent, transport fine.
  EXPECT_EQ(t->post_message(0, 2, 1, Bytes(241)).message(),
            "relay: post_message payload of 241 bytes exceeds 240");
  EXPECT_FALSE(t->post_message(0, 16, 1, payload).ok());
  EXPECT_FALSE(t->signal_event(0, 2, 2048).ok());
  EXPECT_GE(t->poll_fd(), 0);
}

TEST_F(RelayTransportTest, PartialFramesWaitForTheRest) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  const Bytes wire = proto::encode_relay_frame(proto::RelayGuestMessage{0, 4, 1, Bytes(200, std::byte{7})});
  qemu_writes(Bytes(wire.begin(), wire.begin() + 5));
  ASSERT_TRUE(t->dispatch().ok());
  qemu_writes(Bytes(wire.begin() + 5, wire.begin() + 100));
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_TRUE(rec_.log.empty());
  qemu_writes(Bytes(wire.begin() + 100, wire.end()));
  qemu_sends(proto::RelayGuestReset{});
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_EQ(rec_.log, (std::vector<std::string>{"message vp=0 conn=4 type=1 size=200", "reset"}));
}

TEST_F(RelayTransportTest, QemuErrorsAreKeptNotFatal) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayError{proto::RelayType::post_message, 9, 2, -EINVAL});
  qemu_sends(proto::RelayError{proto::RelayType::signal_event, 0, 2, -ENXIO});
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_EQ(t->take_errors(),
            (std::vector<std::string>{"post_message to vp 9 sint 2: Invalid argument",
                                      "signal_event to vp 0 sint 2: No such device or address"}));
  EXPECT_TRUE(t->take_errors().empty());
  EXPECT_TRUE(rec_.log.empty());
}

TEST_F(RelayTransportTest, GarbageClosesTheTransportNamingTheField) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayGuestSignal{0, 0x10});
  // A guest message claiming 241 payload bytes.
  Bytes bad = proto::encode_relay_frame(proto::RelayGuestMessage{0, 1, 1, Bytes(240)});
  bad[4] = std::byte{0x01};  // length 257
  bad[5] = std::byte{0x01};
  bad[20] = std::byte{241};
  bad.push_back(std::byte{0});
  qemu_writes(bad);
  Status st = t->dispatch();
  ASSERT_FALSE(st.ok());
  // Stream offset: after the 24-byte answer to the REF_TIME of connect().
  EXPECT_EQ(st.message(),
            "relay: malformed frame from QEMU: relay.guest_message.payload_size: bad_length at offset 132");
  EXPECT_EQ(rec_.log, (std::vector<std::string>{"signal vp=0 conn=16", "closed: " + st.message()}));
  EXPECT_EQ(t->poll_fd(), -1);
  EXPECT_FALSE(t->dispatch().ok());
  EXPECT_FALSE(t->post_message(0, 2, 1, {}).ok());
  EXPECT_EQ(rec_.log.size(), 2u);  // closed is reported once
}

TEST_F(RelayTransportTest, HostFramesFromQemuAreRejected) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayPostMessage{0, 2, 1, {}});
  Status st = t->dispatch();
  EXPECT_EQ(st.message(), "relay: QEMU sent a host-to-QEMU frame (post_message)");
}

TEST_F(RelayTransportTest, EofClosesTheTransport) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayGuestReset{});
  ::close(std::exchange(qemu_, -1));
  Status st = t->dispatch();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "QEMU closed the relay socket");
  EXPECT_EQ(rec_.log, (std::vector<std::string>{"reset", "closed: QEMU closed the relay socket"}));
}

TEST_F(RelayTransportTest, EofInsideAFrameSaysSo) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_writes(proto::bytes_of(2, 0, 0, 0, 16, 0));
  ::close(std::exchange(qemu_, -1));
  EXPECT_EQ(t->dispatch().message(), "QEMU closed the relay socket inside a frame (6 bytes buffered)");
}

// 100 ns units of host time since `at`.
std::uint64_t since_100ns(RelayTransport::Clock::time_point at) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(RelayTransport::Clock::now() - at).count() / 100);
}

TEST_F(RelayTransportTest, ReferenceTimeIsAskedOnConnectAndExtrapolated) {
  const auto before = RelayTransport::Clock::now();
  auto t = connected();
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->reference_time(RelayTransport::Clock::now()).has_value());  // answer not read yet
  EXPECT_TRUE(t->reference_time_pending());
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_FALSE(t->reference_time_pending());
  EXPECT_TRUE(rec_.log.empty());
  ASSERT_TRUE(t->reference_time_sample().has_value());
  const auto s = *t->reference_time_sample();
  EXPECT_EQ(s.value, kRefTime);
  EXPECT_GE(s.at, before);
  EXPECT_LE(s.at + s.round_trip / 2, RelayTransport::Clock::now());
  // 100 ns units of host time, either side of the sample.
  EXPECT_EQ(t->reference_time(s.at), kRefTime);
  EXPECT_EQ(t->reference_time(s.at + 1s), kRefTime + 10'000'000);
  EXPECT_EQ(t->reference_time(s.at + 250ns), kRefTime + 2);
  EXPECT_EQ(t->reference_time(s.at - 2s), kRefTime - 20'000'000);
  EXPECT_TRUE(t->reference_time_unavailable().empty());
  // Asked once: the period (5 s) has not passed.
  EXPECT_FALSE(host_sent_more());
}

TEST_F(RelayTransportTest, VersionOneQemuIsNeverAsked) {
  auto t = connected(false, 1);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->request_reference_time().ok());
  ASSERT_TRUE(t->refresh_reference_time(RelayTransport::Clock::now() + 1h).ok());
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_FALSE(host_sent_more());
  EXPECT_FALSE(t->reference_time(RelayTransport::Clock::now()).has_value());
  EXPECT_EQ(t->reference_time_unavailable(),
            "QEMU's vmbus-relay is version 1 (no REF_TIME; patch 0012 adds it)");
}

TEST_F(RelayTransportTest, AnswerReadByARegistrationIsTakenThere) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayResult{proto::RelayType::add_message_connection, 4, 0});
  ASSERT_TRUE(t->add_message_connection(4).ok());
  ASSERT_TRUE(t->reference_time_sample().has_value());  // no dispatch() needed
  EXPECT_EQ(t->reference_time_sample()->value, kRefTime);
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_TRUE(rec_.log.empty());
}

TEST_F(RelayTransportTest, RefreshAsksAgainAfterThePeriodAndKeepsTheBetterSample) {
  auto t = connected(false);
  ASSERT_NE(t, nullptr);
  // A slow first answer: round trip >= 200 ms.
  std::this_thread::sleep_for(200ms);
  qemu_sends(proto::RelayRefTimeAnswer{1, 0, 1'000'000});
  ASSERT_TRUE(t->dispatch().ok());
  ASSERT_TRUE(t->reference_time_sample().has_value());
  EXPECT_GE(t->reference_time_sample()->round_trip, 200ms);

  t->set_reference_time_period(1s);
  t->set_reply_timeout(10s);
  const auto now = RelayTransport::Clock::now();
  ASSERT_TRUE(t->refresh_reference_time(now).ok());
  EXPECT_FALSE(host_sent_more());  // not yet
  ASSERT_TRUE(t->refresh_reference_time(now + 1s).ok());
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayRefTime{2}));
  ASSERT_TRUE(t->refresh_reference_time(now + 2s).ok());  // one outstanding at a time
  EXPECT_FALSE(host_sent_more());

  // A fast answer is more precise: it replaces the slow one.
  qemu_sends(proto::RelayRefTimeAnswer{2, 0, 5'000'000});
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_EQ(t->reference_time_sample()->value, 5'000'000u);
  const auto fast = *t->reference_time_sample();
  ASSERT_LT(fast.round_trip, 100ms);

  // A slow one that agrees with it does not replace a fast one of moments ago.
  const std::uint64_t jumps = t->reference_time_jumps();
  ASSERT_TRUE(t->request_reference_time().ok());
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayRefTime{3}));
  std::this_thread::sleep_for(200ms);
  const std::uint64_t agreeing = fast.value + since_100ns(fast.at);
  qemu_sends(proto::RelayRefTimeAnswer{3, 0, agreeing});
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_EQ(t->reference_time_sample()->value, 5'000'000u);
  EXPECT_EQ(t->reference_time_sample()->at, fast.at);
  ASSERT_TRUE(t->latest_reference_time_answer().has_value());
  EXPECT_EQ(t->latest_reference_time_answer()->value, agreeing);
  EXPECT_GE(t->latest_reference_time_answer()->round_trip, 200ms);
  EXPECT_EQ(t->reference_time_jumps(), jumps);
}

TEST_F(RelayTransportTest, AnAnswerThatContradictsTheKeptSampleReplacesIt) {
  auto t = connected(false);
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayRefTimeAnswer{1, 0, 1'000'000});
  ASSERT_TRUE(t->dispatch().ok());
  const auto first = *t->reference_time_sample();
  // The guest's clock ran 80 ms slower than the host's since the first answer
  // (as when it was taken before QEMU calibrated it): far beyond both bounds.
  ASSERT_TRUE(t->request_reference_time().ok());
  (void)qemu_reads();
  const std::uint64_t behind = first.value + since_100ns(first.at) - 800'000;
  qemu_sends(proto::RelayRefTimeAnswer{2, 0, behind});
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_EQ(t->reference_time_sample()->value, behind);
  EXPECT_EQ(t->reference_time_jumps(), 1u);
}

TEST_F(RelayTransportTest, DispatchRefreshesByItself) {
  auto t = connected();
  ASSERT_NE(t, nullptr);
  t->set_reference_time_period(0ms);
  ASSERT_TRUE(t->dispatch().ok());  // takes answer 1, asks again
  EXPECT_EQ(qemu_reads(), proto::RelayFrame(proto::RelayRefTime{2}));
}

TEST_F(RelayTransportTest, QemuThatCannotTellIsNotAskedAgain) {
  auto t = connected(false);
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayRefTimeAnswer{1, -ENOTSUP, 0});
  ASSERT_TRUE(t->dispatch().ok());
  EXPECT_FALSE(t->reference_time(RelayTransport::Clock::now()).has_value());
  EXPECT_EQ(t->reference_time_unavailable(),
            "QEMU cannot tell the guest's reference time: Operation not supported");
  ASSERT_TRUE(t->refresh_reference_time(RelayTransport::Clock::now() + 1h).ok());
  EXPECT_FALSE(host_sent_more());
  EXPECT_GE(t->poll_fd(), 0);  // the transport is fine
}

TEST_F(RelayTransportTest, UnaskedOrLateAnswersCloseTheTransport) {
  auto t = connected(false);
  ASSERT_NE(t, nullptr);
  qemu_sends(proto::RelayRefTimeAnswer{9, 0, 1});
  Status st = t->dispatch();
  EXPECT_EQ(st.message(), "relay: QEMU answered ref_time 9, which was not asked");
  EXPECT_EQ(t->poll_fd(), -1);

  auto u = connected(false);
  ASSERT_NE(u, nullptr);
  st = u->refresh_reference_time(RelayTransport::Clock::now() + 501ms);
  EXPECT_EQ(st.message(), "relay: QEMU did not answer ref_time 1 within 0.5 s");
  EXPECT_EQ(u->poll_fd(), -1);
}

}  // namespace
}  // namespace vmbh::host
