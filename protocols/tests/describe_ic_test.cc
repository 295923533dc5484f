#include "vmbh/protocols/describe_ic.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmbh/protocols/fcopy.h"
#include "vmbh/protocols/heartbeat.h"
#include "vmbh/protocols/kvp.h"
#include "vmbh/protocols/packet.h"
#include "vmbh/protocols/shutdown.h"
#include "vmbh/protocols/timesync.h"
#include "vmbh/protocols/vss.h"

namespace vmbh::proto {
namespace {

constexpr std::uint64_t kTransId = 0x2a;

// An in-band VMBus packet carrying an IC message, as the host's ring holds it.
Bytes packet_of(ByteSpan ic_message,
                std::uint16_t type = static_cast<std::uint16_t>(PacketType::data_inband)) {
  if (type == static_cast<std::uint16_t>(PacketType::completion)) {
    return encode(CompletionPacket{0, kTransId, Bytes(ic_message.begin(), ic_message.end())});
  }
  return encode(
      InbandPacket{kPacketFlagCompletionRequested, kTransId, Bytes(ic_message.begin(), ic_message.end())});
}

Bytes request(IcMsgType type, IcVersion message_version, ByteSpan body) {
  return packet_of(encode_ic_message(make_ic_request_header(type, {3, 0}, message_version), body));
}

// The same message as a guest's answer (flags transaction|response, a status).
Bytes answer(IcMsgType type, IcVersion message_version, ByteSpan body, std::uint32_t status = kHvSOk) {
  IcHeader h = make_ic_request_header(type, {3, 0}, message_version);
  h.icflags = kIcFlagsGuestResponse;
  h.status = status;
  return packet_of(encode_ic_message(h, body));
}

std::string describe(std::string_view device, ByteSpan packet) {
  IcVersions v;
  return describe_ic_packet(device, packet, v);
}

bool has(const std::string& line, const std::string& part) { return line.find(part) != std::string::npos; }

// ---- header and negotiation ----------------------------------------------------

TEST(DescribeIc, NegotiateOfferShowsHeaderAndOfferedLists) {
  auto offer = host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  ASSERT_TRUE(offer.ok());
  IcVersions v;
  const std::string s = describe_ic_packet("timesync", packet_of(*offer), v);
  EXPECT_EQ(s,
            "trans_id 0x2a: negotiate framework=3.0 version=4.0 status=HV_S_OK icflags=transaction|request "
            "offered_framework=[3.0,1.0] offered_version=[4.0,3.0,1.0]");
  EXPECT_EQ(v, IcVersions{});  // an offer decides nothing
}

TEST(DescribeIc, NegotiateAnswerShowsTheChoiceAndRemembersIt) {
  auto offer = host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  ASSERT_TRUE(offer.ok());
  // Linux's answer of a guest that only knows timesync 3.0.
  const std::array<IcVersion, 1> old_guest{{{3, 0}}};
  auto reply = linux_negotiate_reply(*offer, kLinuxUtilFrameworkVersions, old_guest);
  ASSERT_TRUE(reply.has_value());
  IcVersions v;
  const std::string s = describe_ic_packet("timesync", packet_of(reply->packet), v);
  // The header keeps the offer's versions; the body holds the choice.
  EXPECT_TRUE(has(s,
                  "negotiate framework=3.0 version=4.0 status=HV_S_OK icflags=transaction|response "
                  "chosen_framework=3.0 chosen_version=3.0"))
      << s;
  EXPECT_EQ(v.framework, (IcVersion{3, 0}));
  EXPECT_EQ(v.message, (IcVersion{3, 0}));
}

TEST(DescribeIc, RejectedNegotiationIsShownAndItsLeftoverVersionKept) {
  auto offer = host_negotiate_offer(kLinuxUtilFrameworkVersions, std::array<IcVersion, 1>{{{9, 0}}});
  ASSERT_TRUE(offer.ok());
  auto reply = linux_negotiate_reply(*offer, kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  ASSERT_TRUE(reply.has_value());
  ASSERT_FALSE(reply->negotiation.choice.found);
  IcVersions v;
  const std::string s = describe_ic_packet("timesync", packet_of(reply->packet), v);
  EXPECT_TRUE(has(s, " chosen=none framework_slot=3.0 version_slot=1.0")) << s;
  // Linux stores the slot as its service version: later bodies are read by it.
  EXPECT_EQ(v.message, (IcVersion{1, 0}));
}

TEST(DescribeIc, StatusIsNamedWhenKnownAndHexOtherwise) {
  const Bytes body = encode_to_bytes(HeartbeatMsg{1, {}});
  EXPECT_TRUE(
      has(describe("heartbeat", answer(IcMsgType::heartbeat, {3, 0}, body, kHvEFail)), "status=HV_E_FAIL"));
  EXPECT_TRUE(has(describe("kvp", answer(IcMsgType::heartbeat, {3, 0}, body, kHvSCont)), "status=HV_S_CONT"));
  EXPECT_TRUE(has(describe("heartbeat", answer(IcMsgType::heartbeat, {3, 0}, body, 0x12345678)),
                  "status=0x12345678"));
  EXPECT_EQ(std::string(hresult_name(kHvErrorDiskFull)), "HV_ERROR_DISK_FULL");
  EXPECT_EQ(hresult_name(0x12345678), nullptr);
}

TEST(DescribeIc, UnknownFlagBitsAndTransactionIdAreShown) {
  IcHeader h = make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0}, 9);
  h.icflags = kIcFlagTransaction | 0x80;
  const std::string s =
      describe("heartbeat", packet_of(encode_ic_message(h, encode_to_bytes(HeartbeatMsg{}))));
  EXPECT_TRUE(has(s, " icflags=transaction|0x80 ictransaction_id=9 seq_num=0")) << s;
}

// ---- one message of each IC ----------------------------------------------------

TEST(DescribeIc, Heartbeat) {
  const Bytes body = encode_to_bytes(HeartbeatMsg{7, {}});
  EXPECT_EQ(describe("heartbeat", request(IcMsgType::heartbeat, {3, 0}, body)),
            "trans_id 0x2a: heartbeat framework=3.0 version=3.0 status=HV_S_OK icflags=transaction|request "
            "seq_num=7");
  const Bytes reply = encode_to_bytes(heartbeat_reply(HeartbeatMsg{7, {}}));
  EXPECT_TRUE(has(describe("heartbeat", answer(IcMsgType::heartbeat, {3, 0}, reply)),
                  "icflags=transaction|response seq_num=8"));
}

TEST(DescribeIc, ShutdownShowsActionReasonAndMessage) {
  ShutdownMsg m;
  m.flags = shutdown_flags(ShutdownAction::reboot, true);
  m.reason_code = 0x80000000;
  m.timeout_seconds = 30;
  ASSERT_TRUE(m.set_display_message("Planned \"maintenance\""));
  const std::string s = describe("shutdown", request(IcMsgType::shutdown, {3, 2}, encode_to_bytes(m)));
  EXPECT_TRUE(has(s,
                  "shutdown framework=3.0 version=3.2 status=HV_S_OK icflags=transaction|request "
                  "shutdown_flags=0x3(reboot|force) reason_code=0x80000000 timeout_seconds=30 "
                  "message=\"Planned \\\"maintenance\\\"\""))
      << s;

  ShutdownMsg plain;  // flags 0: shutdown, not forced; no text
  EXPECT_TRUE(has(describe("shutdown", request(IcMsgType::shutdown, {3, 0}, encode_to_bytes(plain))),
                  "shutdown_flags=0(shutdown) reason_code=0 timeout_seconds=0"));
  ShutdownMsg hibernate;
  hibernate.flags = shutdown_flags(ShutdownAction::hibernate, false);
  EXPECT_TRUE(has(describe("shutdown", request(IcMsgType::shutdown, {3, 2}, encode_to_bytes(hibernate))),
                  "shutdown_flags=0x4(hibernate)"));
  ShutdownMsg bad;
  bad.flags = 7;
  EXPECT_TRUE(
      has(describe("shutdown", request(IcMsgType::shutdown, {3, 0}, encode_to_bytes(bad))), "0x7(invalid)"));
}

TEST(DescribeIc, ShutdownWithUnterminatedTextNamesTheField) {
  ShutdownMsg m;
  m.display_message.fill(std::byte{'A'});  // no U+0000 anywhere
  const std::string s = describe("shutdown", request(IcMsgType::shutdown, {3, 0}, encode_to_bytes(m)));
  // The missing terminator is reported at the field's end: 2048 bytes into
  // the text, which starts 12 bytes into the body, 44 bytes into the packet.
  EXPECT_TRUE(has(s, "message=(shutdown.display_message: bad_encoding at offset 2104)")) << s;
}

// 2024-05-01T12:00:00Z plus 123.4567 ms, in Hyper-V time.
constexpr std::uint64_t kMay2024 = 1714564800ULL * kHvTicksPerSecond + kHvTimeUnixEpoch + 1234567;

TEST(DescribeIc, TimesyncDefaultsToTheNewestLayout) {
  TimesyncRefData m;
  m.parenttime = kMay2024;
  m.vmreferencetime = 123456789;
  m.flags = kTimesyncFlagSync;
  m.stratum = 2;
  IcVersions unknown;
  const std::string s =
      describe_ic_packet("timesync", request(IcMsgType::timesync, {4, 0}, encode_to_bytes(m)), unknown);
  EXPECT_EQ(
      s,
      "trans_id 0x2a: timesync framework=3.0 version=4.0 status=HV_S_OK icflags=transaction|request "
      "parenttime=2024-05-01T12:00:00.1234567Z flags=SYNC vmreferencetime=123456789 leapflags=0 stratum=2");
}

TEST(DescribeIc, TimesyncFollowsTheNegotiatedVersion) {
  TimesyncData m;
  m.parenttime = kMay2024;
  m.childtime = 5;
  m.roundtriptime = 6;
  m.flags = kTimesyncFlagSample;
  const Bytes v3 = request(IcMsgType::timesync, {3, 0}, encode_to_bytes(m));
  IcVersions negotiated;
  negotiated.message = IcVersion{3, 0};
  EXPECT_TRUE(has(describe_ic_packet("timesync", v3, negotiated),
                  "parenttime=2024-05-01T12:00:00.1234567Z flags=SAMPLE childtime=5 roundtriptime=6"));
  // The same 25 bytes read as 4.0: the first 22 bytes in the ref-data layout.
  IcVersions v4;
  v4.message = IcVersion{4, 0};
  const std::string as_v4 = describe_ic_packet("timesync", v3, v4);
  EXPECT_TRUE(has(as_v4, "vmreferencetime=5 ")) << as_v4;
  // A 4.0 body (22 bytes) is too short for the 3.0 layout: the field is named.
  TimesyncRefData ref;
  const std::string short_body =
      describe_ic_packet("timesync", request(IcMsgType::timesync, {4, 0}, encode_to_bytes(ref)), negotiated);
  EXPECT_TRUE(has(short_body, "(timesync.roundtriptime: truncated at offset 60)")) << short_body;
  EXPECT_TRUE(has(short_body, "packet type 6 trans_id 0x2a, 72 bytes: timesync framework=3.0")) << short_body;
}

TEST(DescribeIc, TimesyncProbeAndCombinedFlags) {
  TimesyncRefData m;
  m.flags = kTimesyncFlagProbe;
  EXPECT_TRUE(
      has(describe("timesync", request(IcMsgType::timesync, {4, 0}, encode_to_bytes(m))), "flags=PROBE"));
  m.flags = kTimesyncFlagSync | kTimesyncFlagSample | 0x10;
  EXPECT_TRUE(has(describe("timesync", request(IcMsgType::timesync, {4, 0}, encode_to_bytes(m))),
                  "flags=SYNC|SAMPLE|0x10"));
}

Bytes kvp_request(const KvpMessage& m) {
  auto body = encode_kvp(m);
  EXPECT_TRUE(body.ok());
  return request(IcMsgType::kvp_exchange, {4, 0}, body.ok() ? *body : Bytes{});
}

TEST(DescribeIc, KvpSetShowsPoolKeyAndValue) {
  const std::string s = describe("kvp", kvp_request(KvpSet{KvpPool::automatic, "VirtualMachineName",
                                                           KvpValue::string("vm-\xc3\xa9t\xc3\xa9")}));
  EXPECT_EQ(
      s,
      "trans_id 0x2a: kvp_exchange framework=3.0 version=4.0 status=HV_S_OK icflags=transaction|request "
      "op=SET pool=AUTO key=\"VirtualMachineName\" value=\"vm-\xc3\xa9t\xc3\xa9\"");
  EXPECT_TRUE(has(describe("kvp", kvp_request(KvpSet{KvpPool::external, "n", KvpValue::u32(42)})),
                  "op=SET pool=EXTERNAL key=\"n\" value=42 value_type=REG_U32"));
  EXPECT_TRUE(has(describe("kvp", kvp_request(KvpSet{KvpPool::guest, "n", KvpValue::u64(1ULL << 40)})),
                  "value=1099511627776 value_type=REG_U64"));
}

TEST(DescribeIc, KvpLongValuesAreCut) {
  const std::string value(1000, 'x');
  const std::string s = describe("kvp", kvp_request(KvpSet{KvpPool::external, "k", KvpValue::string(value)}));
  EXPECT_TRUE(has(s, "value=\"" + std::string(60, 'x') + "\"...(1000 chars)")) << s;
  EXPECT_FALSE(has(s, std::string(61, 'x')));
}

TEST(DescribeIc, KvpOtherOperations) {
  EXPECT_TRUE(has(describe("kvp", kvp_request(KvpGet{KvpPool::auto_internal, "OSName", {}})),
                  "op=GET pool=AUTO_INTERNAL key=\"OSName\""));
  EXPECT_FALSE(has(describe("kvp", kvp_request(KvpGet{KvpPool::guest, "OSName", {}})), "value="));
  EXPECT_TRUE(has(describe("kvp", kvp_request(KvpDelete{KvpPool::guest, "gone"})),
                  "op=DELETE pool=GUEST key=\"gone\""));
  EXPECT_TRUE(has(describe("kvp", kvp_request(KvpEnumerate{KvpPool::automatic, 3, std::nullopt})),
                  "op=ENUMERATE pool=AUTO index=3"));
  EXPECT_TRUE(has(describe("kvp", kvp_request(KvpEnumerate{KvpPool::automatic, 3,
                                                           KvpEntry{"OSName", KvpValue::string("Linux")}})),
                  "op=ENUMERATE pool=AUTO index=3 key=\"OSName\" value=\"Linux\""));
  KvpIpInfo set_ip;
  set_ip.operation = KvpOperation::set_ip_info;
  set_ip.ip = {
      "{ADAPTER-1}", kKvpAddrFamilyIpv4 | kKvpAddrFamilyIpv6, 1, "10.0.0.2", "255.0.0.0", "10.0.0.1", ""};
  EXPECT_TRUE(has(describe("kvp", kvp_request(set_ip)),
                  "op=SET_IP_INFO adapter_id=\"{ADAPTER-1}\" addr_family=ipv4|ipv6 dhcp_enabled=1 "
                  "ip_addr=\"10.0.0.2\" sub_net=\"255.0.0.0\" gate_way=\"10.0.0.1\""));
  KvpIpInfo get_ip;
  get_ip.ip.adapter_id = "a";
  const std::string get = describe("kvp", kvp_request(get_ip));
  EXPECT_TRUE(
      has(get, "icflags=transaction|request op=GET_IP_INFO adapter_id=\"a\" addr_family=0 dhcp_enabled=0"))
      << get;
  EXPECT_FALSE(has(get, "ip_addr=")) << get;  // empty strings are left out
}

TEST(DescribeIc, Vss) {
  EXPECT_EQ(
      describe("vss", request(IcMsgType::vss, {5, 0}, encode_vss(make_vss_request(VssOp::freeze)))),
      "trans_id 0x2a: vss framework=3.0 version=5.0 status=HV_S_OK icflags=transaction|request op=FREEZE "
      "flags=0");
  VssMessage hot = vss_linux_answer(make_vss_request(VssOp::hot_backup));
  hot.extra = Bytes(100, std::byte{1});
  EXPECT_TRUE(has(describe("vss", answer(IcMsgType::vss, {5, 0}, encode_vss(hot))),
                  "op=HOT_BACKUP flags=0x5 extra_bytes=100"));
}

Bytes fcopy_request(const FcopyMessage& m) {
  auto body = encode_fcopy(m);
  EXPECT_TRUE(body.ok());
  return request(IcMsgType::fcopy, {1, 1}, body.ok() ? *body : Bytes{});
}

TEST(DescribeIc, Fcopy) {
  FcopyStart start;
  start.file_name = "hello.txt";
  start.path_name = "/tmp/in";
  start.copy_flags = kFcopyOverWrite | kFcopyCreatePath;
  start.file_size = 12345;
  EXPECT_EQ(describe("fcopy", fcopy_request(start)),
            "trans_id 0x2a: fcopy framework=3.0 version=1.1 status=HV_S_OK icflags=transaction|request "
            "op=START_FILE_COPY file=\"hello.txt\" path=\"/tmp/in\" copy_flags=OVER_WRITE|CREATE_PATH "
            "file_size=12345");
  FcopyWrite write;
  write.offset = 6144;
  write.data = Bytes(100, std::byte{'z'});
  EXPECT_TRUE(has(describe("fcopy", fcopy_request(write)), "op=WRITE_TO_FILE offset=6144 size=100"));
  EXPECT_TRUE(has(describe("fcopy", fcopy_request(FcopyComplete{})), "op=COMPLETE_FCOPY"));
  EXPECT_TRUE(has(describe("fcopy", fcopy_request(FcopyCancel{})), "op=CANCEL_FCOPY"));
}

// ---- what does not decode ------------------------------------------------------

TEST(DescribeIc, TruncatedBodyNamesTheFieldAtItsPacketOffset) {
  // 4 bytes of a heartbeat body: seq_num needs 8. Body starts at 16 + 28 = 44.
  const std::string s = describe("heartbeat", request(IcMsgType::heartbeat, {3, 0}, Bytes(4, std::byte{0})));
  EXPECT_EQ(s,
            "packet type 6 trans_id 0x2a, 48 bytes: heartbeat framework=3.0 version=3.0 status=HV_S_OK "
            "icflags=transaction|request (heartbeat.seq_num: truncated at offset 44)");
}

TEST(DescribeIc, WrongSizesNameTheField) {
  auto kvp = encode_kvp(KvpSet{KvpPool::external, "k", KvpValue::string("v")});
  ASSERT_TRUE(kvp.ok());
  kvp->resize(kvp->size() - 100);
  const std::string short_kvp = describe("kvp", request(IcMsgType::kvp_exchange, {4, 0}, *kvp));
  EXPECT_TRUE(has(short_kvp, "icflags=transaction|request (kvp.")) << short_kvp;
  EXPECT_TRUE(has(short_kvp, "truncated")) << short_kvp;

  auto fcopy = encode_fcopy(FcopyComplete{});
  ASSERT_TRUE(fcopy.ok());
  fcopy->resize(fcopy->size() + 4);
  const std::string long_fcopy = describe("fcopy", request(IcMsgType::fcopy, {1, 1}, *fcopy));
  EXPECT_TRUE(has(long_fcopy, "trailing_data")) << long_fcopy;
  EXPECT_TRUE(has(long_fcopy, "(fcopy")) << long_fcopy;

  Bytes vss = encode_vss(make_vss_request(VssOp::thaw));
  vss.resize(10);
  EXPECT_TRUE(
      has(describe("vss", request(IcMsgType::vss, {5, 0}, vss)), "(vss.flags: truncated at offset 52)"));

  const std::string short_shutdown = describe("shutdown", request(IcMsgType::shutdown, {3, 0}, Bytes(100)));
  EXPECT_TRUE(has(short_shutdown, "(shutdown.display_message: truncated")) << short_shutdown;
}

TEST(DescribeIc, IcmsgsizeBeyondThePacketIsNamed) {
  Bytes ic = encode_ic_message(make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0}),
                               encode_to_bytes(HeartbeatMsg{}));
  ic[kIcPipeHeaderSize + 10] = std::byte{0xff};  // icmsgsize low byte: 255 > 40 + padding
  const std::string s = describe("heartbeat", packet_of(ic));
  EXPECT_EQ(s, "packet type 6 trans_id 0x2a, 88 bytes (ic_header.icmsgsize: bad_length at offset 34)");
}

