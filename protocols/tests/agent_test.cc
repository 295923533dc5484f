#include "vmbh/protocols/agent.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace vmbh::proto {
namespace {

Bytes str_bytes(std::string_view s) {
  Bytes b;
  for (char c : s) b.push_back(std::byte(static_cast<std::uint8_t>(c)));
  return b;
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ExecRequest sample_exec() {
  ExecRequest m;
  m.argv = {"/bin/sh", "-c", "cat; echo err >&2"};
  m.env = {"A=1", "PATH=/bin"};
  m.cwd = "/tmp";
  m.stdin_data = str_bytes("hello");
  m.timeout_ms = 1500;
  m.max_stdout = 100;
  m.max_stderr = 200;
  m.flags = kExecClearEnv;
  return m;
}
ExecResponse sample_exec_response() {
  ExecResponse m;
  m.termination = ExecTermination::signaled;
  m.code = 9;
  m.flags = kExecTimedOut | kExecStderrTruncated;
  m.duration_ms = 1234;
  m.stdout_data = str_bytes("out");
  m.stderr_data = str_bytes("err!");
  return m;
}
StatResponse sample_stat() { return StatResponse{0120777, 1000, 100, 1, 7, 123456789, -5, "target"}; }

// ---- Layout and constants ------------------------------------------------------

TEST(AgentLayout, HeaderAndLimits) {
  EXPECT_EQ(kAgentHeaderSize, 20u);
  EXPECT_EQ(kAgentCrcOffset, 16u);
  EXPECT_EQ(kAgentMaxPayload, 16u * 1024 * 1024);
  EXPECT_EQ(kAgentVersion, 1);
  // "VMBA" on the wire.
  Bytes f = encode_frame(FrameType::request, 1, 0, {});
  EXPECT_EQ(Bytes(f.begin(), f.begin() + 4), str_bytes("VMBA"));
  // Both exec streams at their cap fit in one frame, as does the largest file read.
  EXPECT_LT(2 * kAgentMaxExecOutput + 64, kAgentMaxPayload);
  EXPECT_LT(kAgentMaxFileData + 64, kAgentMaxPayload);
}

TEST(AgentLayout, EnumValuesAndNames) {
  EXPECT_EQ(static_cast<int>(AgentOp::ping), 1);
  EXPECT_EQ(static_cast<int>(AgentOp::stat), 5);
  EXPECT_EQ(static_cast<int>(FrameType::error), 3);
  EXPECT_EQ(static_cast<int>(AgentErrc::os_error), 4);
  EXPECT_EQ(to_string(AgentOp::read_file), "read_file");
  EXPECT_EQ(to_string(static_cast<AgentOp>(9)), "UNKNOWN");
  EXPECT_EQ(to_string(FrameType::response), "response");
  EXPECT_EQ(to_string(AgentErrc::bad_frame), "bad_frame");
  EXPECT_FALSE(is_known(static_cast<AgentOp>(0)));
  EXPECT_FALSE(is_known(static_cast<FrameType>(4)));
}

TEST(AgentCrc, StandardCheckValues) {
  EXPECT_EQ(crc32(str_bytes("123456789")), 0xCBF43926u);  // CRC-32/ISO-HDLC check value
  EXPECT_EQ(crc32({}), 0u);
  // Incremental equals one-shot.
  EXPECT_EQ(crc32(str_bytes("6789"), crc32(str_bytes("12345"))), 0xCBF43926u);
}

// ---- Golden bytes (hand-written; CRCs computed with zlib.crc32) ----------------

TEST(AgentGolden, PingRequestFrame) {
  const Bytes golden = bytes_of(0x56, 0x4d, 0x42, 0x41,  // "VMBA"
                                0x01, 0x01, 0x01, 0x00,  // version 1, request, op ping
                                0x07, 0x00, 0x00, 0x00,  // request id 7
                                0x08, 0x00, 0x00, 0x00,  // payload length 8
                                0xee, 0x47, 0xcb, 0x7d,  // crc32 0x7dcb47ee
                                0x04, 0x00, 0x00, 0x00, 'p', 'i', 'n', 'g');
  EXPECT_EQ(encode_request(7, PingRequest{str_bytes("ping")}), golden);
  auto f = decode_frame(golden);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->type, FrameType::request);
  EXPECT_EQ(f->op, 1);
  EXPECT_EQ(f->request_id, 7u);
  auto p = decode_ping_request(f->payload);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->data, str_bytes("ping"));
}

