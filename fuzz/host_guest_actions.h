// The action alphabet of host_guest_fuzzer, shared with its seed generator
// (fuzz/seeds/host_guest_seeds.cc), which writes inputs in the same
// FuzzedDataProvider consumption order.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmbh::fuzz::host_guest {

inline constexpr std::uint64_t kRamBytes = std::uint64_t{2} * 1024 * 1024;
// Ring mappings kept across inputs: each input opens the same channels on the
// same pages, so their mappings are made once (LoopbackOptions::cached_mappings).
inline constexpr std::size_t kCachedMappings = 64;
inline constexpr std::uint32_t kDevices = 6;  // relids 1..6: heartbeat, shutdown, timesync, kvp, vss, fcopy
inline constexpr std::size_t kMaxSteps = 96;
inline constexpr std::uint32_t kRawGpadlBase = 0x70000;

// Prologue depth.
inline constexpr std::uint8_t kPrologueNone = 0;
inline constexpr std::uint8_t kPrologueConnect = 1;
inline constexpr std::uint8_t kPrologueOffers = 2;
inline constexpr std::uint8_t kPrologueOpenAll = 3;

enum class Action : std::uint8_t {
  connect,
  request_offers,
  open,
  close,
  release,
  message,
  raw_message,
  gpadl,
  signal,
  ic_frame,
  answer_mutated,
  raw_packet,
  raw_ring_bytes,
  corrupt_ring,
  guest_read,
  reset,
  unload,
  tick,
  host_op,
  modify,
  act_as_linux_ic,
  daemon_mode,
  close_transport,
};
inline constexpr std::uint8_t kActionCount = static_cast<std::uint8_t>(Action::close_transport) + 1;

// host_op sub-operations (the seeds name the ones they use).
enum class HostOp : std::uint8_t {
  kvp_get = 0,
  kvp_set = 1,
  heartbeat_beat = 6,
  shutdown = 7,
  timesync = 8,
  vss = 9,
  fcopy_copy_file = 10,
  rescind = 14,
  reoffer = 15,
  count = 20,
};

}  // namespace vmbh::fuzz::host_guest
