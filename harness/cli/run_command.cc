#include "run_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace vmbh::cli {

namespace {

// Debian's interpreter: it has python3-pytest and python3-protobuf, which a
// python3 earlier on PATH (pyenv, venvs) may lack.
constexpr const char* kPython = "/usr/bin/python3";

}  // namespace

int run_main(const std::vector<std::string>& args) {
  const std::filesystem::path front_end =
      std::filesystem::path(VMBH_SOURCE_DIR) / "harness/conformance/run.py";
  if (!std::filesystem::exists(front_end)) {
    std::cerr << "vmbh run: " << front_end.string() << " is missing (vmbh run needs its source tree)\n";
    return 2;
  }
  // The suite starts this build's vmbh serve and guest agent.
  setenv("VMBH_BUILD", VMBH_BINARY_DIR, 0);
  std::vector<std::string> argv_s = {kPython, front_end.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(kPython, argv.data());
  std::cerr << "vmbh run: cannot start " << kPython << ": " << std::strerror(errno)
            << " (Debian package python3; run ci/setup)\n";
  return 2;
}

}  // namespace vmbh::cli