TEST(AgentGolden, EmptyErrorFrameHeader) {
  const Bytes golden = bytes_of(0x56, 0x4d, 0x42, 0x41, 0x01, 0x03, 0x05, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0,  //
                                0xd7, 0x62, 0x6b, 0x7a);  // crc32 0x7a6b62d7
  EXPECT_EQ(encode_frame(FrameType::error, 5, 9, {}), golden);
  EXPECT_TRUE(decode_frame(golden).ok());
}

TEST(AgentGolden, ExecRequestPayload) {
  ExecRequest m;
  m.argv = {"ls", "-l"};
  m.env = {"A=b"};
  m.cwd = "";
  m.stdin_data = str_bytes("x");
  m.timeout_ms = 0x1000;
  m.max_stdout = 2;
  m.max_stderr = 3;
  m.flags = 1;
  const Bytes golden = bytes_of(2, 0, 0, 0,                                  // argv count
                                2, 0, 0, 0, 'l', 's', 2, 0, 0, 0, '-', 'l',  //
                                1, 0, 0, 0, 3, 0, 0, 0, 'A', '=', 'b',       // env
                                0, 0, 0, 0,                                  // cwd ""
                                1, 0, 0, 0, 'x',                             // stdin
                                0x00, 0x10, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,    // timeout, caps
                                1, 0, 0, 0);                                 // flags
  EXPECT_EQ(encode_payload(m), golden);
  auto d = decode_exec_request(golden);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(*d, m);
}

TEST(AgentGolden, ExecResponsePayload) {
  ExecResponse m;
  m.termination = ExecTermination::exited;
  m.code = -1;
  m.flags = kExecStdoutTruncated;
  m.duration_ms = 5;
  m.stdout_data = str_bytes("o");
  const Bytes golden = bytes_of(0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 5, 0, 0, 0,  //
                                1, 0, 0, 0, 'o', 0, 0, 0, 0);
  EXPECT_EQ(encode_payload(m), golden);
  auto d = decode_exec_response(golden);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->code, -1);
  EXPECT_TRUE(d->stdout_truncated());
}

TEST(AgentGolden, ErrorReplyPayload) {
  const Bytes golden = bytes_of(4, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 'e', 'n', 't');
  ErrorReply e{AgentErrc::os_error, 2, "ent"};
  EXPECT_EQ(encode_payload(e), golden);
  auto d = decode_error_reply(golden);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, e);
}

