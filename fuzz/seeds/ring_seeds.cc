// Seeds for the `ring` fuzz target (input format: fuzz/ring_fuzz_ops.h):
// every packet type in decode mode, and ring operation scripts covering each
// packet type, wrap-around, the full ring (exact-fit rejection), signals,
// corrupted indices/descriptors and chaos.
#include "ring_fuzz_ops.h"
#include "seeds/seeds.h"
#include "vmbh/protocols/packet.h"

namespace {

using namespace vmbh::proto;
using vmbh::fuzz::SeedList;
using vmbh::fuzz::ring_ops::Script;

Bytes decode_seed(const Bytes& packet) {
  Bytes out;
  ByteWriter w(out);
  w.u8(1);  // odd mode byte: decode mode
  w.bytes(packet);
  return out;
}

SeedList ring_seeds() {
  SeedList seeds;

  // Decode mode: one valid packet of each type.
  seeds.push_back(
      decode_seed(encode(InbandPacket{kPacketFlagCompletionRequested, 0x1122, bytes_of(1, 2, 3, 4, 5)})));
  seeds.push_back(decode_seed(encode(CompletionPacket{0, 0x1122, bytes_of(0, 0, 0, 0)})));
  GpaDirectPacket g;
  g.flags = kPacketFlagCompletionRequested;
  g.trans_id = 7;
  g.ranges.push_back(GpaRange{0x1000, 0x10, {0x1234, 0x5678}});
  g.ranges.push_back(GpaRange{512, 0, {0x9abc}});
  g.payload = bytes_of(9, 8, 7);
  seeds.push_back(decode_seed(encode(g)));
  TransferPagePacket x;
  x.trans_id = 8;
  x.xfer_pageset_id = 0xcafe;
  x.sender_owns_set = 1;
  x.ranges = {{100, 0}, {200, 4096}};
  x.payload = bytes_of(1, 0, 0, 0, 0x6b, 0, 0, 0);
  seeds.push_back(decode_seed(encode(x)));

  // Each packet type through the ring (one data page), peek and read, then empty.
  {
    Script s(0, 0);
    s.write(0, 5, 1).write(1, 3).write(2, 40, 3).write(3, 100).read().read(true).read().read(true).read();
    seeds.push_back(s.bytes());
  }
  // Wrap-around: start near the end of the data area (index 4000).
  {
    Script s(0, 500);
    s.write(0, 100).read().write(3, 60).write(1, 7).read(true).read().write(2, 30).read();
    seeds.push_back(s.bytes());
  }
  // Full ring: two 2032-byte packets leave 32 bytes free; a 32-byte packet is
  // then rejected (strictly-more rule). The writer waits for 3000 bytes.
  {
    Script s(0, 0);
    s.pending(true, 3000).write(0, 2000).write(0, 2000).write(0, 1).read().read().write(0, 1).read();
    seeds.push_back(s.bytes());
  }
  // Larger ring, interrupt mask, corrupted indices and descriptors.
  {
    Script s(3, 1234);
    s.mask(true)
        .write(0, 64)
        .write(1, 16)
        .bad_index(true, 5)
        .bad_index(false, 0x10000)
        .bad_desc(0)
        .bad_desc(1);
    s.bad_desc(2).mask(false).read().read().write(3, 500);
    seeds.push_back(s.bytes());
  }
  // Chaos: arbitrary indices and data after a valid write.
  {
    Bytes rest;
    ByteWriter w(rest);
    w.u32(64);   // write_index
    w.u32(0);    // read_index
    w.u8(0);     // interrupt_mask
    w.u32(100);  // pending_send_sz
    w.u8(1);     // feature bits
    w.bytes(encode(InbandPacket{0, 3, bytes_of(1, 2, 3)}));
    w.bytes(bytes_of(0, 0, 0, 0, 0, 0, 0, 0));        // trailer
    w.bytes(bytes_of(6, 0, 2, 0, 0xff, 0xff, 0, 0));  // a descriptor with a huge len8
    Script s(1, 0);
    s.write(0, 10).chaos(rest);
    seeds.push_back(s.bytes());
  }
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(ring, ring_seeds);
