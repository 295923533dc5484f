#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "vmbh/host/trace_file.h"
#include "vmbh/host/trace_print.h"
#include "vmbh/host/tracing_transport.h"
#include "vmbh/protocols/ic.h"
#include "vmbh/protocols/kvp.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/timesync.h"
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

trace::TraceRecord ring_record(trace::Direction d, std::uint32_t relid, const std::string& device,
                               const proto::Bytes& ic_message) {
  trace::TraceRecord r;
  r.set_direction(d);
  r.set_kind(trace::RING_PACKET);
  r.set_relid(relid);
  r.set_device(device);
  const proto::Bytes packet = proto::encode(proto::InbandPacket{0, 7, ic_message});
  r.set_payload(reinterpret_cast<const char*>(packet.data()), packet.size());
  return r;
}

proto::Bytes timesync_v3_sample() {
  proto::TimesyncData m;
  m.parenttime = proto::kHvTimeUnixEpoch;
  m.childtime = 11;
  m.flags = proto::kTimesyncFlagSample;
  return proto::encode_ic_message(proto::make_ic_request_header(proto::IcMsgType::timesync, {3, 0}, {3, 0}),
                                  proto::encode_to_bytes(m));
}

// A negotiation on relid 3 chooses timesync 3.0; the printer reads that
// channel's later samples in the 3.0 layout, other channels as usual.
std::vector<trace::TraceRecord> ic_records() {
  auto offer = proto::host_negotiate_offer(proto::kLinuxUtilFrameworkVersions, proto::kLinuxTimesyncVersions);
  const std::array<proto::IcVersion, 1> v3_only{{{3, 0}}};
  auto reply = proto::linux_negotiate_reply(*offer, proto::kLinuxUtilFrameworkVersions, v3_only);
  auto kvp =
      proto::encode_kvp(proto::KvpSet{proto::KvpPool::automatic, "HostName", proto::KvpValue::string("h1")});
  trace::TraceRecord reset;
  reset.set_kind(trace::GUEST_RESET);
  return {
      ring_record(trace::HOST_TO_GUEST, 3, "timesync", *offer),
      ring_record(trace::GUEST_TO_HOST, 3, "timesync", reply->packet),
      ring_record(trace::HOST_TO_GUEST, 3, "timesync", timesync_v3_sample()),
      ring_record(trace::HOST_TO_GUEST, 4, "kvp",
                  proto::encode_ic_message(
                      proto::make_ic_request_header(proto::IcMsgType::kvp_exchange, {3, 0}, {4, 0}), *kvp)),
      ring_record(trace::HOST_TO_GUEST, 5, "netvsc", proto::Bytes(8)),
      reset,
      // After a reset nothing is negotiated: the newest (4.0) layout again.
      ring_record(trace::HOST_TO_GUEST, 3, "timesync", timesync_v3_sample()),
  };
}

TEST(Trace, RingPacketsPrintTheirIcMessagesDecoded) {
  TracePrinter printer;
  std::vector<std::string> lines;
  for (const auto& r : ic_records()) lines.push_back(printer.line(r));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_NE(
      lines[0].find("h->g relid 3 timesync trans_id 0x7: negotiate framework=3.0 version=4.0 status=HV_S_OK "
                    "icflags=transaction|request offered_framework=[3.0,1.0] offered_version=[4.0,3.0,1.0]"),
      std::string::npos)
      << lines[0];
  EXPECT_NE(
      lines[1].find("g->h relid 3 timesync trans_id 0x7: negotiate framework=3.0 version=4.0 "
                    "status=HV_S_OK icflags=transaction|response chosen_framework=3.0 chosen_version=3.0"),
      std::string::npos)
      << lines[1];
  EXPECT_NE(
      lines[2].find("timesync framework=3.0 version=3.0 status=HV_S_OK icflags=transaction|request "
                    "parenttime=1970-01-01T00:00:00.0000000Z flags=SAMPLE childtime=11 roundtriptime=0"),
      std::string::npos)
      << lines[2];
  EXPECT_NE(lines[3].find("relid 4 kvp trans_id 0x7: kvp_exchange framework=3.0 version=4.0 status=HV_S_OK "
                          "icflags=transaction|request op=SET pool=AUTO key=\"HostName\" value=\"h1\""),
            std::string::npos)
      << lines[3];
  EXPECT_NE(lines[4].find("relid 5 netvsc packet type 6 trans_id 0x7, 24 bytes"), std::string::npos)
      << lines[4];
  EXPECT_NE(lines[6].find("parenttime=1970-01-01T00:00:00.0000000Z flags=PROBE vmreferencetime=11 "),
            std::string::npos)
      << lines[6];
}

TEST(Trace, FollowingSkippedRecordsKeepsTheNegotiatedLayout) {
  const auto records = ic_records();
  TracePrinter from_start;
  TracePrinter mid_trace;
  for (std::size_t i = 0; i < 2; ++i) {
    (void)from_start.line(records[i]);
    mid_trace.follow(records[i]);
  }
  const std::string line = mid_trace.line(records[2]);
  EXPECT_EQ(line, from_start.line(records[2]));
  EXPECT_NE(line.find("childtime=11"), std::string::npos) << line;
  // Without the negotiation the sample is read in the 4.0 layout.
  TracePrinter fresh;
  EXPECT_EQ(fresh.line(records[2]).find("childtime="), std::string::npos);
}

TEST(Trace, ARelidTakenOverByAnotherDeviceForgetsTheOldVersions) {
  const auto records = ic_records();
  TracePrinter printer;
  for (std::size_t i = 0; i < 2; ++i) (void)printer.line(records[i]);
  trace::TraceRecord other = records[3];
  other.set_relid(3);  // kvp now on relid 3
  EXPECT_NE(printer.line(other).find("op=SET pool=AUTO"), std::string::npos);
  const trace::TraceRecord& back = records[2];  // a timesync channel again on relid 3: nothing negotiated
  EXPECT_NE(printer.line(back).find("vmreferencetime=11"), std::string::npos);
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