TEST(AgentGolden, StatAndFilePayloads) {
  EXPECT_EQ(encode_payload(StatRequest{"/a", kStatNoFollow}), bytes_of(2, 0, 0, 0, '/', 'a', 1, 0, 0, 0));
  EXPECT_EQ(encode_payload(ReadFileRequest{"/a", 0x0102, 9}),
            bytes_of(2, 0, 0, 0, '/', 'a', 2, 1, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0));
  EXPECT_EQ(encode_payload(WriteFileRequest{"/a", 0755, kWriteAppend, str_bytes("z")}),
            bytes_of(2, 0, 0, 0, '/', 'a', 0xed, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'z'));
  EXPECT_EQ(encode_payload(WriteFileResponse{0x0a}), bytes_of(0x0a, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_EQ(encode_payload(StatResponse{}).size(), 4u * 4 + 8 * 3 + 4);
}

// ---- Round trips -------------------------------------------------------------------

template <class T, class Decode>
void expect_round_trip(const T& m, Decode decode) {
  const Bytes wire = encode_payload(m);
  auto d = decode(wire);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(*d, m);
  EXPECT_EQ(encode_payload(*d), wire);
}

TEST(AgentRoundTrip, EveryPayloadType) {
  expect_round_trip(PingRequest{str_bytes("abc")}, decode_ping_request);
  expect_round_trip(PingResponse{"vmbh-agent", str_bytes("abc")}, decode_ping_response);
  expect_round_trip(sample_exec(), decode_exec_request);
  expect_round_trip(sample_exec_response(), decode_exec_response);
  expect_round_trip(ReadFileRequest{"/proc/version", 3, 4096}, decode_read_file_request);
  expect_round_trip(ReadFileResponse{10, kReadTruncated, str_bytes("abc")}, decode_read_file_response);
  expect_round_trip(WriteFileRequest{"/tmp/x", 0600, kWriteExclusive | kWriteFsync, str_bytes("data")},
                    decode_write_file_request);
  expect_round_trip(WriteFileResponse{4}, decode_write_file_response);
  expect_round_trip(StatRequest{"/etc", 0}, decode_stat_request);
  expect_round_trip(sample_stat(), decode_stat_response);
  expect_round_trip(ErrorReply{AgentErrc::bad_request, 0, "exec.argv: bad_value at offset 4"},
                    decode_error_reply);
}

TEST(AgentRoundTrip, EmptyFieldsAndBinaryData) {
  expect_round_trip(PingRequest{}, decode_ping_request);
  Bytes bin;
  for (int i = 0; i < 256; ++i) bin.push_back(std::byte(static_cast<std::uint8_t>(i)));
  expect_round_trip(PingRequest{bin}, decode_ping_request);
  ExecRequest m;
  m.argv = {"true"};
  expect_round_trip(m, decode_exec_request);
  expect_round_trip(ExecResponse{}, decode_exec_response);
}

TEST(AgentRoundTrip, UnknownErrorCodeIsKept) {
  ErrorReply e{static_cast<AgentErrc>(77), -3, ""};
  expect_round_trip(e, decode_error_reply);
  EXPECT_EQ(to_string(e.code), "UNKNOWN");
}

TEST(AgentRoundTrip, FrameWithPayload) {
  Frame f{FrameType::response, 2, 0xdeadbeef, encode_payload(sample_exec_response())};
  auto d = decode_frame(encode_frame(f));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, f);
}

TEST(AgentRoundTrip, UnknownOpTravelsInTheFrameLayer) {
  Frame f{FrameType::request, 999, 1, {}};
  auto d = decode_frame(encode_frame(f));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->op, 999);
}

// ---- Truncation at every length -------------------------------------------------------

template <class Decode>
void expect_truncation_fails(const Bytes& wire, Decode decode) {
  for (std::size_t n = 0; n < wire.size(); ++n) {
    auto d = decode(ByteSpan(wire).first(n));
    ASSERT_FALSE(d.ok()) << "prefix " << n << " of " << wire.size() << " decoded";
    // A cut list shows as a count larger than the bytes left (bad_length).
    EXPECT_TRUE(d.error().code == Errc::truncated || d.error().code == Errc::bad_length)
        << "prefix " << n << ": " << d.error().message();
    EXPECT_LE(d.error().offset, n);
  }
  EXPECT_TRUE(decode(wire).ok());
}

TEST(AgentTruncation, EveryPayloadAtEveryLength) {
  expect_truncation_fails(encode_payload(PingRequest{str_bytes("abc")}), decode_ping_request);
  expect_truncation_fails(encode_payload(PingResponse{"a", str_bytes("b")}), decode_ping_response);
  expect_truncation_fails(encode_payload(sample_exec()), decode_exec_request);
  expect_truncation_fails(encode_payload(sample_exec_response()), decode_exec_response);
  expect_truncation_fails(encode_payload(ReadFileRequest{"/x", 1, 2}), decode_read_file_request);
  expect_truncation_fails(encode_payload(ReadFileResponse{1, 0, str_bytes("q")}), decode_read_file_response);
  expect_truncation_fails(encode_payload(WriteFileRequest{"/x", 0, 0, str_bytes("q")}),
                          decode_write_file_request);
  expect_truncation_fails(encode_payload(WriteFileResponse{1}), decode_write_file_response);
  expect_truncation_fails(encode_payload(StatRequest{"/x", 0}), decode_stat_request);
  expect_truncation_fails(encode_payload(sample_stat()), decode_stat_response);
  expect_truncation_fails(encode_payload(ErrorReply{AgentErrc::internal, 1, "m"}), decode_error_reply);
}

