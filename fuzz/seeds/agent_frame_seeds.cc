// Seeds for the `agent_frame` target: selector byte, then data (see agent_frame_fuzzer.cc).
#include <algorithm>

#include "seeds/seeds.h"
#include "vmbh/protocols/agent.h"

namespace {

using namespace vmbh::proto;

Bytes text(std::string_view s) {
  Bytes b;
  for (char c : s) b.push_back(std::byte(static_cast<std::uint8_t>(c)));
  return b;
}

Bytes with_selector(std::uint8_t selector, const Bytes& body) {
  Bytes out{std::byte{selector}};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Selector 0: limit byte (255 = the real limit), then (chunk size byte, chunk) pairs.
Bytes assembler_input(const Bytes& stream, std::uint8_t chunk) {
  Bytes out{std::byte{0}, std::byte{255}};
  for (std::size_t i = 0; i < stream.size(); i += chunk) {
    const std::size_t n = std::min<std::size_t>(chunk, stream.size() - i);
    out.push_back(std::byte(static_cast<std::uint8_t>(n - 1)));
    out.insert(out.end(), stream.begin() + static_cast<std::ptrdiff_t>(i),
               stream.begin() + static_cast<std::ptrdiff_t>(i + n));
  }
  return out;
}

vmbh::fuzz::SeedList agent_frame_seeds() {
  // Aggregate initialisation: assigning a literal to exec.cwd trips a false g++ 12 -Wrestrict.
  const ExecRequest exec{.argv = {"/bin/sh", "-c", "uname -r"},
                         .env = {"LANG=C"},
                         .cwd = std::string("/"),
                         .stdin_data = text("in"),
                         .timeout_ms = 1000,
                         .flags = kExecClearEnv};
  ExecResponse exec_resp;
  exec_resp.termination = ExecTermination::signaled;
  exec_resp.code = 9;
  exec_resp.flags = kExecTimedOut | kExecStdoutTruncated;
  exec_resp.stdout_data = text("6.1.0-amd64\n");
  exec_resp.stderr_data = text("warning\n");
  const ReadFileRequest read{"/proc/version", 0, 4096};
  const ReadFileResponse read_resp{0, kReadTruncated, text("Linux version")};
  const WriteFileRequest write{"/tmp/x", 0644, kWriteAppend, text("data")};
  const WriteFileResponse write_resp{4};
  const StatRequest stat{"/dev/vmbus/hv_kvp", kStatNoFollow};
  const StatResponse stat_resp{020600, 0, 0, 1, 0, 42, 1700000000000000000, ""};
  const ErrorReply err{AgentErrc::os_error, 2, "open /x: No such file or directory"};
  const PingRequest ping{text("hello")};
  const PingResponse pong{"vmbh-agent 0.1.0 protocol 1", text("hello")};

  // Payload seeds, one per decoder, in decode_payload order.
  const Bytes payloads[] = {encode_payload(ping),      encode_payload(pong),       encode_payload(exec),
                            encode_payload(exec_resp), encode_payload(read),       encode_payload(read_resp),
                            encode_payload(write),     encode_payload(write_resp), encode_payload(stat),
                            encode_payload(stat_resp), encode_payload(err)};
  vmbh::fuzz::SeedList seeds;
  for (std::uint8_t i = 0; i < 11; ++i)
    seeds.push_back(with_selector(static_cast<std::uint8_t>(i + 2), payloads[i]));

  // Whole frames of every type/op.
  Bytes stream;
  for (std::uint16_t op = 1; op <= 5; ++op) {
    const Bytes req = encode_frame(FrameType::request, op, op, payloads[std::size_t{op - 1u} * 2]);
    const Bytes resp = encode_frame(FrameType::response, op, op, payloads[std::size_t{op - 1u} * 2 + 1]);
    seeds.push_back(with_selector(1, req));
    seeds.push_back(with_selector(1, resp));
    stream.insert(stream.end(), req.begin(), req.end());
    stream.insert(stream.end(), resp.begin(), resp.end());
  }
  const Bytes error_frame = encode_frame(FrameType::error, 3, 7, payloads[10]);
  seeds.push_back(with_selector(1, error_frame));

  // Streams: all frames in small chunks; garbage, a corrupted frame, then a good one.
  seeds.push_back(assembler_input(stream, 7));
  Bytes noisy = text("login: VMB\r\n");
  Bytes corrupt = encode_frame(FrameType::request, 1, 9, payloads[0]);
  corrupt.back() ^= std::byte{1};
  noisy.insert(noisy.end(), corrupt.begin(), corrupt.end());
  noisy.insert(noisy.end(), error_frame.begin(), error_frame.end());
  seeds.push_back(assembler_input(noisy, 64));
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(agent_frame, agent_frame_seeds);
