// The operations the guest agent performs. Each returns the typed response or
// the ErrorReply to send; none of them throws or exits the agent.
#pragma once

#include <string>
#include <variant>

#include "vmbh/protocols/agent.h"

namespace vmbh::agent {

template <class T>
using Reply = std::variant<T, proto::ErrorReply>;

// An os_error reply: "<what>: <strerror(err)>".
proto::ErrorReply os_error(int err, const std::string& what);

// Runs argv with fork/execve in its own process group, feeds stdin, collects
// stdout/stderr up to the caps (the rest is read and dropped, flagged as
// truncated), and kills the whole group with SIGKILL at the timeout.
Reply<proto::ExecResponse> run_exec(const proto::ExecRequest& req);

Reply<proto::ReadFileResponse> read_file(const proto::ReadFileRequest& req);
Reply<proto::WriteFileResponse> write_file(const proto::WriteFileRequest& req);
Reply<proto::StatResponse> stat_path(const proto::StatRequest& req);

}  // namespace vmbh::agent