TEST(AgentTruncation, FrameAtEveryLength) {
  const Bytes wire = encode_request(3, sample_exec());
  for (std::size_t n = 0; n < wire.size(); ++n) {
    auto d = decode_frame(ByteSpan(wire).first(n));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.error().code, Errc::truncated) << n << ": " << d.error().message();
  }
}

// ---- Corruption and bad values ---------------------------------------------------------

TEST(AgentFrame, EveryCorruptedByteIsRejected) {
  const Bytes wire = encode_request(3, PingRequest{str_bytes("corrupt me")});
  for (std::size_t i = 0; i < wire.size(); ++i) {
    Bytes bad = wire;
    bad[i] ^= std::byte{0x01};
    EXPECT_FALSE(decode_frame(bad).ok()) << "flipped byte " << i;
  }
}

TEST(AgentFrame, CorruptedCrcNamesTheField) {
  Bytes wire = encode_request(3, PingRequest{str_bytes("x")});
  wire.back() ^= std::byte{0xFF};
  auto d = decode_frame(wire);
  ASSERT_FALSE(d.ok());
  EXPECT_STREQ(d.error().field, "frame.crc32");
  EXPECT_EQ(d.error().code, Errc::bad_value);
}

TEST(AgentFrame, BadHeaderFields) {
  const Bytes good = encode_request(3, PingRequest{});
  auto field_of = [&](std::size_t at, std::uint8_t v) {
    Bytes b = good;
    b[at] = std::byte{v};
    auto d = decode_frame(b);
    return d.ok() ? std::string("ok") : std::string(d.error().field);
  };
  EXPECT_EQ(field_of(0, 'X'), "frame.magic");
  EXPECT_EQ(field_of(4, 2), "frame.version");
  EXPECT_EQ(field_of(5, 0), "frame.type");
  EXPECT_EQ(field_of(5, 4), "frame.type");
  EXPECT_EQ(field_of(15, 0x01), "frame.length");  // 16 MiB + 4 > limit
}

TEST(AgentFrame, LengthBoundIsInclusive) {
  Bytes h = encode_frame(FrameType::request, 1, 1, {});
  store_u32(h, 12, kAgentMaxPayload);
  auto ok = decode_frame_header(ByteSpan(h).first(kAgentHeaderSize));
  EXPECT_TRUE(ok.ok());
  store_u32(h, 12, kAgentMaxPayload + 1);
  auto bad = decode_frame_header(ByteSpan(h).first(kAgentHeaderSize));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::bad_length);
}

TEST(AgentFrame, TrailingBytesRejected) {
  Bytes wire = encode_request(3, PingRequest{});
  wire.push_back(std::byte{0});
  auto d = decode_frame(wire);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::trailing_data);
}

std::string fail_field(const Result<ExecRequest>& r) { return r.ok() ? "ok" : r.error().field; }

TEST(AgentExecRequest, InvalidArgvEnvCwdFlags) {
  ExecRequest m = sample_exec();
  m.argv = {};
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.argv");
  m.argv = {""};
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.argv");
  m.argv = {"a", std::string("b\0c", 3)};
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.argv");
  m = sample_exec();
  m.env = {"NOEQUALS"};
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.env");
  m.env = {"=x"};
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.env");
  m = sample_exec();
  m.cwd = std::string("/t\0", 3);
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.cwd");
  m = sample_exec();
  m.flags = 2;
  EXPECT_EQ(fail_field(decode_exec_request(encode_payload(m))), "exec.flags");
}

TEST(AgentExecRequest, LyingListCountIsBadLength) {
  Bytes wire = encode_payload(sample_exec());
  store_u32(wire, 0, 0xFFFFFFFF);  // argv count
  auto d = decode_exec_request(wire);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::bad_length);
  EXPECT_STREQ(d.error().field, "exec.argv");
}

TEST(AgentExecRequest, LyingStringLengthIsTruncated) {
  Bytes wire = encode_payload(sample_exec());
  store_u32(wire, 4, 0x7FFFFFFF);  // length of argv[0]
  auto d = decode_exec_request(wire);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::truncated);
}

