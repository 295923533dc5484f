// Seeds for the `host_guest` target. The target reads its input through
// FuzzedDataProvider (integers from the end, byte strings from the front), so
// each seed is written by FdpWriter in the target's consumption order: the
// prologue, then actions (host_guest_actions.h) that reach open channels,
// IC requests and answers, rescind/re-offer and malformed guest traffic.
#include <cstdint>
#include <string>
#include <vector>

#include "host_guest_actions.h"
#include "seeds/seeds.h"

namespace {

using vmbh::proto::Bytes;
using namespace vmbh::fuzz::host_guest;

class FdpWriter {
 public:
  // What ConsumeIntegralInRange(lo, hi) returns as v: as many bytes as the
  // range needs, read from the end, most significant first.
  void range(std::uint64_t lo, std::uint64_t hi, std::uint64_t v) {
    const std::uint64_t r = hi - lo;
    const std::uint64_t x = v - lo;
    int n = 0;
    for (int off = 0; off < 64 && (r >> off) > 0; off += 8) ++n;
    for (int i = n - 1; i >= 0; --i) back_.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
  }
  void boolean(bool b) { range(0, 255, b ? 1 : 0); }
  void u8(std::uint8_t v) { range(0, 0xFF, v); }
  void u32(std::uint32_t v) { range(0, 0xFFFFFFFFu, v); }
  void u64(std::uint64_t v) { range(0, ~std::uint64_t{0}, v); }
  // ConsumeBytes / ConsumeBytesAsString after a length in [0, max].
  void text(std::size_t max, const std::string& s) {
    range(0, max, s.size());
    front_.insert(front_.end(), s.begin(), s.end());
  }
  Bytes finish() const {
    Bytes out;
    for (std::uint8_t b : front_) out.push_back(std::byte{b});
    for (auto it = back_.rbegin(); it != back_.rend(); ++it) out.push_back(std::byte{*it});
    return out;
  }

 private:
  std::vector<std::uint8_t> front_;
  std::vector<std::uint8_t> back_;  // in consumption order
};

// The target's calls, in its order.
class Seed {
 public:
  explicit Seed(std::uint8_t prologue, bool uio_fcopy = false) {
    w_.boolean(true);   // scatter_pages
    w_.range(0, 7, 1);  // auto_release
    w_.boolean(uio_fcopy);
    w_.range(0, kPrologueOpenAll, prologue);
  }
  void action(Action a) { w_.range(0, kActionCount - 1, static_cast<std::uint8_t>(a)); }
  void relid(std::uint32_t r) { w_.range(0, 9, r); }  // r <= 7
  void host_op(HostOp op) {
    action(Action::host_op);
    w_.range(0, static_cast<std::uint8_t>(HostOp::count) - 1, static_cast<std::uint8_t>(op));
  }
  void tick(std::uint8_t step) {  // 0s 100ms 1s 2s 6s 40s 80s 20min
    action(Action::tick);
    w_.range(0, 7, step);
  }
  void kvp_set(std::uint8_t pool, const std::string& key, const std::string& value) {
    host_op(HostOp::kvp_set);
    w_.range(0, 4, pool);
    w_.text(24, key);
    w_.boolean(true);
    w_.text(40, value);
  }
  void kvp_get(std::uint8_t pool, const std::string& key) {
    host_op(HostOp::kvp_get);
    w_.range(0, 5, pool);
    w_.text(24, key);
  }
  void shutdown(std::uint32_t flags, const std::string& message) {
    host_op(HostOp::shutdown);
    w_.boolean(true);
    w_.range(0, 5, flags);
    w_.text(32, message);
  }
  void timesync(std::uint8_t flags) {
    host_op(HostOp::timesync);
    w_.u8(flags);
  }
  void vss(std::uint8_t op, std::uint32_t flags) {
    host_op(HostOp::vss);
    w_.range(0, 9, op);
    w_.u32(flags);
  }
  void copy_file(std::size_t size, const std::string& name, const std::string& path, std::uint32_t flags) {
    host_op(HostOp::fcopy_copy_file);
    w_.range(0, 14000, size);
    w_.text(16, name);
    w_.text(16, path);
    w_.range(0, 4, flags);
  }
  void rescind(std::uint32_t r) {
    host_op(HostOp::rescind);
    relid(r);
  }
  void reoffer(std::uint32_t r) {
    host_op(HostOp::reoffer);
    relid(r);
  }
  // Only for opens that succeed (the target reads the service choice then).
  void open(std::uint32_t r, std::uint32_t send, std::uint32_t recv, bool linux_ic) {
    action(Action::open);
    relid(r);
    w_.range(2, 5, send);
    w_.range(2, 5, recv);
    w_.boolean(linux_ic);
    if (linux_ic) w_.boolean(true);  // the driver of the channel's own class
  }
  void connect_linux() {
    action(Action::connect);
    w_.range(0, 2, 0);
  }
  void channel(std::uint32_t r) { w_.range(1, kDevices, r); }  // open_channel(): the first tried
  // An IC heartbeat-body frame with the response flag and the latest trans_id.
  void ic_frame(std::uint32_t r, std::uint8_t type_index, std::uint64_t seq) {
    action(Action::ic_frame);
    channel(r);
    w_.range(0, 7, type_index);
    for (int i = 0; i < 2; ++i) {  // versions 3.0
      w_.range(0, 7, 1);
      w_.range(0, 7, 1);
    }
    w_.boolean(true);   // status 0
    w_.range(0, 3, 1);  // response flags
    w_.u8(0);           // ictransaction_id
    w_.range(0, 4, 1);  // heartbeat body
    w_.u64(seq);
    w_.range(0, 3, 1);  // icmsgsize as built
    w_.boolean(false);  // full length
    w_.range(0, 3, 1);  // latest trans_id
    w_.boolean(false);  // no completion request
  }
  // The host's latest request answered in place with one byte changed.
  void answer_mutated(std::uint32_t r, std::uint8_t at, std::uint8_t value) {
    action(Action::answer_mutated);
    channel(r);
    w_.range(0, 4, 1);
    w_.range(0, 0xFF, at);  // packets under 256 bytes: one byte of offset
    w_.u8(value);
    w_.boolean(false);
    w_.boolean(true);  // the request's trans_id
  }
  void corrupt_write_index(std::uint32_t r, std::uint32_t value) {
    action(Action::corrupt_ring);
    channel(r);
    w_.boolean(true);  // guest->host ring
    w_.range(0, 2, 1);
    w_.u32(value);
    w_.range(0, 4, 0);  // write_index
    w_.boolean(true);   // signal
  }
  void raw_message(std::uint32_t type, const std::string& bytes) {
    action(Action::raw_message);
    w_.boolean(true);
    w_.range(0, 25, type);
    w_.text(240, bytes);
    w_.boolean(false);
    w_.range(0, 3, 3);  // the negotiated message connection
    w_.range(0, 7, 1);  // a VMBus channel message
    w_.range(0, 5, 0);  // vp 0
  }
  void plain(Action a) { action(a); }
  Bytes finish() const { return w_.finish(); }

