// Seeds for the `daemon_msgs` target: family byte, kind byte, then the message
// (family 0 VSS: kind 0 daemon->kernel, 1 kernel->daemon; family 1 fcopy: kind
// 0 registration, 1 reply, 2 kernel->daemon; family 2 KVP: kind 0 daemon
// registration, 1 kernel registration answer, 2 request, 3 + op reply).
#include <cstdlib>

#include "seeds/seeds.h"
#include "vmbh/protocols/fcopy_daemon.h"
#include "vmbh/protocols/kvp_daemon.h"
#include "vmbh/protocols/vss_daemon.h"

namespace {

using namespace vmbh::proto;

Bytes framed(std::uint8_t family, std::uint8_t kind, const Bytes& msg) {
  Bytes out;
  out.reserve(2 + msg.size());
  out.push_back(std::byte{family});
  out.push_back(std::byte{kind});
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

Bytes must(const Result<Bytes>& msg) {
  if (!msg.ok()) std::abort();  // a seed must encode
  return *msg;
}

void add_kvp_seeds(vmbh::fuzz::SeedList& seeds) {
  constexpr std::uint8_t kKvp = 2;
  seeds.push_back(framed(kKvp, 0, must(encode_kvp_daemon(KvpDaemonRegister{kKvpOpRegister1}))));
  seeds.push_back(framed(kKvp, 1, must(encode_kvp_daemon(KvpKernelRegister{}))));
  const KvpIpAddress request_ip{"00:15:5D:00:01:02", kKvpAddrFamilyIpv4, 0, "", "", "", ""};
  const KvpIpAddress full_ip{"00:15:5D:00:01:02",
                             kKvpAddrFamilyIpv4 | kKvpAddrFamilyIpv6,
                             1,
                             "10.0.0.2;fe80::215:5dff:fe00:102",
                             "255.255.255.0;64",
                             "10.0.0.1",
                             "10.0.0.53;10.0.0.54"};
  const KvpDaemonRequest requests[] = {
      KvpDaemonGet{KvpPool::guest, "VirtualMachineName"},
      KvpDaemonSet{KvpPool::external, "Key\xC3\xA9", "Value"},
      KvpDaemonDelete{KvpPool::external, "Key"},
      KvpDaemonEnumerate{KvpPool::automatic, 3},
      KvpDaemonIpInfo{KvpOperation::get_ip_info, KvpPool::external, request_ip},
      KvpDaemonIpInfo{KvpOperation::set_ip_info, KvpPool::external, full_ip},
  };
  for (const KvpDaemonRequest& r : requests) seeds.push_back(framed(kKvp, 2, must(encode_kvp_daemon(r))));
  const KvpDaemonReply replies[] = {
      KvpDaemonReply{KvpOperation::get, kHvSOk, "", "vm-01", {}},
      KvpDaemonReply{KvpOperation::set, kHvSOk, "", "", {}},
      KvpDaemonReply{KvpOperation::del, kHvSCont, "", "", {}},
      KvpDaemonReply{KvpOperation::enumerate, kHvSOk, "OSName", "Debian GNU/Linux", {}},
      KvpDaemonReply{KvpOperation::get_ip_info, kHvSOk, "", "", full_ip},
      KvpDaemonReply{KvpOperation::set_ip_info, kHvGuidNotFound, "", "", {}},
  };
  for (const KvpDaemonReply& r : replies) {
    const auto kind = static_cast<std::uint8_t>(3 + static_cast<std::uint8_t>(r.operation));
    seeds.push_back(framed(kKvp, kind, must(encode_kvp_daemon(r))));
  }
}

vmbh::fuzz::SeedList daemon_msgs_seeds() {
  vmbh::fuzz::SeedList seeds;
  // VSS, daemon -> kernel.
  seeds.push_back(framed(0, 0, encode_vss_daemon(VssDaemonToKernel{VssDaemonRegister{}})));
  seeds.push_back(framed(0, 0, encode_vss_daemon(VssDaemonToKernel{VssDaemonRegister{kVssOpRegister, {}}})));
  for (VssOp op : {VssOp::freeze, VssOp::thaw, VssOp::hot_backup}) {
    seeds.push_back(framed(
        0, 0, encode_vss_daemon(VssDaemonToKernel{vss_daemon_reply_for(vss_daemon_request_for(op), 0)})));
  }
  seeds.push_back(
      framed(0, 0,
             encode_vss_daemon(VssDaemonToKernel{vss_daemon_reply_for(
                 vss_daemon_request_for(VssOp::freeze), static_cast<std::uint32_t>(VssStatus::e_fail))})));
  // VSS, kernel -> daemon.
  seeds.push_back(framed(0, 1, encode_vss_daemon(VssKernelToDaemon{VssKernelVersion{}})));
  for (VssOp op : {VssOp::freeze, VssOp::thaw, VssOp::hot_backup}) {
    seeds.push_back(framed(0, 1, encode_vss_daemon(VssKernelToDaemon{vss_daemon_request_for(op)})));
  }
  // fcopy, daemon -> kernel.
  seeds.push_back(framed(1, 0, encode_to_bytes(FcopyDaemonRegister{kFcopyVersion0})));
  seeds.push_back(framed(1, 0, encode_to_bytes(FcopyDaemonRegister{kFcopyVersion1})));
  for (FcopyStatus s :
       {FcopyStatus::ok, FcopyStatus::e_fail, FcopyStatus::already_exists, FcopyStatus::disk_full}) {
    seeds.push_back(framed(1, 1, encode_to_bytes(FcopyDaemonReply{static_cast<std::uint32_t>(s)})));
  }
  // fcopy, kernel -> daemon.
  FcopyStart host;
  host.file_name = "caf\xC3\xA9.txt";
  host.path_name = "/tmp";
  host.copy_flags = kFcopyOverWrite;
  host.file_size = 100;
  FcopyWrite write;
  write.offset = 0;
  write.data.assign(100, std::byte{0x61});
  const FcopyKernelToDaemon down[] = {
      FcopyKernelVersion{},
      fcopy_daemon_start_from_host(host),
      write,
      FcopyDaemonControl{FcopyOp::complete, {}, Bytes(kFcopyDaemonControlOverread)},
      FcopyDaemonControl{FcopyOp::cancel, {}, {}},
  };
  for (const auto& m : down) {
    auto wire = encode_fcopy_kernel_to_daemon(m);
    seeds.push_back(framed(1, 2, must(wire)));
  }
  add_kvp_seeds(seeds);
  return seeds;
}

}  // namespace

VMBH_REGISTER_SEEDS(daemon_msgs, daemon_msgs_seeds);