TEST(AgentPayloads, BadValuesNameTheirField) {
  ExecResponse er = sample_exec_response();
  Bytes w = encode_payload(er);
  w[0] = std::byte{2};
  EXPECT_STREQ(decode_exec_response(w).error().field, "exec_response.termination");
  er.flags = 0x10;
  EXPECT_STREQ(decode_exec_response(encode_payload(er)).error().field, "exec_response.flags");
  EXPECT_STREQ(decode_read_file_request(encode_payload(ReadFileRequest{"", 0, 0})).error().field,
               "read_file.path");
  EXPECT_STREQ(decode_read_file_response(encode_payload(ReadFileResponse{0, 2, {}})).error().field,
               "read_file_response.flags");
  EXPECT_STREQ(decode_write_file_request(encode_payload(WriteFileRequest{"/x", 010000, 0, {}})).error().field,
               "write_file.mode");
  EXPECT_STREQ(decode_write_file_request(encode_payload(WriteFileRequest{"/x", 0, 8, {}})).error().field,
               "write_file.flags");
  EXPECT_STREQ(decode_stat_request(encode_payload(StatRequest{"/x", 2})).error().field, "stat.flags");
  EXPECT_STREQ(decode_stat_request(encode_payload(StatRequest{std::string("/\0", 2), 0})).error().field,
               "stat.path");
}

TEST(AgentPayloads, TrailingBytesNameTheMessage) {
  Bytes w = encode_payload(StatRequest{"/x", 0});
  w.push_back(std::byte{0});
  auto d = decode_stat_request(w);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::trailing_data);
  EXPECT_STREQ(d.error().field, "stat.trailing");
}

// ---- FrameAssembler -----------------------------------------------------------------

std::vector<AssemblerEvent> drain(FrameAssembler& a) {
  std::vector<AssemblerEvent> out;
  while (auto ev = a.next()) out.push_back(std::move(*ev));
  return out;
}

TEST(AgentAssembler, ByteByByte) {
  const Bytes wire = encode_request(5, sample_exec());
  FrameAssembler a;
  std::vector<AssemblerEvent> events;
  for (std::byte b : wire) {
    a.feed(ByteSpan(&b, 1));
    for (auto& ev : drain(a)) events.push_back(std::move(ev));
  }
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].ok());
  EXPECT_EQ(events[0].frame->request_id, 5u);
  EXPECT_EQ(a.buffered(), 0u);
}

TEST(AgentAssembler, SeveralFramesInOneChunk) {
  const Bytes wire = cat({encode_request(1, PingRequest{}), encode_request(2, StatRequest{"/", 0}),
                          encode_request(3, PingRequest{str_bytes("x")})});
  FrameAssembler a;
  a.feed(wire);
  auto ev = drain(a);
  ASSERT_EQ(ev.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_EQ(ev[i].frame->request_id, i + 1);
}

TEST(AgentAssembler, GarbageThenGoodFrame) {
  const Bytes garbage = str_bytes("login: root\r\nhello garbage VMB VM V");
  const Bytes good = encode_request(9, PingRequest{str_bytes("p")});
  FrameAssembler a;
  a.feed(cat({garbage, good}));
  auto ev = drain(a);
  ASSERT_EQ(ev.size(), 2u);
  ASSERT_FALSE(ev[0].ok());
  EXPECT_STREQ(ev[0].error->field, "frame.magic");
  EXPECT_EQ(ev[0].discarded, garbage.size());
  EXPECT_FALSE(ev[0].header.has_value());
  ASSERT_TRUE(ev[1].ok());
  EXPECT_EQ(ev[1].frame->request_id, 9u);
}

TEST(AgentAssembler, GarbageAloneIsOneEventKeepingAMagicPrefix) {
  FrameAssembler a;
  a.feed(str_bytes("xyzVM"));
  auto ev = drain(a);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].discarded, 3u);
  EXPECT_EQ(a.buffered(), 2u);  // "VM" may start a frame
  const Bytes good = encode_request(4, PingRequest{});
  a.feed(ByteSpan(good).subspan(2));  // the rest of that frame
  ev = drain(a);
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_TRUE(ev[0].ok());
  EXPECT_EQ(ev[0].frame->request_id, 4u);
}

