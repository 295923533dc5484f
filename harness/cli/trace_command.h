// `vmbh trace show FILE`: prints a trace decoded by the protocols library.
#pragma once

#include <ostream>
#include <string>

namespace vmbh::cli {

// Returns the process exit status; errors go to `err` as one line.
int trace_show(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace vmbh::cli
