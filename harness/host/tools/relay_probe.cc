// vmbh-relay-probe: the smallest live check of the QEMU relay. Listens on a
// unix socket, (optionally) starts QEMU, registers the VMBus message
// connections 1 and 4, and prints the guest's first channel message decoded.
// For INITIATE_CONTACT it maps the monitor pages the message points at through
// GuestRam and prints their first bytes; --mark writes a marker into
// monitor_page1 so a test can read the same guest page back through QEMU.
//
//   vmbh-relay-probe --socket S --ram FILE [--timeout SEC] [--mark] [-- QEMU ARGV...]
//
// Output lines: "listening S", "hello ...", "registered 1 4", "message ...",
// "decoded <describe()>", "initiate_contact ...", "page <name> gpa=... bytes=...",
// "marked gpa=... bytes=...". Exit status 0 once a message was decoded.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vmbh/host/relay_transport.h"
#include "vmbh/protocols/describe.h"
#include "vmbh/protocols/vmbus.h"

namespace {

using namespace vmbh;

constexpr std::string_view kMarker = "VMBH-RELAY-PROBE";

struct FirstMessage final : host::HostEvents {
  bool got = false;
  std::uint32_t vp = 0, connection_id = 0, message_type = 0;
  proto::Bytes payload;
  std::string closed;
  void on_guest_message(std::uint32_t v, std::uint32_t c, std::uint32_t t, proto::ByteSpan p) override {
    if (got) return;
    got = true;
    vp = v;
    connection_id = c;
    message_type = t;
    payload.assign(p.begin(), p.end());
  }
  void on_guest_signal(std::uint32_t, std::uint32_t) override {}
  void on_guest_reset() override { std::printf("guest reset\n"); }
  void on_transport_closed(const std::string& why) override { closed = why; }
};

std::string hex_bytes(std::span<const std::byte> b) {
  std::string s;
  char buf[4];
  for (std::byte x : b) {
    std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(x));
    s += buf;
  }
  return s;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: vmbh-relay-probe --socket PATH --ram FILE [--timeout SEC] [--mark] [-- QEMU ARGV...]\n");
  return 2;
}

// Maps the page at `gpa` and prints its first 16 bytes; with `mark`, writes kMarker there first.
bool show_page(const host::GuestRam& ram, const char* name, std::uint64_t gpa, bool mark) {
  auto page = ram.map_range(gpa & ~std::uint64_t{0xFFF}, 4096);
  if (!page.ok()) {
    std::printf("page %s gpa=0x%llx error=%s\n", name, static_cast<unsigned long long>(gpa),
                page.message().c_str());
    return false;
  }
  auto bytes = page->bytes().subspan(gpa & 0xFFF);
  if (mark) {
    std::memcpy(bytes.data(), kMarker.data(), kMarker.size());
    std::printf("marked gpa=0x%llx bytes=%s\n", static_cast<unsigned long long>(gpa),
                hex_bytes(bytes.first(kMarker.size())).c_str());
  }
  std::printf("page %s gpa=0x%llx bytes=%s\n", name, static_cast<unsigned long long>(gpa),
              hex_bytes(bytes.first(16)).c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, ram_path;
  double timeout_s = 120;
  bool mark = false;
  std::vector<char*> qemu_argv;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (a == "--ram" && i + 1 < argc) {
      ram_path = argv[++i];
    } else if (a == "--timeout" && i + 1 < argc) {
      timeout_s = std::atof(argv[++i]);
    } else if (a == "--mark") {
      mark = true;
    } else if (a == "--") {
      qemu_argv.assign(argv + i + 1, argv + argc);
      break;
    } else {
      return usage();
    }
  }
  if (socket_path.empty() || ram_path.empty() || timeout_s <= 0) return usage();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  auto listener = host::RelayListener::listen(socket_path);
  if (!listener.ok()) {
    std::fprintf(stderr, "vmbh-relay-probe: %s\n", listener.message().c_str());
    return 1;
  }
  std::printf("listening %s\n", socket_path.c_str());

  pid_t qemu = -1;
  if (!qemu_argv.empty()) {
    qemu_argv.push_back(nullptr);
    qemu = ::fork();
    if (qemu == 0) {
      ::execvp(qemu_argv[0], qemu_argv.data());
      std::fprintf(stderr, "vmbh-relay-probe: cannot run %s: %s\n", qemu_argv[0], std::strerror(errno));
      ::_exit(127);
    }
  }
  auto stop_qemu = [&] {
    if (qemu > 0) {
      ::kill(qemu, SIGTERM);
      ::waitpid(qemu, nullptr, 0);
    }
  };

  auto relay = listener->accept(ram_path, timeout);
  if (!relay.ok()) {
    std::fprintf(stderr, "vmbh-relay-probe: %s\n", relay.message().c_str());
    stop_qemu();
    return 1;
  }
  host::RelayTransport& t = *relay.value();
  std::printf("hello version=%u vcpus=%u regions=", t.hello().version, t.hello().vcpus);
  for (std::size_t i = 0; i < t.hello().regions.size(); ++i) {
    const auto& g = t.hello().regions[i];
    std::printf("%s0x%llx+0x%llx@0x%llx", i ? "," : "", static_cast<unsigned long long>(g.gpa),
                static_cast<unsigned long long>(g.size), static_cast<unsigned long long>(g.file_offset));
  }
  std::printf("\n");

  FirstMessage events;
  t.set_events(&events);
  for (std::uint32_t id : {proto::kVmbusMessageConnectionId, proto::kVmbusMessageConnectionId4}) {
    if (host::Status st = t.add_message_connection(id); !st) {
      std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
      stop_qemu();
      return 1;
    }
  }
  std::printf("registered %u %u\n", proto::kVmbusMessageConnectionId, proto::kVmbusMessageConnectionId4);

  while (!events.got) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    if (left <= 0) {
      std::fprintf(stderr, "vmbh-relay-probe: no guest message within %g s\n", timeout_s);
      stop_qemu();
      return 1;
    }
    pollfd p{t.poll_fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
    if (host::Status st = t.dispatch(); !st) {
      std::fprintf(stderr, "vmbh-relay-probe: %s\n", st.message().c_str());
      stop_qemu();
      return 1;
    }
  }

  std::printf("message vp=%u connection=%u type=%u size=%zu\n", events.vp, events.connection_id,
              events.message_type, events.payload.size());
  auto decoded = proto::decode_channel_message(events.payload, proto::VmbusVersion::win10_v5_3);
  if (!decoded.ok()) {
    std::printf("undecodable %s payload=%s\n", decoded.error().message().c_str(),
                hex_bytes(events.payload).c_str());
    stop_qemu();
    return 1;
  }
  std::printf("decoded %s\n", proto::describe(*decoded).c_str());
  bool pages_ok = true;
  if (const auto* ic = std::get_if<proto::InitiateContact>(&decoded.value())) {
    std::printf(
        "initiate_contact version_requested=0x%x target_vcpu=%u msg_sint=%u monitor_page1=0x%llx "
        "monitor_page2=0x%llx\n",
        ic->version_requested, ic->target_vcpu, ic->msg_sint,
        static_cast<unsigned long long>(ic->monitor_page1),
        static_cast<unsigned long long>(ic->monitor_page2));
    pages_ok = show_page(t.ram(), "monitor_page1", ic->monitor_page1, mark) &&
               show_page(t.ram(), "monitor_page2", ic->monitor_page2, false);
  }
  stop_qemu();
  return pages_ok ? 0 : 1;
}
