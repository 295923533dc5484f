#include "serve_session.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "serve_devices.h"
#include "vmbh/host/trace_print.h"
#include "vmbh/protocols/describe.h"

namespace vmbh::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kReadyMarker = "VMBH-READY";
constexpr auto kTick = std::chrono::milliseconds(20);
volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

std::uint64_t ms_since(host::Clock::time_point t0) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(host::Clock::now() - t0).count());
}

void to_proto(const host::ChannelManager::ChannelInfo& c, control::Channel& out) {
  out.set_relid(c.relid);
  out.set_name(c.name);
  out.set_class_id(c.class_id.to_string());
  out.set_instance_id(c.instance_id.to_string());
  out.set_state(c.state);
  out.set_target_vp(c.target_vp);
  for (const auto& [k, v] : c.facts) {
    auto* f = out.add_facts();
    f->set_key(k);
    f->set_value(v);
  }
  if (!c.error.empty()) {
    auto* f = out.add_facts();
    f->set_key("error");
    f->set_value(c.error);
  }
}

}  // namespace

ServeSession::ServeSession(ServeOptions options) : o_(std::move(options)) {}

ServeSession::~ServeSession() {
  qemu_.stop();
  if (!ram_file_.empty()) unlink(ram_file_.c_str());
}

void ServeSession::log(const std::string& line) {
  double t = std::chrono::duration<double>(host::Clock::now() - started_).count();
  std::fprintf(stderr, "[%8.3f] %s\n", t, line.c_str());
  if (tracing_) tracing_->note(line);
}

host::Status ServeSession::start() {
  if (o_.run_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "vmbh-serve-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return host::Status::fail("serve: cannot create a run directory in " + tmpl);
    o_.run_dir = tmpl;
  }
  std::error_code ec;
  fs::create_directories(o_.run_dir, ec);
  if (ec) return host::Status::fail("serve: cannot create " + o_.run_dir + ": " + ec.message());
  relay_socket_ = o_.run_dir + "/relay.sock";
  agent_socket_ = o_.run_dir + "/agent.sock";
  trace_path_ = o_.run_dir + "/trace.vmbhtrace";
  // RAM on tmpfs: page-cache backed, shared with QEMU, gone when both close it.
  ram_file_ = "/dev/shm/vmbh-" + std::to_string(getpid()) + ".ram";

  trace::TraceHeader header;
  header.set_description("vmbh serve --image " + o_.image_dir);
  auto tw = host::TraceWriter::create(trace_path_, header);
  if (!tw) return tw.status();
  trace_ = std::move(tw.value());

  auto listener = host::RelayListener::listen(relay_socket_);
  if (!listener) return listener.status();
  listener_.emplace(std::move(listener.value()));

  if (auto s = control_.listen(
          o_.control_socket,
          [this](const control::Request& r, ControlServer::Reply reply) { handle(r, std::move(reply)); });
      !s) {
    return s;
  }

  QemuConfig qc;
  qc.qemu = o_.qemu;
  qc.image_dir = o_.image_dir;
  qc.accel = o_.accel;
  qc.smp = o_.smp;
  qc.mem_mb = o_.mem_mb;
  qc.ram_file = ram_file_;
  qc.relay_socket = relay_socket_;
  qc.agent_socket = agent_socket_;
  qc.qemu_log = o_.run_dir + "/qemu.log";
  qc.extra_append = o_.append;
  qc.disks = o_.disks;
  qc.nics = o_.nics;
  auto argv = qemu_argv(qc);
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  log("qemu: " + cmd);
  if (auto s = qemu_.start(argv, o_.run_dir + "/console.log"); !s) return s;
  return connect_host();
}

