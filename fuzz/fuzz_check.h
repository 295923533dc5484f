// Assertions for fuzz targets: a failed check is a finding, so it aborts with
// the location, in libFuzzer runs and in corpus replay alike.
#pragma once

#include <cstdio>
#include <cstdlib>

#define VMBH_FUZZ_CHECK(cond)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