TEST(AgentAssembler, CorruptedCrcThenGoodFrame) {
  Bytes bad = encode_request(7, PingRequest{str_bytes("payload")});
  bad.back() ^= std::byte{0x20};
  FrameAssembler a;
  a.feed(cat({bad, encode_request(8, PingRequest{})}));
  auto ev = drain(a);
  ASSERT_EQ(ev.size(), 2u);
  ASSERT_FALSE(ev[0].ok());
  EXPECT_STREQ(ev[0].error->field, "frame.crc32");
  ASSERT_TRUE(ev[0].header.has_value());
  EXPECT_EQ(ev[0].header->request_id, 7u);  // the answer can name the request
  EXPECT_EQ(ev[0].discarded, bad.size());
  ASSERT_TRUE(ev[1].ok());
  EXPECT_EQ(ev[1].frame->request_id, 8u);
}

TEST(AgentAssembler, BadVersionThenGoodFrame) {
  Bytes bad = encode_request(7, PingRequest{});
  bad[4] = std::byte{9};
  FrameAssembler a;
  a.feed(cat({bad, encode_request(8, PingRequest{})}));
  auto ev = drain(a);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_STREQ(ev[0].error->field, "frame.version");
  EXPECT_EQ(ev[0].header->request_id, 7u);
  EXPECT_EQ(ev[1].frame->request_id, 8u);
}

TEST(AgentAssembler, HugeLengthIsRejectedWithoutWaiting) {
  Bytes bad = encode_request(7, PingRequest{});
  store_u32(bad, 12, 0xFFFFFFF0);
  FrameAssembler a;
  a.feed(ByteSpan(bad).first(kAgentHeaderSize));
  auto ev = drain(a);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_STREQ(ev[0].error->field, "frame.length");
}

TEST(AgentAssembler, SmallerConfiguredLimit) {
  FrameAssembler a(4);
  a.feed(encode_request(1, PingRequest{str_bytes("toolong")}));
  auto ev = drain(a);
  ASSERT_GE(ev.size(), 1u);
  EXPECT_STREQ(ev[0].error->field, "frame.length");
}

TEST(AgentAssembler, PartialFrameWaitsThenCanBeAbandoned) {
  const Bytes good = encode_request(6, PingRequest{str_bytes("abcdef")});
  FrameAssembler a;
  a.feed(ByteSpan(good).first(good.size() - 3));
  EXPECT_TRUE(drain(a).empty());
  EXPECT_EQ(a.buffered(), good.size() - 3);
  auto ev = a.abandon_partial();
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->error->code, Errc::truncated);
  ASSERT_TRUE(ev->header.has_value());
  EXPECT_EQ(ev->header->request_id, 6u);
  EXPECT_EQ(a.buffered(), 0u);
  EXPECT_FALSE(a.abandon_partial().has_value());
  a.feed(encode_request(7, PingRequest{}));
  auto next = drain(a);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].frame->request_id, 7u);
}

TEST(AgentAssembler, FrameInsideGarbageIsFound) {
  // Every split point of garbage + frame + garbage + frame delivers both frames.
  const Bytes wire = cat({str_bytes("\x01\x02VMBx"), encode_request(1, PingRequest{}), str_bytes("zz"),
                          encode_request(2, PingRequest{str_bytes("q")})});
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    FrameAssembler a;
    std::vector<std::uint32_t> ids;
    a.feed(ByteSpan(wire).first(split));
    for (auto& ev : drain(a)) {
      if (ev.ok()) ids.push_back(ev.frame->request_id);
    }
    a.feed(ByteSpan(wire).subspan(split));
    for (auto& ev : drain(a)) {
      if (ev.ok()) ids.push_back(ev.frame->request_id);
    }
    EXPECT_EQ(ids, (std::vector<std::uint32_t>{1, 2})) << "split " << split;
  }
}

TEST(AgentAssembler, ManyFramesCompactTheBuffer) {
  FrameAssembler a;
  const Bytes one = encode_request(1, PingRequest{Bytes(1000, std::byte{7})});
  for (int i = 0; i < 100; ++i) {
    a.feed(one);
    auto ev = drain(a);
    ASSERT_EQ(ev.size(), 1u);
    ASSERT_TRUE(ev[0].ok());
  }
  EXPECT_EQ(a.buffered(), 0u);
}

}  // namespace
}  // namespace vmbh::proto
