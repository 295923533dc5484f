// One-line, human-readable summaries of the integration-component messages
// carried in VMBus ring packets, for traces:
//
//   trans_id 0x3: kvp_exchange framework=3.0 version=4.0 status=HV_S_OK
//       icflags=transaction|request op=SET pool=AUTO key="Name" value="vm1"
//
// The IC header first (message type, framework and message version, status,
// icflags), then the body decoded by the IC's own decoder. What is printed is
// what the decoders accept; anything they reject is printed as the packet
// summary plus the decoder's error, which names the field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vmbh/protocols/bytes.h"
#include "vmbh/protocols/ic.h"

namespace vmbh::proto {

// What a reader of one IC channel remembers between packets: the versions the
// guest wrote into its last negotiate answer. Like Linux's drivers it keeps
// them even when the answer accepted nothing, since Linux then reads later
// bodies (timesync) by that leftover version too.
struct IcVersions {
  std::optional<IcVersion> framework;
  std::optional<IcVersion> message;
  bool operator==(const IcVersions&) const = default;
};

// The IC message type a device name ("heartbeat", "shutdown", "timesync",
// "kvp", "vss", "fcopy": the names harness/host gives its devices) carries;
// nullopt for any other name.
std::optional<IcMsgType> ic_service_of_device(std::string_view device);

// Describes one VMBus packet (`packet` = descriptor .. padding, exactly
// len8 * 8 bytes) on the channel of `device`. Never fails: a packet that is not
// an in-band IC message of that device, or whose body does not decode, is
// described as "packet type T trans_id X, N bytes" followed by what was
// decoded of the IC header and the error in parentheses, with the error's
// offset counted from the start of the packet. A negotiate answer updates
// `versions`; a timesync body is read in the layout of `versions.message`
// (the newest layout, 4.0, while it is unknown).
std::string describe_ic_packet(std::string_view device, ByteSpan packet, IcVersions& versions);

// "packet type 6 trans_id 0x3, 48 bytes", or "undecodable packet (...)": any
// channel's packet, without looking inside the payload.
std::string describe_packet_summary(ByteSpan packet);

// Helpers, exposed for tests:
// Hyper-V time (100 ns since 1601) as "2024-05-01T12:00:00.1234567Z"; total.
std::string hv_time_string(std::uint64_t hv_time);
// `utf8` in double quotes, with '"', '\\' and control characters escaped; past
// `max_chars` code points it is cut and marked: "first 60 ..."...(N chars).
std::string quoted(std::string_view utf8, std::size_t max_chars = 60);

}  // namespace vmbh::proto
