// Seeds for ic_devices: for each of the seven device kinds, every operation
// answered the Linux way, then timeouts, garbage and close paths, in the
// step format ic_devices_fuzzer.cc reads.
#include "seeds/seeds.h"

namespace {

using vmbh::proto::Bytes;

struct Seed {
  Bytes b;
  Seed& u8(unsigned v) {
    b.push_back(std::byte(static_cast<std::uint8_t>(v)));
    return *this;
  }
  Seed& u16(unsigned v) { return u8(v & 0xFF).u8(v >> 8); }
  Seed& u32(std::uint32_t v) { return u16(v & 0xFFFF).u16(v >> 16); }
  // Step 0 with the operation bytes each device reads.
  Seed& op(unsigned device, unsigned sub) {
    u8(0).u8(sub);
    if (device == 3) u8(sub % 5).u8(3).u8('k').u8('e').u8('y').u8(2).u8('v').u8('1').u8(0);  // kvp
    if (device == 4) u32(0);                                                                 // vss
    if (device >= 5) u16(1).u16(100);                                                        // fcopy
    return *this;
  }
  Seed& answer() { return u8(2).u8(0); }
  Seed& answer_mutated(unsigned offset, unsigned value) { return u8(2).u8(1).u16(offset).u8(value); }
  Seed& tick(std::uint32_t ms) { return u8(3).u32(ms); }
  Seed& reopen() { return u8(4); }
  Seed& raw(unsigned mode, const Bytes& bytes) {
    u8(1).u8(mode).u16(static_cast<unsigned>(bytes.size()));
    b.insert(b.end(), bytes.begin(), bytes.end());
    return *this;
  }
};

vmbh::fuzz::SeedList make() {
  vmbh::fuzz::SeedList seeds;
  const unsigned subs[] = {1, 6, 4, 7, 8, 5, 5};  // operations per device kind
  for (unsigned d = 0; d < 7; ++d) {
    for (unsigned s = 0; s < subs[d]; ++s) seeds.push_back(Seed{}.u8(d).op(d, s).answer().b);
    seeds.push_back(Seed{}.u8(d).op(d, 0).tick(199999).op(d, 1).answer().b);       // timeout, then more
    seeds.push_back(Seed{}.u8(d).op(d, 0).op(d, 1).reopen().op(d, 0).answer().b);  // close while pending
    seeds.push_back(Seed{}.u8(d).op(d, 0).answer_mutated(25, 2).b);     // icflags: request, not response
    seeds.push_back(Seed{}.u8(d).op(d, 0).answer_mutated(18, 0xFF).b);  // icmsgsize
    seeds.push_back(Seed{}.u8(d).op(d, 0).raw(0, Bytes(40, std::byte{0})).b);       // garbage, our trans_id
    seeds.push_back(Seed{}.u8(d).op(d, 0).raw(0x11, Bytes(28, std::byte{4})).b);    // completion packet
    seeds.push_back(Seed{}.u8(d).u8(5).u8(2).op(d, 0).tick(1).tick(1).answer().b);  // full ring, retried
  }
  seeds.push_back(Seed{}.u8(0).tick(2000).answer().tick(2000).answer().b);  // periodic heartbeats
  seeds.push_back(Seed{}.u8(6).op(6, 4).answer().answer().answer().b);      // uio copy_file
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(ic_devices, make);
