// fcopy (guest file copy) IC host side: START (names, flags, size), WRITE
// fragments of up to 6144 bytes, COMPLETE, CANCEL, and copy_file() which runs
// a whole transfer and stops at the first error. One operation in flight.
//
// Two guests, one wire protocol:
//  - kernel_driver (Linux 6.1): hv_utils' fcopy driver + hv_fcopy_daemon;
//    answers echo the packet trans_id; any instance id works.
//  - uio_daemon (Linux 6.12): uio_hv_generic + hv_fcopy_uio_daemon, which
//    finds the channel by instance id eb765408-... and answers every packet
//    with trans_id 0xffffffffffffffff (so answers are matched in order), status
//    E_FAIL for a failed negotiation (the kernel leaves it 0) and for CANCEL
//    (it has no CANCEL case).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vmbh/host/ic_device.h"
#include "vmbh/protocols/fcopy.h"

namespace vmbh::host {

enum class FcopyGuest : std::uint8_t { kernel_driver, uio_daemon };

struct FcopyOptions {
  FcopyGuest guest = FcopyGuest::kernel_driver;
  // Empty: Linux's lists (framework 3.0, 1.0; message 1.1).
  std::vector<proto::IcVersion> framework_versions;
  std::vector<proto::IcVersion> message_versions;
  Clock::duration negotiate_timeout = std::chrono::seconds(70);
  Clock::duration timeout = std::chrono::seconds(35);
};

class FcopyDevice : public IcDevice {
 public:
  explicit FcopyDevice(const FcopyOptions& options = {});
  FcopyDevice(FcopyOptions options, DeviceIdentity identity);
  static DeviceIdentity identity_for(FcopyGuest guest);
  static IcDeviceOptions ic_options_for(const FcopyOptions& options);

  // `done` gets the guest's status, or a failure (timeout, closed, encoding).
  void start(std::string file_name, std::string path, std::uint32_t flags, std::uint64_t file_size,
             Done<std::uint32_t> done);
  void write(std::uint64_t offset, proto::ByteSpan data, Done<std::uint32_t> done);  // <= 6144 bytes
  void complete(Done<std::uint32_t> done);
  void cancel(Done<std::uint32_t> done);
  void request(const proto::FcopyMessage& message, Done<std::uint32_t> done);

  // START, WRITEs of up to 6144 bytes, COMPLETE; the first failure or non-S_OK
  // status ends it with a message naming the step and offset.
  void copy_file(std::string file_name, std::string path, std::uint32_t flags, proto::ByteSpan bytes,
                 DoneStatus done);

  FcopyGuest guest() const { return fcopy_options_.guest; }
  // How long each step of the next copies waits for the guest (default: FcopyOptions::timeout).
  void set_timeout(Clock::duration t) { fcopy_options_.timeout = t; }
  DeviceFacts facts() const override;

 private:
  struct Transfer;
  void write_next(const std::shared_ptr<Transfer>& t);

  FcopyOptions fcopy_options_;
  std::optional<std::string> last_;
  std::uint64_t files_copied_ = 0;
  std::uint64_t bytes_written_ = 0;
};

}  // namespace vmbh::host