 private:
  FdpWriter w_;
};

vmbh::fuzz::SeedList host_guest_seeds() {
  vmbh::fuzz::SeedList seeds;
  {  // every channel open; heartbeats over several periods
    Seed s(kPrologueOpenAll);
    for (int i = 0; i < 4; ++i) s.tick(2);
    seeds.push_back(s.finish());
  }
  {  // KVP SET then GET
    Seed s(kPrologueOpenAll);
    s.kvp_set(0, "HostName", "vmbh-host");
    s.kvp_get(0, "HostName");
    seeds.push_back(s.finish());
  }
  {  // shutdown, timesync, VSS
    Seed s(kPrologueOpenAll);
    s.shutdown(2, "reboot");
    s.timesync(1);
    s.vss(2, 0);
    s.vss(5, 0);
    s.vss(6, 0);
    seeds.push_back(s.finish());
  }
  {  // fcopy over two WRITEs, both guest flavours
    for (bool uio : {false, true}) {
      Seed s(kPrologueOpenAll, uio);
      s.copy_file(9000, "f.bin", "/tmp", 1);
      seeds.push_back(s.finish());
    }
  }
  {  // rescind and re-offer of KVP, then it works again
    Seed s(kPrologueOpenAll);
    s.rescind(4);
    s.reoffer(4);
    s.open(4, 3, 3, true);
    s.kvp_get(1, "k");
    seeds.push_back(s.finish());
  }
  {  // malformed IC traffic on heartbeat and timesync, then the others
    Seed s(kPrologueOpenAll);
    s.ic_frame(3, 1, 41);
    s.host_op(HostOp::heartbeat_beat);
    s.answer_mutated(1, 40, 0xff);
    s.corrupt_write_index(3, 3);
    s.timesync(1);
    s.tick(4);
    s.host_op(HostOp::heartbeat_beat);
    s.kvp_set(2, "a", "b");
    seeds.push_back(s.finish());
  }
  {  // from scratch: connect, offers, one open, garbage, unload, again, reset
    Seed s(kPrologueNone);
    s.connect_linux();
    s.plain(Action::request_offers);
    s.open(1, 2, 2, true);
    s.raw_message(5, std::string(16, '\x01'));
    s.raw_message(9, std::string(40, '\x7f'));
    s.tick(2);
    s.plain(Action::unload);
    s.connect_linux();
    s.plain(Action::request_offers);
    s.open(2, 2, 2, true);
    s.shutdown(0, "off");
    s.plain(Action::reset);
    seeds.push_back(s.finish());
  }
  {  // the VM goes away with requests in flight
    Seed s(kPrologueOpenAll);
    s.kvp_get(0, "x");
    s.plain(Action::close_transport);
    seeds.push_back(s.finish());
  }
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(host_guest, host_guest_seeds);
