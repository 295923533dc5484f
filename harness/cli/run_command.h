#pragma once
// `vmbh run`: the conformance suite. The suite is Python (pytest, under
// harness/conformance); this hands the arguments to its front end,
// harness/conformance/run.py, with Debian's python3.
#include <string>
#include <vector>

namespace vmbh::cli {

// Replaces the process with the front end; returns only on failure (2).
int run_main(const std::vector<std::string>& args);

}  // namespace vmbh::cli
