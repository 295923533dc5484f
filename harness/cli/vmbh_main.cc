// The vmbh command (docs/architecture.md): trace show, serve, run.
#include <iostream>
#include <string>
#include <vector>

#include "run_command.h"
#include "serve_session.h"
#include "trace_command.h"

namespace {

constexpr const char* kUsage =
    "usage: vmbh trace show FILE     print a trace, decoded\n"
    "       vmbh serve --image DIR ...  run a guest with the vmbh host (vmbh serve --help)\n"
    "       vmbh run [--kernel SPEC] [--suite smoke|full] ...  the conformance suite (vmbh run --help)\n";

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "trace" && args[1] == "show") {
    return vmbh::cli::trace_show(args[2], std::cout, std::cerr);
  }
  if (!args.empty() && args[0] == "serve") {
    if (args.size() == 2 && (args[1] == "-h" || args[1] == "--help")) {
      std::cout << vmbh::cli::kServeUsage;
      return 0;
    }
    return vmbh::cli::serve_main({args.begin() + 1, args.end()});
  }
  if (!args.empty() && args[0] == "run") return vmbh::cli::run_main({args.begin() + 1, args.end()});
  if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << kUsage;
  return 2;
}