TEST(DescribeIc, ShortIcHeaderIsNamed) {
  const std::string s = describe("heartbeat", packet_of(Bytes(16, std::byte{0})));
  // The reader fails inside icvermsg's minor half, 16 bytes into the IC message.
  EXPECT_EQ(s, "packet type 6 trans_id 0x2a, 32 bytes (ic_header.icvermsg: truncated at offset 32)");
}

TEST(DescribeIc, MessageOfAnotherIcIsRejectedByType) {
  const std::string s =
      describe("heartbeat", request(IcMsgType::kvp_exchange, {4, 0}, encode_to_bytes(HeartbeatMsg{})));
  EXPECT_TRUE(has(s, "packet type 6 trans_id 0x2a, 88 bytes: kvp_exchange framework=3.0")) << s;
  EXPECT_TRUE(has(s, "(ic_header.icmsgtype: unknown_type at offset 28)")) << s;
  IcHeader h = make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0});
  h.icmsgtype = static_cast<IcMsgType>(99);
  EXPECT_TRUE(
      has(describe("heartbeat", packet_of(encode_ic_message(h, {}))), ": icmsgtype=99 framework=3.0"));
}

TEST(DescribeIc, NonInbandPacketsAndUnknownDevices) {
  const Bytes body = encode_to_bytes(HeartbeatMsg{});
  const Bytes ic = encode_ic_message(make_ic_request_header(IcMsgType::heartbeat, {3, 0}, {3, 0}), body);
  EXPECT_EQ(describe("heartbeat", packet_of(ic, static_cast<std::uint16_t>(PacketType::completion))),
            "packet type 11 trans_id 0x2a, 88 bytes (packet.type: unknown_type at offset 0)");
  EXPECT_EQ(describe("netvsc", packet_of(ic)),
            "packet type 6 trans_id 0x2a, 88 bytes (no IC decoder for device "
            "\"netvsc\")");
  EXPECT_EQ(describe_packet_summary(packet_of(ic)), "packet type 6 trans_id 0x2a, 88 bytes");
  EXPECT_EQ(describe("kvp", Bytes(5, std::byte{0})), describe_packet_summary(Bytes(5, std::byte{0})));
  EXPECT_TRUE(has(describe_packet_summary(Bytes(5, std::byte{0})), "undecodable packet (packet."));
}

