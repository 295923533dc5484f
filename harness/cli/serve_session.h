// One `vmbh serve` run: QEMU with the vmbus-relay device, the VMBus host
// (channel manager + integration-component devices) behind a tracing
// transport, and the control socket, all on one thread around poll().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control_server.h"
#include "qemu_command.h"
#include "qemu_process.h"
#include "serve_options.h"
#include "vmbh/host/channel_manager.h"
#include "vmbh/host/relay_transport.h"
#include "vmbh/host/trace_file.h"
#include "vmbh/host/tracing_transport.h"

namespace vmbh::cli {

class Devices;

class ServeSession {
 public:
  explicit ServeSession(ServeOptions options);
  ~ServeSession();
  ServeSession(const ServeSession&) = delete;
  ServeSession& operator=(const ServeSession&) = delete;

  // Runs until Quit or a termination signal; the exit status of `vmbh serve`.
  int run();

 private:
  host::Status start();
  // Waits for QEMU on the relay socket, then builds the host behind it.
  host::Status connect_host();
  void loop_once();
  void handle(const control::Request& req, ControlServer::Reply reply);
  void fill_status(control::Status& st) const;
  void check_waiters();
  // After the relay's events: notices a guest reset (the guest is not ready
  // until the new boot prints its marker).
  void check_reset();
  void check_contact();  // a new VMBus connect: ask QEMU for a fresh reference time
  void check_ready();
  void log(const std::string& line);

  struct Waiter {
    std::string name;
    std::string state;
    host::Clock::time_point deadline;
    ControlServer::Reply reply;
  };

  ServeOptions o_;
  std::string ram_file_, relay_socket_, agent_socket_, trace_path_;
  QemuProcess qemu_;
  ControlServer control_;
  std::optional<host::RelayListener> listener_;
  std::unique_ptr<host::RelayTransport> relay_;
  std::unique_ptr<host::TraceWriter> trace_;
  std::unique_ptr<host::TracingTransport> tracing_;
  std::unique_ptr<host::ChannelManager> manager_;
  std::unique_ptr<Devices> devices_;
  std::vector<Waiter> waiters_;
  host::Clock::time_point started_ = host::Clock::now();
  bool guest_ready_ = false;
  std::uint64_t ready_search_from_ = 0;  // console offset where this boot's output starts
  std::uint64_t resets_seen_ = 0;        // manager_->resets() already handled
  std::uint32_t boots_ = 0;              // ready markers seen
  std::uint64_t last_ready_ms_ = 0;
  std::uint64_t last_reset_ms_ = 0;
  bool quit_ = false;
  bool relay_closed_ = false;
  std::uint64_t contacts_seen_ = 0;
  std::uint64_t ref_jumps_seen_ = 0;
};

// `vmbh serve ARGS...`
int serve_main(const std::vector<std::string>& args);

}  // namespace vmbh::cli
