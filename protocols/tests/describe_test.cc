#include "vmbh/protocols/describe.h"

#include <gtest/gtest.h>

#include <string>

namespace vmbh::proto {
namespace {

// Every alternative of ChannelMessage, default-constructed.
template <std::size_t... I>
std::vector<ChannelMessage> all_alternatives(std::index_sequence<I...>) {
  return {ChannelMessage(std::in_place_index<I>)...};
}

TEST(Describe, StartsWithTheMessageTypeName) {
  for (const ChannelMessage& m :
       all_alternatives(std::make_index_sequence<std::variant_size_v<ChannelMessage>>())) {
    const std::string name = to_string(message_type(m));
    EXPECT_EQ(describe(m).substr(0, name.size()), name);
    EXPECT_NE(name, "unknown");
  }
}

TEST(Describe, InitiateContactShowsTheVersionLayout) {
  InitiateContact v53{};
  v53.version_requested = raw(VmbusVersion::win10_v5_3);
  v53.msg_sint = 2;
  EXPECT_EQ(describe(v53),
            "initiate_contact version=5.3 target_vcpu=0 msg_sint=2 msg_vtl=0 feature_flags=0 monitor_page1=0 "
            "monitor_page2=0");
  InitiateContact v40{};
  v40.version_requested = raw(VmbusVersion::win10);
  v40.interrupt_page = 0x1000;
  EXPECT_NE(describe(v40).find("version=4.0 target_vcpu=0 interrupt_page=0x1000"), std::string::npos);
}

TEST(Describe, VersionStringMarksUnknownVersions) {
  EXPECT_EQ(version_string(0x000D), "0.13");
  EXPECT_EQ(version_string(0x00050003), "5.3");
  EXPECT_EQ(version_string(0x00050009), "0x50009");
}

TEST(Describe, OfferNamesRelidAndIds) {
  OfferChannel o{};
  o.child_relid = 5;
  o.connection_id = 0x2005;
  const std::string s = describe(o);
  EXPECT_NE(s.find("child_relid=5"), std::string::npos);
  EXPECT_NE(s.find("connection_id=8197"), std::string::npos);
  EXPECT_NE(s.find("class=00000000-0000-0000-0000-000000000000"), std::string::npos) << s;
}

}  // namespace
}  // namespace vmbh::proto