TEST(DescribeIc, DeviceNamesMapToTheirServices) {
  EXPECT_EQ(ic_service_of_device("heartbeat"), IcMsgType::heartbeat);
  EXPECT_EQ(ic_service_of_device("shutdown"), IcMsgType::shutdown);
  EXPECT_EQ(ic_service_of_device("timesync"), IcMsgType::timesync);
  EXPECT_EQ(ic_service_of_device("kvp"), IcMsgType::kvp_exchange);
  EXPECT_EQ(ic_service_of_device("vss"), IcMsgType::vss);
  EXPECT_EQ(ic_service_of_device("fcopy"), IcMsgType::fcopy);
  EXPECT_EQ(ic_service_of_device("KVP"), std::nullopt);
  EXPECT_EQ(ic_service_of_device(""), std::nullopt);
}

// Every IC message cut at every length (icmsgsize adjusted, so the packet
// itself stays valid) gives a line, and a short one names a field.
TEST(DescribeIc, EveryTruncationGivesALine) {
  auto kvp = encode_kvp(KvpSet{KvpPool::external, "key", KvpValue::string("value")});
  auto fcopy = encode_fcopy(FcopyStart{"a", "/b", 0, 1, {}});
  ASSERT_TRUE(kvp.ok() && fcopy.ok());
  const std::vector<std::pair<std::string, std::pair<IcMsgType, Bytes>>> bodies{
      {"heartbeat", {IcMsgType::heartbeat, encode_to_bytes(HeartbeatMsg{1, {}})}},
      {"shutdown", {IcMsgType::shutdown, encode_to_bytes(ShutdownMsg{})}},
      {"timesync", {IcMsgType::timesync, encode_to_bytes(TimesyncData{})}},
      {"kvp", {IcMsgType::kvp_exchange, *kvp}},
      {"vss", {IcMsgType::vss, encode_vss(make_vss_request(VssOp::freeze))}},
      {"fcopy", {IcMsgType::fcopy, *fcopy}},
  };
  for (const auto& [device, typed] : bodies) {
    const auto& [type, body] = typed;
    for (std::size_t n = 0; n < body.size(); n += (n < 64 ? 1 : 97)) {
      const std::string s = describe(device, request(type, {3, 0}, ByteSpan(body).first(n)));
      if (has(s, "trans_id 0x2a: ")) continue;  // a prefix that still decodes (heartbeat, timesync)
      EXPECT_TRUE(has(s, "(" + std::string(type == IcMsgType::kvp_exchange ? "kvp" : device)))
          << device << " " << n << ": " << s;
    }
  }
}

