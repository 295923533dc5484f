// Input format of the `ring` fuzz target, shared with its seed generator.
//
//   mode u8: even = ring operations, odd = packet decode round trip
//   decode mode: the rest is one packet (descriptor .. padded payload)
//   ring mode:   pages u8 (data pages = 1 + pages % 4), start u16 (initial
//                index = start % (size / 8) * 8), then operations, each an
//                opcode u8 followed by its arguments:
//     write        kind u8 (0 in-band, 1 completion, 2 GPA direct, 3 transfer
//                  pages), size u16 (payload size, % (data size + 64)), flags u8
//     read         how u8 (even: read() into a buffer, odd: peek() + consume())
//     mask         value u8 (interrupt_mask = value & 1)
//     pending      feature u8 (bit 0), value u16 (pending_send_sz = value % (data size + 16))
//     bad_index    which u8 (even: write_index), value u32 (forced invalid)
//     bad_desc     kind u8 (0: len8 too big, 1: offset8 < 2, 2: offset8 > len8)
//     chaos        the rest of the input overwrites indices and data; only
//                  safety properties are checked from then on
#pragma once

#include <cstdint>

#include "vmbh/protocols/bytes.h"

namespace vmbh::fuzz::ring_ops {

enum Op : std::uint8_t {
  kWrite = 0,
  kRead = 1,
  kMask = 2,
  kPending = 3,
  kBadIndex = 4,
  kBadDesc = 5,
  kChaos = 6
};
inline constexpr std::uint8_t kOpCount = 7;

// Builds ring-mode inputs (used by the seed generator).
class Script {
 public:
  Script(std::uint8_t pages, std::uint16_t start) {
    w_.u8(0);
    w_.u8(pages);
    w_.u16(start);
  }
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;
  Script& write(std::uint8_t kind, std::uint16_t size, std::uint8_t flags = 0) {
    w_.u8(kWrite);
    w_.u8(kind);
    w_.u16(size);
    w_.u8(flags);
    return *this;
  }
  Script& read(bool peek = false) {
    w_.u8(kRead);
    w_.u8(peek ? 1 : 0);
    return *this;
  }
  Script& mask(bool on) {
    w_.u8(kMask);
    w_.u8(on ? 1 : 0);
    return *this;
  }
  Script& pending(bool feature, std::uint16_t value) {
    w_.u8(kPending);
    w_.u8(feature ? 1 : 0);
    w_.u16(value);
    return *this;
  }
  Script& bad_index(bool write_index, std::uint32_t value) {
    w_.u8(kBadIndex);
    w_.u8(write_index ? 0 : 1);
    w_.u32(value);
    return *this;
  }
  Script& bad_desc(std::uint8_t kind) {
    w_.u8(kBadDesc);
    w_.u8(kind);
    return *this;
  }
  Script& chaos(proto::ByteSpan rest) {
    w_.u8(kChaos);
    w_.bytes(rest);
    return *this;
  }
  proto::Bytes bytes() const { return out_; }

 private:
  proto::Bytes out_;
  proto::ByteWriter w_{out_};
};

}  // namespace vmbh::fuzz::ring_ops
