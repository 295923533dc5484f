// Seeds for the `fcopy` target: selector byte, then an fcopy message body.
#include "seeds/seeds.h"
#include "vmbh/protocols/fcopy.h"

namespace {

using namespace vmbh::proto;

Bytes with_selector(std::uint8_t selector, const FcopyMessage& m) {
  Bytes out;
  out.push_back(std::byte{selector});
  auto body = encode_fcopy(m);
  if (body.ok()) out.insert(out.end(), body->begin(), body->end());
  return out;
}

vmbh::fuzz::SeedList fcopy_seeds() {
  FcopyStart ascii;
  ascii.file_name = "data.bin";
  ascii.path_name = "/tmp/in";
  ascii.copy_flags = kFcopyOverWrite | kFcopyCreatePath;
  ascii.file_size = 8192;
  FcopyStart wide;
  wide.file_name = "r\xC3\xA9sum\xC3\xA9-\xF0\x9F\x98\x80.txt";
  wide.path_name = "/home/\xE6\x97\xA5\xE6\x9C\xAC";
  FcopyWrite small;
  small.offset = 4096;
  small.data = bytes_of('h', 'e', 'l', 'l', 'o');
  FcopyWrite full;
  full.data.assign(kFcopyDataFragment, std::byte{0x42});

  vmbh::fuzz::SeedList seeds;
  const FcopyMessage all[] = {ascii, wide, small, full, FcopyComplete{}, FcopyCancel{}};
  for (const auto& m : all) seeds.push_back(with_selector(0, m));
  seeds.push_back(with_selector(1, ascii));
  seeds.push_back(with_selector(2, small));
  seeds.push_back(with_selector(3, FcopyComplete{}));
  seeds.push_back(with_selector(4, FcopyCancel{}));
  seeds.push_back(with_selector(5, ascii));
  seeds.push_back(with_selector(5, wide));
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(fcopy, fcopy_seeds);