// ---- helpers ---------------------------------------------------------------------

TEST(DescribeIc, HvTimeString) {
  EXPECT_EQ(hv_time_string(0), "1601-01-01T00:00:00.0000000Z");
  EXPECT_EQ(hv_time_string(kHvTimeUnixEpoch), "1970-01-01T00:00:00.0000000Z");
  EXPECT_EQ(hv_time_string(kHvTimeUnixEpoch - 1), "1969-12-31T23:59:59.9999999Z");
  EXPECT_EQ(hv_time_string(kMay2024), "2024-05-01T12:00:00.1234567Z");
  // 2000-02-29 (a leap day of a century leap year).
  EXPECT_EQ(hv_time_string(951782400ULL * kHvTicksPerSecond + kHvTimeUnixEpoch),
            "2000-02-29T00:00:00.0000000Z");
  // The last Hyper-V time.
  EXPECT_EQ(hv_time_string(~0ULL), "60056-05-28T05:36:10.9551615Z");
}

TEST(DescribeIc, QuotedEscapesAndCutsAtCharacters) {
  EXPECT_EQ(quoted("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\x01\"");
  EXPECT_EQ(quoted(""), "\"\"");
  // Three 2-byte characters, limit 2: cut between characters, counted in characters.
  EXPECT_EQ(quoted("\xc3\xa9\xc3\xa9\xc3\xa9", 2), "\"\xc3\xa9\xc3\xa9\"...(3 chars)");
  EXPECT_EQ(quoted("abc", 3), "\"abc\"");
}

}  // namespace
}  // namespace vmbh::proto
