// Replays corpus files through LLVMFuzzerTestOneInput without libFuzzer, so
// ctest catches regressions in every build (including gcc and ASan builds).
// Usage: NAME_fuzzer FILE_OR_DIR...   Fails if no input was found.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool replay_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A heap copy of exactly the input size lets ASan catch reads past the end.
  auto* copy = new std::uint8_t[data.size() + 1];
  std::copy(data.begin(), data.end(), copy);
  LLVMFuzzerTestOneInput(copy, data.size());
  delete[] copy;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (!entry.is_regular_file()) continue;
        if (!replay_file(entry.path())) return 1;
        ++count;
      }
    } else if (std::filesystem::exists(arg, ec)) {
      if (!replay_file(arg)) return 1;
      ++count;
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 1;
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "replay: no inputs found (an empty corpus replays nothing)\n");
    return 1;
  }
  std::printf("replay: %zu inputs ran without a finding\n", count);
  return 0;
}
