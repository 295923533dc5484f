// Writes the seed corpora, or checks that committed ones hold every seed.
//   corpus_gen --write DIR   write DIR/<target>/<sha1> for every registered seed
//   corpus_gen --check DIR   exit 1 naming every seed missing from DIR
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "seeds/seeds.h"
#include "sha1.h"

namespace vmbh::fuzz {

namespace {
std::vector<SeedTarget>& registry() {
  static std::vector<SeedTarget> targets;
  return targets;
}
}  // namespace

bool register_seeds(const char* name, SeedFn make) {
  registry().push_back({name, make});
  return true;
}
const std::vector<SeedTarget>& seed_targets() { return registry(); }

}  // namespace vmbh::fuzz

namespace {

namespace fs = std::filesystem;
using vmbh::fuzz::seed_targets;
using vmbh::fuzz::sha1_hex;

bool write_all(const fs::path& root) {
  for (const auto& target : seed_targets()) {
    fs::path dir = root / target.name;
    fs::create_directories(dir);
    std::size_t n = 0;
    for (const auto& seed : target.make()) {
      std::ofstream out(dir / sha1_hex(seed), std::ios::binary);
      out.write(reinterpret_cast<const char*>(seed.data()), static_cast<std::streamsize>(seed.size()));
      if (!out) {
        std::fprintf(stderr, "corpus_gen: cannot write into %s\n", dir.c_str());
        return false;
      }
      ++n;
    }
    std::printf("%-20s %zu seeds\n", target.name, n);
  }
  return true;
}

bool check_all(const fs::path& root) {
  std::size_t missing = 0;
  std::size_t total = 0;
  for (const auto& target : seed_targets()) {
    for (const auto& seed : target.make()) {
      ++total;
      fs::path file = root / target.name / sha1_hex(seed);
      if (!fs::exists(file)) {
        std::fprintf(stderr, "missing seed: %s\n", file.c_str());
        ++missing;
      }
    }
  }
  if (total == 0) {
    std::fprintf(stderr, "corpus_gen: no seeds registered\n");
    return false;
  }
  if (missing != 0) {
    std::fprintf(stderr, "%zu of %zu seeds missing: run corpus_gen --write corpora\n", missing, total);
    return false;
  }
  std::printf("all %zu seeds of %zu targets present\n", total, seed_targets().size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "--write") != 0 && std::strcmp(argv[1], "--check") != 0)) {
    std::fprintf(stderr, "usage: corpus_gen --write|--check CORPORA_DIR\n");
    return 2;
  }
  const bool ok = std::strcmp(argv[1], "--write") == 0 ? write_all(argv[2]) : check_all(argv[2]);
  return ok ? 0 : 1;
}
