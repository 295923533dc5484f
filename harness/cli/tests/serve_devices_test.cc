// SetIcVersions through serve's device layer, with the real IC devices behind
// the channel manager and the model Linux guest on the loopback transport.
#include "serve_devices.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "vmbh/guest_model/vmbus_guest.h"
#include "vmbh/host/loopback_transport.h"

namespace vmbh::cli {
namespace {

using guest_model::IcService;

class ServeDevicesTest : public ::testing::Test {
 protected:
  ServeDevicesTest()
      : t(make_transport()), mgr(t), devices(mgr, ServeOptions{}, host::Clock::now()), guest(t) {}

  static host::LoopbackTransport make_transport() {
    auto r = host::LoopbackTransport::create({.ram_size = std::uint64_t{16} * 1024 * 1024, .vp_count = 1});
    EXPECT_TRUE(r) << r.message();
    return std::move(r).value();
  }
  void SetUp() override {
    ASSERT_TRUE(mgr.start());
    ASSERT_TRUE(guest.connect());
    ASSERT_TRUE(guest.request_offers());
  }
  std::uint32_t relid(const std::string& name) {
    for (const auto& c : mgr.channels()) {
      if (c.name == name) return c.relid;
    }
    ADD_FAILURE() << "no channel " << name;
    return 0;
  }
  std::vector<proto::IcVersion> devices_message_versions(const std::string& name) {
    auto* d = dynamic_cast<host::IcDevice*>(mgr.device(name));
    EXPECT_NE(d, nullptr) << name;
    return d ? d->options().message_versions : std::vector<proto::IcVersion>{};
  }
  // Sends `req` to the devices and returns the answer (pumping the guest
  // until there is one).
  control::Response call(const control::Request& req) {
    std::optional<control::Response> out;
    devices.handle(req, [&](control::Response r) { out = std::move(r); });
    for (int i = 0; i < 10 && !out; ++i) EXPECT_TRUE(guest.pump());
    EXPECT_TRUE(out.has_value());
    return out.value_or(control_error("no answer"));
  }
  control::Response set_versions(const std::string& name, const std::vector<std::string>& fw,
                                 const std::vector<std::string>& msg) {
    control::Request req;
    auto* s = req.mutable_set_ic_versions();
    s->set_name(name);
    for (const auto& v : fw) s->add_framework(v);
    for (const auto& v : msg) s->add_message(v);
    return call(req);
  }
  // The guest opens timesync and answers its negotiation as Linux does; a
  // SYNC then reports the versions in force.
  control::IcResult open_timesync_and_sync() {
    auto c = guest.open(relid("timesync"), 4, 4);
    EXPECT_TRUE(c) << c.message();
    EXPECT_TRUE(guest.act_as_linux_ic(relid("timesync"), IcService::timesync));
    control::Request req;
    req.mutable_timesync()->set_kind(control::TimesyncRequest::SYNC);
    control::Response r = call(req);
    EXPECT_EQ(r.error(), "");
    return r.ic();
  }

  host::LoopbackTransport t;
  host::ChannelManager mgr;
  Devices devices;
  guest_model::VmbusGuest guest;
};

TEST_F(ServeDevicesTest, TimesyncOffersWhatSetIcVersionsSaysAtItsNextOpenAndEmptyListsRestoreTheDefaults) {
  control::Response r = set_versions("timesync", {}, {"3.0"});
  ASSERT_EQ(r.error(), "");
  EXPECT_EQ(r.ic_versions().name(), "timesync");
  EXPECT_EQ(std::vector<std::string>(r.ic_versions().message().begin(), r.ic_versions().message().end()),
            std::vector<std::string>{"3.0"});
  EXPECT_EQ(std::vector<std::string>(r.ic_versions().framework().begin(), r.ic_versions().framework().end()),
            (std::vector<std::string>{"3.0", "1.0"}))
      << "an empty framework list keeps the default";
  control::IcResult ic = open_timesync_and_sync();
  EXPECT_EQ(ic.message_version(), "3.0");
  EXPECT_EQ(ic.framework_version(), "3.0");

  r = set_versions("timesync", {}, {});
  ASSERT_EQ(r.error(), "");
  EXPECT_EQ(r.ic_versions().message(0), "4.0") << "back to Linux's newest first";
  // Takes effect at the next negotiation only: rescind, re-offer, open again.
  ASSERT_TRUE(mgr.rescind(relid("timesync")));
  ASSERT_TRUE(guest.pump());
  ASSERT_TRUE(mgr.reoffer(relid("timesync")));
  ASSERT_TRUE(guest.pump());
  ic = open_timesync_and_sync();
  EXPECT_EQ(ic.message_version(), "4.0");
}

TEST_F(ServeDevicesTest, SetIcVersionsRefusesUnknownNamesAndBadVersionsAndChangesNothing) {
  const auto before = devices_message_versions("kvp");
  EXPECT_EQ(set_versions("kpv", {}, {"3.0"}).error(),
            "set_ic_versions: no integration component named \"kpv\" (fcopy, heartbeat, kvp, shutdown, "
            "timesync, vss)");
  for (const std::string bad : {"3", "3.", ".0", "3.0.1", "-1.0", "3.x", " 3.0", "65536.0", "+3.0", ""}) {
    const std::string e = set_versions("kvp", {"3.0"}, {"5.0", bad}).error();
    EXPECT_EQ(e, "set_ic_versions: kvp message: \"" + bad +
                     "\" is not an IC version (major.minor, each 0..65535, e.g. 3.0)")
        << bad;
  }
  EXPECT_NE(set_versions("kvp", {"x"}, {}).error().find("kvp framework: \"x\""), std::string::npos);
  const std::string many = set_versions("kvp", std::vector<std::string>(101, "3.0"), {}).error();
  EXPECT_EQ(many, "set_ic_versions: kvp framework: 101 versions, a negotiate message holds 100 at most");
  EXPECT_EQ(devices_message_versions("kvp"), before);
  EXPECT_EQ(set_versions("kvp", std::vector<std::string>(100, "65535.65535"), {"0.0"}).error(), "");
}

}  // namespace
}  // namespace vmbh::cli
