// Seeds for the `relay_frame` target: selector byte, then data (see relay_frame_fuzzer.cc).
#include <algorithm>

#include "seeds/seeds.h"
#include "vmbh/protocols/relay.h"

namespace {

using namespace vmbh::proto;

// Selector 0: (chunk size byte, chunk) pairs.
Bytes reader_input(const Bytes& stream, std::uint8_t chunk) {
  Bytes out{std::byte{0}};
  for (std::size_t i = 0; i < stream.size(); i += chunk) {
    const std::size_t n = std::min<std::size_t>(chunk, stream.size() - i);
    out.push_back(std::byte(static_cast<std::uint8_t>(n - 1)));
    out.insert(out.end(), stream.begin() + static_cast<std::ptrdiff_t>(i),
               stream.begin() + static_cast<std::ptrdiff_t>(i + n));
  }
  return out;
}

vmbh::fuzz::SeedList relay_frame_seeds() {
  // INITIATE_CONTACT for 5.3 as Linux sends it (msg_sint 2, two monitor pages).
  const Bytes initiate = bytes_of(14, 0, 0, 0, 0, 0, 0, 0, 3, 0, 5, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
                                  0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0);
  const Bytes version_response = bytes_of(15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0);
  const RelayFrame frames[] = {
      RelayHello{kRelayVersion, 2, {{0, 0x80000000, 0}, {0x100000000, 0x40000000, 0x80000000}}},
      RelayGuestMessage{0, 4, 1, initiate},
      RelayGuestSignal{kRelayVpUnknown, 0x10},
      RelayGuestReset{},
      RelayResult{RelayType::add_message_connection, 4, 0},
      RelayError{RelayType::post_message, 7, 2, -22},
      RelayRefTimeAnswer{1, 0, 125'000'000},
      RelayRefTimeAnswer{2, -95, 0},
      RelayAddMessageConnection{1},
      RelayAddEventConnection{0x10},
      RelayRemoveEventConnection{0x10},
      RelayPostMessage{0, 2, 1, version_response},
      RelaySignalEvent{1, 2, 5},
      RelayRefTime{1},
  };
  vmbh::fuzz::SeedList seeds;
  Bytes stream;
  for (const auto& f : frames) {
    Bytes s{std::byte{1}};
    const Bytes wire = encode_relay_frame(f);
    s.insert(s.end(), wire.begin(), wire.end());
    seeds.push_back(s);
    stream.insert(stream.end(), wire.begin(), wire.end());
  }
  seeds.push_back(reader_input(stream, 64));
  seeds.push_back(reader_input(stream, 5));
  // A good frame followed by garbage: the sticky error path.
  Bytes garbage = encode_relay_frame(RelayGuestReset{});
  const Bytes junk = bytes_of(0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0);
  garbage.insert(garbage.end(), junk.begin(), junk.end());
  seeds.push_back(reader_input(garbage, 3));
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(relay_frame, relay_frame_seeds);