host::Status ServeSession::connect_host() {
  // Short accepts so that a QEMU that dies on start-up is reported at once.
  auto deadline = host::Clock::now() + std::chrono::seconds(o_.relay_timeout_s);
  for (;;) {
    // Once connected, QEMU gets the rest of the relay timeout for HELLO.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - host::Clock::now());
    auto relay = listener_->accept(ram_file_, std::chrono::milliseconds(200),
                                   std::max(left, std::chrono::milliseconds(1000)));
    if (relay) {
      relay_ = std::move(relay.value());
      break;
    }
    qemu_.drain_console();
    if (qemu_.reap()) {
      return host::Status::fail("QEMU exited with status " + std::to_string(qemu_.exit_status()) +
                                " before connecting to the relay:\n" + qemu_.console_tail(2000));
    }
    if (relay.message().find("did not connect") == std::string::npos) return relay.status();
    if (host::Clock::now() > deadline) {
      return host::Status::fail("QEMU did not connect to the relay socket within " +
                                std::to_string(o_.relay_timeout_s) + " s");
    }
  }
  // Both sides have the file open now; nothing needs the name any more.
  unlink(ram_file_.c_str());
  tracing_ = std::make_unique<host::TracingTransport>(*relay_, *trace_);
  std::uint64_t ram_bytes = 0;
  for (const auto& r : relay_->ram().regions()) ram_bytes += r.size;
  log("relay: QEMU connected; guest RAM " + std::to_string(ram_bytes >> 20) + " MiB in " +
      std::to_string(relay_->ram().regions().size()) + " region(s)");

  host::ChannelManagerOptions mo;
  mo.max_version = o_.max_version;
  mo.log = [this](const std::string& line) { log(line); };
  mo.packet_observer = [this](std::uint32_t relid, const std::string& device, bool to_guest,
                              proto::ByteSpan p) { tracing_->packet(relid, device, to_guest, p); };
  mo.on_change = [this] { check_waiters(); };
  manager_ = std::make_unique<host::ChannelManager>(*tracing_, mo);
  devices_ = std::make_unique<Devices>(*manager_, o_, qemu_.started(),
                                       [this] { return relay_->reference_time(host::Clock::now()); });
  return manager_->start();
}

void ServeSession::check_waiters() {
  auto now = host::Clock::now();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    std::optional<host::ChannelManager::ChannelInfo> found;
    for (const auto& c : manager_->channels()) {
      if (c.name == it->name) found = c;
    }
    if (found && found->state == it->state) {
      control::Response r;
      to_proto(*found, *r.mutable_channel());
      auto reply = std::move(it->reply);
      it = waiters_.erase(it);
      reply(r);
    } else if (now >= it->deadline || !qemu_.running()) {
      std::string why = !qemu_.running() ? "QEMU exited" : "timeout";
      auto reply = std::move(it->reply);
      std::string msg = why + ": channel " + it->name + " is " + (found ? found->state : "not offered") +
                        ", not " + it->state;
      it = waiters_.erase(it);
      reply(control_error(msg));
    } else {
      ++it;
    }
  }
}

void ServeSession::fill_status(control::Status& st) const {
  if (auto v = manager_->negotiated_version()) st.set_vmbus_version(proto::version_string(proto::raw(*v)));
  for (const auto& c : manager_->channels()) to_proto(c, *st.add_channels());
  st.set_guest_ready(guest_ready_);
  st.set_qemu_running(qemu_.running());
  st.set_qemu_exit_status(qemu_.running() ? 0 : qemu_.exit_status());
  st.set_run_dir(o_.run_dir);
  st.set_agent_socket(agent_socket_);
  st.set_boots(boots_);
  st.set_vmbus_connects(static_cast<std::uint32_t>(manager_->contacts_accepted()));
  st.set_unloads(static_cast<std::uint32_t>(manager_->unloads()));
  st.set_guest_resets(static_cast<std::uint32_t>(manager_->resets()));
  st.set_last_ready_ms(last_ready_ms_);
  st.set_last_reset_ms(last_reset_ms_);
}

void ServeSession::check_ready() {
  if (guest_ready_ || !qemu_.console_saw(kReadyMarker, ready_search_from_)) return;
  guest_ready_ = true;
  ++boots_;
  last_ready_ms_ = ms_since(started_);
  log("guest: ready (boot " + std::to_string(boots_) + ")");
}

void ServeSession::check_reset() {
  if (manager_->resets() == resets_seen_) return;
  resets_seen_ = manager_->resets();
  // QEMU wrote the old boot's last console bytes before it reset, so they
  // are in the pipe now: whatever follows them is the new boot.
  qemu_.drain_console();
  ready_search_from_ = qemu_.console_bytes();
  guest_ready_ = false;
  last_reset_ms_ = ms_since(started_);
  log("guest: reset; not ready until the next ready marker");
}

