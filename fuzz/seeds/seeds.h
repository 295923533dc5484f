// Seed registry for corpus_gen: each seeds/<target>_seeds.cc registers a
// function producing a valid example of every message type its target decodes,
// in exactly the input format that target's LLVMFuzzerTestOneInput expects.
#pragma once

#include <vector>

#include "vmbh/protocols/bytes.h"

namespace vmbh::fuzz {

using SeedList = std::vector<proto::Bytes>;
using SeedFn = SeedList (*)();

struct SeedTarget {
  const char* name;  // corpus directory name = fuzz target name without _fuzzer
  SeedFn make;
};

// Registration happens in static initializers of files linked into corpus_gen.
bool register_seeds(const char* name, SeedFn make);
const std::vector<SeedTarget>& seed_targets();

}  // namespace vmbh::fuzz

#define VMBH_REGISTER_SEEDS(name, fn) \
  static const bool vmbh_seeds_registered_##name = ::vmbh::fuzz::register_seeds(#name, fn)
