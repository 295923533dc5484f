#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "vmbh/host/trace_file.h"
#include "vmbh/host/trace_print.h"
#include "vmbh/host/tracing_transport.h"
#include "vmbh/protocols/vmbus.h"

namespace vmbh::host {
namespace {

// Records what the decorator forwards; the test plays the transport's guest side.
class RecordingTransport final : public Transport {
 public:
  explicit RecordingTransport(GuestRam ram) : ram_(std::move(ram)) {}
  void set_events(HostEvents* e) override { events = e; }
  Status add_message_connection(std::uint32_t) override { return {}; }
  Status add_event_connection(std::uint32_t) override { return {}; }
  Status remove_event_connection(std::uint32_t) override { return {}; }
  Status post_message(std::uint32_t, std::uint32_t, std::uint32_t, proto::ByteSpan payload) override {
    posted.emplace_back(payload.begin(), payload.end());
    return {};
  }
  Status signal_event(std::uint32_t, std::uint32_t, std::uint32_t flag) override {
    flags.push_back(flag);
    return {};
  }
  const GuestRam& ram() const override { return ram_; }
  int poll_fd() const override { return -1; }
  Status dispatch() override { return {}; }

  HostEvents* events = nullptr;
  std::vector<proto::Bytes> posted;
  std::vector<std::uint32_t> flags;
  GuestRam ram_;
};

class CountingEvents final : public HostEvents {
 public:
  void on_guest_message(std::uint32_t, std::uint32_t, std::uint32_t, proto::ByteSpan) override { ++messages; }
  void on_guest_signal(std::uint32_t, std::uint32_t) override { ++signals; }
  void on_guest_reset() override { ++resets; }
  void on_transport_closed(const std::string&) override { ++closed; }
  int messages = 0, signals = 0, resets = 0, closed = 0;
};

std::string temp_path() {
  char tmpl[] = "/tmp/vmbh-trace-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  return tmpl;
}

TEST(Trace, RecordsBothDirectionsAndPrintsThemDecoded) {
  const std::string path = temp_path();
  auto ram = GuestRam::create_anonymous(4096);
  ASSERT_TRUE(ram);
  RecordingTransport inner(std::move(ram).value());
  CountingEvents host;
  {
    trace::TraceHeader h;
    h.set_description("unit test");
    auto writer = TraceWriter::create(path, h);
    ASSERT_TRUE(writer) << writer.message();
    TracingTransport traced(inner, **writer);
    traced.set_events(&host);
    ASSERT_NE(inner.events, nullptr);

    proto::InitiateContact ic{};
    ic.version_requested = proto::raw(proto::VmbusVersion::win10_v5_3);
    ic.msg_sint = 2;
    const proto::Bytes contact = proto::encode(proto::ChannelMessage(ic), proto::VmbusVersion::win10_v5_3);
    inner.events->on_guest_message(0, 4, 1, contact);
    proto::VersionResponse vr{};
    vr.version_supported = 1;
    vr.msg_conn_id = 4;
    const proto::Bytes response = proto::encode(proto::ChannelMessage(vr), proto::VmbusVersion::win10_v5_3);
    ASSERT_TRUE(traced.post_message(0, 2, 1, response));
    ASSERT_TRUE(traced.signal_event(1, 2, 7));
    inner.events->on_guest_signal(1, 0x2007);
    traced.note("rejected: open_channel for unknown relid 9");
    inner.events->on_guest_reset();
    inner.events->on_transport_closed("QEMU exited");
    EXPECT_TRUE(traced.write_status());
    EXPECT_EQ((**writer).records(), 7u);
  }
  // Forwarded unchanged both ways.
  EXPECT_EQ(host.messages, 1);
  EXPECT_EQ(host.signals, 1);
  EXPECT_EQ(host.resets, 1);
  EXPECT_EQ(host.closed, 1);
  ASSERT_EQ(inner.posted.size(), 1u);
  EXPECT_EQ(inner.flags, std::vector<std::uint32_t>{7});

  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader) << reader.message();
  EXPECT_EQ((**reader).header().description(), "unit test");
  TracePrinter printer;
  std::vector<std::string> lines;
  trace::TraceRecord r;
  for (;;) {
    auto more = (**reader).next(r);
    ASSERT_TRUE(more) << more.message();
    if (!*more) break;
    lines.push_back(printer.line(r));
  }
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_NE(lines[0].find("g->h vp0 conn4 initiate_contact version=5.3"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("h->g vp0 sint2 version_response supported=1"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("h->g vp1 sint2 event flag 7"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("g->h vp1 conn8199 signal"), std::string::npos) << lines[3];
  EXPECT_NE(lines[4].find("host rejected: open_channel"), std::string::npos) << lines[4];
  EXPECT_NE(lines[5].find("guest reset"), std::string::npos);
  EXPECT_NE(lines[6].find("transport closed: QEMU exited"), std::string::npos);
  std::remove(path.c_str());
}

TEST(Trace, TruncatedAndForeignFilesAreReportedNotMisread) {
  const std::string path = temp_path();
  {
    auto writer = TraceWriter::create(path, {});
    ASSERT_TRUE(writer);
    trace::TraceRecord r;
    r.set_payload(std::string(100, 'x'));
    ASSERT_TRUE((**writer).append(r));
  }
  // Cut the last record short, as a host killed mid-write would.
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  in.close();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << all.substr(0, all.size() - 10);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader) << reader.message();
  trace::TraceRecord r;
  auto next = (**reader).next(r);
  ASSERT_FALSE(next);
  EXPECT_NE(next.message().find("record 0 is truncated"), std::string::npos) << next.message();

  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a trace at all";
  auto foreign = TraceReader::open(path);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.message().find("not a vmbh trace"), std::string::npos);
  EXPECT_FALSE(TraceReader::open("/nonexistent/trace"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vmbh::host