void ServeSession::handle(const control::Request& req, ControlServer::Reply reply) {
  control::Response r;
  switch (req.op_case()) {
    case control::Request::kGetStatus:
      fill_status(*r.mutable_status());
      return reply(r);
    case control::Request::kWaitChannel: {
      const auto& w = req.wait_channel();
      std::uint32_t ms = w.timeout_ms() ? w.timeout_ms() : 60000;
      waiters_.push_back({w.name(), w.state().empty() ? "open" : w.state(),
                          host::Clock::now() + std::chrono::milliseconds(ms), std::move(reply)});
      return check_waiters();
    }
    case control::Request::kRescind:
    case control::Request::kReoffer: {
      const std::string& name = req.has_rescind() ? req.rescind().name() : req.reoffer().name();
      for (const auto& c : manager_->channels()) {
        if (c.name != name) continue;
        host::Status s = req.has_rescind() ? manager_->rescind(c.relid) : manager_->reoffer(c.relid);
        return reply(s ? r : control_error(s.message()));
      }
      return reply(control_error("no channel named " + name));
    }
    case control::Request::kReadTrace: {
      auto reader = host::TraceReader::open(trace_path_);
      if (!reader) return reply(control_error(reader.message()));
      host::TracePrinter printer;
      auto* chunk = r.mutable_trace();
      std::uint64_t index = 0;
      trace::TraceRecord rec;
      std::uint64_t max = req.read_trace().max_records();
      for (;;) {
        auto more = reader.value()->next(rec);
        if (!more || !more.value()) break;  // a record being written is picked up next time
        if (index++ < req.read_trace().from()) {
          printer.follow(rec);  // its negotiations still decide how later records print
          continue;
        }
        chunk->add_records(rec.SerializeAsString());
        chunk->add_lines(printer.line(rec));
        if (max != 0 && static_cast<std::uint64_t>(chunk->records_size()) >= max) break;
      }
      chunk->set_next(req.read_trace().from() + static_cast<std::uint64_t>(chunk->records_size()));
      return reply(r);
    }
    case control::Request::kQuit:
      quit_ = true;
      return reply(r);
    default:
      return devices_->handle(req, std::move(reply));
  }
}

void ServeSession::loop_once() {
  std::vector<pollfd> fds;
  auto add = [&fds](int fd, short events) {
    if (fd >= 0) fds.push_back({fd, events, 0});
  };
  add(qemu_.console_fd(), POLLIN);
  // A pidfd stays readable once QEMU has exited: polled while it runs only.
  if (qemu_.running()) add(qemu_.exit_fd(), POLLIN);
  if (!relay_closed_) add(relay_->poll_fd(), POLLIN);
  for (int fd : control_.poll_fds())
    add(fd, static_cast<short>(POLLIN | (control_.wants_write(fd) ? POLLOUT : 0)));
  poll(fds.data(), fds.size(), static_cast<int>(kTick.count()));

  for (const auto& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == qemu_.console_fd()) {
      qemu_.drain_console();
      check_ready();
    } else if (p.fd == qemu_.exit_fd()) {
      if (qemu_.reap()) {
        qemu_.drain_console();
        log("qemu: exited with status " + std::to_string(qemu_.exit_status()));
      }
    } else if (p.fd == relay_->poll_fd()) {
      if (auto s = relay_->dispatch(); !s && !relay_closed_) {
        relay_closed_ = true;
        log("relay: " + s.message());
      }
      for (const auto& e : relay_->take_errors()) log("relay: QEMU: " + e);
      check_reset();
    } else {
      if (p.revents & POLLOUT) control_.on_writable(p.fd);
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) control_.on_readable(p.fd);
    }
  }
  manager_->tick(host::Clock::now());
  check_contact();
  check_waiters();
}

void ServeSession::check_contact() {
  // A reference time taken while the guest runs, as soon as it connects: the
  // timesync SYNC sent once that channel is ready (a few hundred ms later) is
  // computed from it. Without it the boot-time SYNC used the sample asked while
  // QEMU was starting, whose error was large (the guest clock 85 ms behind).
  if (manager_->contacts_accepted() != contacts_seen_) {
    contacts_seen_ = manager_->contacts_accepted();
    if (!relay_closed_) (void)relay_->request_reference_time();
  }
  if (relay_->reference_time_jumps() != ref_jumps_seen_) {
    ref_jumps_seen_ = relay_->reference_time_jumps();
    const auto& s = relay_->reference_time_sample();
    log("relay: the guest's reference time disagreed with the previous sample; now " +
        std::to_string(s ? s->value : 0) + " (100 ns units)");
  }
}

int ServeSession::run() {
  if (auto s = start(); !s) {
    std::cerr << "vmbh serve: " << s.message() << "\n";
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  while (!quit_ && !g_stop) loop_once();
  // Let the last replies (Quit's own) reach their clients.
  for (int i = 0; i < 10; ++i) {
    for (int fd : control_.poll_fds()) control_.on_writable(fd);
  }
  log(g_stop ? "serve: stopped by a signal" : "serve: quit");
  qemu_.stop();
  return 0;
}

int serve_main(const std::vector<std::string>& args) {
  auto o = parse_serve_options(args);
  if (!o) {
    std::cerr << o.message() << "\n" << kServeUsage;
    return 2;
  }
  ServeSession session(std::move(o.value()));
  return session.run();
}

}  // namespace vmbh::cli
