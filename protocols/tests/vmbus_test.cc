#include "vmbh/protocols/vmbus.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace vmbh::proto {
namespace {

void append(Bytes& b, std::initializer_list<int> vs) {
  for (int v : vs) b.push_back(std::byte(static_cast<std::uint8_t>(v)));
}
void append_zeros(Bytes& b, std::size_t n) { b.resize(b.size() + n, std::byte{0}); }

const Guid kHeartbeat = Guid::from_string("57164f39-9115-4e78-ab55-382f3bd5422d");
const Guid kInstance = Guid::from_string("00112233-4455-6677-8899-aabbccddeeff");

// One message of every type, with non-zero fields where it has any.
std::vector<ChannelMessage> samples(VmbusVersion v) {
  OfferChannel offer;
  offer.if_type = kHeartbeat;
  offer.if_instance = kInstance;
  offer.chn_flags = kChannelEnumerateDeviceInterface;
  offer.mmio_megabytes = 8;
  offer.user_def[0] = std::byte{0x5a};
  offer.sub_channel_index = 1;
  offer.child_relid = 14;
  offer.monitor_id = 3;
  offer.monitor_flags = 1;
  offer.interrupt_flags = 1;
  offer.connection_id = 30;
  OpenChannel open{14, 7, 0xE1E10, 1, 16, {}};
  open.user_data[119] = std::byte{0x77};
  GpadlHeader gh;
  gh.child_relid = 14;
  gh.gpadl = 0xE1E10;
  gh.range_buflen = 8 + 8 * 3;
  gh.rangecount = 1;
  gh.byte_count = 3 * 4096;
  for (std::uint64_t p : {0x100, 0x101, 0x2000}) gh.pfns.push_back(p);
  GpadlBody gb;
  gb.gpadl = 0xE1E10;
  for (std::uint64_t p = 0; p < 28; ++p) gb.pfns.push_back(0x3000 + p);
  InitiateContact ic;
  ic.version_requested = raw(v);
  ic.target_vcpu = 1;
  if (v >= VmbusVersion::win10_v5) {
    ic.msg_sint = 2;
  } else {
    ic.interrupt_page = 0x12345000;
  }
  ic.monitor_page1 = 0x23456000;
  ic.monitor_page2 = 0x23457000;
  TlConnectRequest tl{kInstance, kHeartbeat, std::nullopt};
  if (has_feature(v, VmbusFeature::tl_connect_silo_id)) tl.silo_id = kHeartbeat;
  return {
      offer,
      RescindChannelOffer{14},
      RequestOffers{},
      AllOffersDelivered{},
      open,
      OpenChannelResult{14, 7, 0xC0000001},
      CloseChannel{14},
      gh,
      gb,
      GpadlCreated{14, 0xE1E10, 0},
      GpadlTeardown{14, 0xE1E10},
      GpadlTorndown{0xE1E10},
      RelidReleased{14},
      ic,
      VersionResponse{1, 0, 0, 4},
      Unload{},
      UnloadResponse{},
      tl,
      ModifyChannel{14, 3},
      TlConnectResult{kInstance, kHeartbeat, 0xC000000D},
      ModifyChannelResponse{14, 0},
  };
}

// A minimal valid encoding of every type (with header), for truncation tests.
Bytes encoded_sample(ChannelMessageType t, VmbusVersion v) {
  for (const auto& m : samples(v)) {
    if (message_type(m) == t) return encode(m, v);
  }
  ADD_FAILURE() << "no sample for " << to_string(t);
  return {};
}

constexpr VmbusVersion kLatest = VmbusVersion::win10_v5_3;

Bytes header_only(std::uint32_t type) {
  Bytes b;
  append(b, {static_cast<int>(type & 0xff), static_cast<int>((type >> 8) & 0xff),
             static_cast<int>((type >> 16) & 0xff), static_cast<int>(type >> 24), 0, 0, 0, 0});
  return b;
}

// ---------------------------------------------------------------------------
// Sizes and tables

TEST(VmbusSizes, PinnedLinuxLayouts) {
  EXPECT_EQ(kChannelMessageHeaderSize, 8u);
  EXPECT_EQ(kChannelMessageMaxSize, 240u);
  EXPECT_EQ(kChannelOfferSize, 176u);  // struct vmbus_channel_offer
  EXPECT_EQ(kOfferChannelSize, 196u);  // struct vmbus_channel_offer_channel, header included
  EXPECT_EQ(kOfferChannelSize - kChannelMessageHeaderSize, 188u);
  EXPECT_EQ(kOpenChannelSize, 148u);
  EXPECT_EQ(kInitiateContactSize, 40u);
  EXPECT_EQ(kVersionResponseSize, 16u);
  EXPECT_EQ(kTlConnectRequestSize, 40u);
  EXPECT_EQ(kTlConnectRequestSiloSize, 56u);
  EXPECT_EQ(kTlConnectResultSize, 44u);
  EXPECT_EQ(kMaxUserDefinedBytes, 120u);
  EXPECT_EQ(kMaxPipeUserDefinedBytes, 116u);
}

TEST(VmbusSizes, EncodedSizesMatchMinimumTable) {
  for (const auto& m : samples(VmbusVersion::win10_v5_1)) {
    const auto t = message_type(m);
    const Bytes b = encode(m, VmbusVersion::win10_v5_1);
    SCOPED_TRACE(to_string(t));
    if (t == ChannelMessageType::gpadl_header) {
      EXPECT_EQ(b.size(), 28u + 3 * 8);
    } else if (t == ChannelMessageType::gpadl_body) {
      EXPECT_EQ(b.size(), 16u + 28 * 8);
      EXPECT_EQ(b.size(), 240u);
    } else {
      EXPECT_EQ(b.size(), channel_message_min_size(t));
    }
  }
  EXPECT_EQ(channel_message_min_size(ChannelMessageType::rescind_channel_offer), 12u);
  EXPECT_EQ(channel_message_min_size(ChannelMessageType::open_channel_result), 20u);
  EXPECT_EQ(channel_message_min_size(ChannelMessageType::gpadl_created), 20u);
  EXPECT_EQ(channel_message_min_size(ChannelMessageType::gpadl_torndown), 12u);
  EXPECT_EQ(channel_message_min_size(ChannelMessageType::modify_channel_response), 16u);
  EXPECT_EQ(channel_message_min_size(ChannelMessageType::unload_response), 8u);
}

TEST(VmbusVersions, RawValuesAndNames) {
  ASSERT_EQ(kVmbusVersions.size(), 10u);
  const std::uint32_t want[] = {0x0000000D, 0x00010001, 0x00020004, 0x00030000, 0x00040000,
                                0x00040001, 0x00050000, 0x00050001, 0x00050002, 0x00050003};
  for (std::size_t i = 0; i < kVmbusVersions.size(); ++i) {
    EXPECT_EQ(raw(kVmbusVersions[i].version), want[i]);
    if (i > 0) {
      EXPECT_LT(kVmbusVersions[i - 1].version, kVmbusVersions[i].version);
    }
  }
  EXPECT_STREQ(version_info(VmbusVersion::win8_1)->name, "WIN8_1");
  EXPECT_EQ(version_major(VmbusVersion::ws2008), 0);
  EXPECT_EQ(version_minor(VmbusVersion::ws2008), 13);
  EXPECT_EQ(version_major(VmbusVersion::win10_v5_3), 5);
  EXPECT_EQ(version_minor(VmbusVersion::win10_v5_3), 3);
}

TEST(VmbusVersions, LinuxTriesNewestFirstDownToWin8) {
  ASSERT_EQ(kLinuxVmbusVersions.size(), 8u);
  EXPECT_EQ(kLinuxVmbusVersions.front(), VmbusVersion::win10_v5_3);
  EXPECT_EQ(kLinuxVmbusVersions.back(), VmbusVersion::win8);
  for (std::size_t i = 1; i < kLinuxVmbusVersions.size(); ++i) {
    EXPECT_GT(kLinuxVmbusVersions[i - 1], kLinuxVmbusVersions[i]);
  }
  for (auto v : kLinuxVmbusVersions) EXPECT_TRUE(is_known_version(v));
}

TEST(VmbusVersions, CompareAndFromRaw) {
  EXPECT_EQ(compare_versions(VmbusVersion::win8, VmbusVersion::win10), -1);
  EXPECT_EQ(compare_versions(VmbusVersion::win10, VmbusVersion::win10), 0);
  EXPECT_EQ(compare_versions(VmbusVersion::win10_v5_3, VmbusVersion::ws2008), 1);
  EXPECT_EQ(vmbus_version_from_raw(0x00040001), VmbusVersion::win10_v4_1);
  EXPECT_FALSE(vmbus_version_from_raw(0x00040002).has_value());
  EXPECT_FALSE(vmbus_version_from_raw(0x00060000).has_value());
  EXPECT_FALSE(is_known_version(static_cast<VmbusVersion>(7)));
}

TEST(VmbusVersions, FeaturesAreCumulativeAndGated) {
  using F = VmbusFeature;
  EXPECT_FALSE(has_feature(VmbusVersion::ws2008, F::offer_connection_id));
  EXPECT_TRUE(has_feature(VmbusVersion::win7, F::offer_connection_id));
  EXPECT_FALSE(has_feature(VmbusVersion::win7, F::target_vp));
  EXPECT_TRUE(has_feature(VmbusVersion::win8, F::target_vp));
  EXPECT_TRUE(has_feature(VmbusVersion::win8, F::sub_channels));
  EXPECT_FALSE(has_feature(VmbusVersion::win8, F::unload));
  EXPECT_TRUE(has_feature(VmbusVersion::win8_1, F::unload));
  EXPECT_FALSE(has_feature(VmbusVersion::win8_1, F::hvsock));
  EXPECT_TRUE(has_feature(VmbusVersion::win10, F::hvsock));
  EXPECT_FALSE(has_feature(VmbusVersion::win10, F::modify_channel));
  EXPECT_TRUE(has_feature(VmbusVersion::win10_v4_1, F::modify_channel));
  EXPECT_FALSE(has_feature(VmbusVersion::win10_v4_1, F::message_connection_id));
  EXPECT_TRUE(has_feature(VmbusVersion::win10_v5, F::message_connection_id));
  EXPECT_FALSE(has_feature(VmbusVersion::win10_v5_1, F::tl_connect_silo_id));
  EXPECT_TRUE(has_feature(VmbusVersion::win10_v5_2, F::tl_connect_silo_id));
  EXPECT_TRUE(has_feature(VmbusVersion::win10_v5_2, F::isolation));
  EXPECT_FALSE(has_feature(VmbusVersion::win10_v5_2, F::modify_channel_response));
  EXPECT_TRUE(has_feature(VmbusVersion::win10_v5_3, F::modify_channel_response));
  EXPECT_FALSE(has_feature(static_cast<VmbusVersion>(0x00060000), F::offer_connection_id));
  // Every later version keeps every earlier feature.
  for (std::size_t i = 1; i < kVmbusVersions.size(); ++i) {
    EXPECT_EQ(kVmbusVersions[i].features & kVmbusVersions[i - 1].features, kVmbusVersions[i - 1].features);
  }
  EXPECT_EQ(features_of_raw(0x00040002), kVmbusVersions[5].features);  // between 4.1 and 5.0
  EXPECT_EQ(features_of_raw(0), 0u);
}

TEST(VmbusConnectionIds, MessageAndEventConnections) {
  EXPECT_EQ(kVmbusMessageConnectionId, 1u);
  EXPECT_EQ(kVmbusEventConnectionId, 2u);
  EXPECT_EQ(kVmbusMonitorConnectionId, 3u);
  EXPECT_EQ(kVmbusMessageConnectionId4, 4u);
  EXPECT_EQ(kVmbusMessageSint, 2u);
  EXPECT_EQ(initiate_contact_connection_id(VmbusVersion::win10_v4_1), 1u);
  EXPECT_EQ(initiate_contact_connection_id(VmbusVersion::win10_v5), 4u);
  VersionResponse vr{1, 0, 0, 0x2A};
  EXPECT_EQ(vr.message_connection_id(VmbusVersion::win10), 1u);
  EXPECT_EQ(vr.message_connection_id(VmbusVersion::win10_v5_2), 0x2Au);
}

TEST(VmbusMessages, TypeNumbersAndNames) {
  EXPECT_EQ(static_cast<std::uint32_t>(ChannelMessageType::offer_channel), 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(ChannelMessageType::unload_response), 17u);
  EXPECT_EQ(static_cast<std::uint32_t>(ChannelMessageType::tl_connect_request), 21u);
  EXPECT_EQ(static_cast<std::uint32_t>(ChannelMessageType::modify_channel_response), 24u);
  EXPECT_STREQ(to_string(ChannelMessageType::gpadl_torndown), "gpadl_torndown");
  EXPECT_STREQ(to_string(static_cast<ChannelMessageType>(19)), "unknown");
  // The header's msgtype is the variant alternative's type.
  for (const auto& m : samples(kLatest)) {
    Bytes b = encode(m, kLatest);
    EXPECT_EQ(load_u32(b, 0), static_cast<std::uint32_t>(message_type(m)));
    EXPECT_EQ(load_u32(b, 4), 0u);
  }
}

// ---------------------------------------------------------------------------
// Round trips

TEST(VmbusRoundTrip, EveryTypeAtEveryVersionWhereItExists) {
  std::size_t checked = 0;
  for (const auto& info : kVmbusVersions) {
    for (const auto& m : samples(info.version)) {
      const auto t = message_type(m);
      if (!channel_message_exists(t, info.version)) continue;
      SCOPED_TRACE(std::string(info.name) + " " + to_string(t));
      const Bytes b = encode(m, info.version);
      auto d = decode_channel_message(b, info.version);
      ASSERT_TRUE(d.ok()) << d.error().message();
      EXPECT_EQ(*d, m);
      EXPECT_EQ(encode(*d, info.version), b);
      ++checked;
    }
  }
  // 17 types at every version, TL x2 from 4.0 (6 versions), MODIFYCHANNEL from 4.1 (5),
  // MODIFYCHANNEL_RESPONSE at 5.3 (1).
  EXPECT_EQ(checked, 17u * 10 + 2 * 6 + 5 + 1);
}

TEST(VmbusRoundTrip, TrailingBytesIgnoredForFixedLayouts) {
  for (const auto& m : samples(kLatest)) {
    const auto t = message_type(m);
    if (t == ChannelMessageType::gpadl_header || t == ChannelMessageType::gpadl_body ||
        t == ChannelMessageType::tl_connect_request) {
      continue;
    }
    SCOPED_TRACE(to_string(t));
    Bytes b = encode(m, kLatest);
    b.resize(kChannelMessageMaxSize, std::byte{0xEE});
    auto d = decode_channel_message(b, kLatest);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(*d, m);
  }
}

TEST(VmbusRoundTrip, HeaderPaddingIgnored) {
  Bytes b = encode(RescindChannelOffer{9}, kLatest);
  b[4] = std::byte{0xff};
  auto d = decode_channel_message(b, kLatest);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::get<RescindChannelOffer>(*d).child_relid, 9u);
}

TEST(VmbusRoundTrip, OfferReservedBitsAndFieldsPreserved) {
  OfferChannel o;
  o.reserved1 = 0x1122334455667788;
  o.reserved2 = 1;
  o.reserved3 = 0xBEEF;
  o.monitor_flags = 0xFE;      // reserved bits only
  o.interrupt_flags = 0xFFFE;  // reserved bits only
  const Bytes b = encode(o, VmbusVersion::win7);
  EXPECT_EQ(b[189], std::byte{0xFE});
  auto d = decode_channel_message(b, VmbusVersion::win7);
  ASSERT_TRUE(d.ok());
  const auto& got = std::get<OfferChannel>(*d);
  EXPECT_EQ(got, o);
  EXPECT_FALSE(got.monitor_allocated());
  EXPECT_FALSE(got.is_dedicated_interrupt());
}

// ---------------------------------------------------------------------------
// Golden bytes, written from include/linux/hyperv.h

TEST(VmbusGolden, OfferChannel196Bytes) {
  Bytes g;
  append(g, {0x01, 0, 0, 0, 0, 0, 0, 0});  // header: OFFERCHANNEL
  // if_type 57164f39-9115-4e78-ab55-382f3bd5422d (heartbeat), mixed-endian
  append(g, {0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d});
  // if_instance 00112233-4455-6677-8899-aabbccddeeff
  append(g, {0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff});
  append_zeros(g, 16);                  // reserved1, reserved2
  append(g, {0x11, 0x00, 0x08, 0x00});  // chn_flags = enumerate | named pipe, mmio 8
  append(g, {0x04, 0x00, 0x00, 0x00});  // pipe.pipe_mode = message
  append(g, {'h', 'i'});                // pipe.user_def
  append_zeros(g, 114);
  append(g, {0x02, 0x00, 0x00, 0x00});  // sub_channel_index 2, reserved3
  append(g, {0x0e, 0x00, 0x00, 0x00});  // child_relid 14
  append(g, {0x07, 0x01});              // monitorid 7, monitor_allocated
  append(g, {0x01, 0x00});              // is_dedicated_interrupt
  append(g, {0x1e, 0x00, 0x00, 0x00});  // connection_id 30
  ASSERT_EQ(g.size(), 196u);
  EXPECT_EQ(g[184], std::byte{0x0e});

  auto d = decode_channel_message(g, VmbusVersion::win10);
  ASSERT_TRUE(d.ok()) << d.error().message();
  const auto& o = std::get<OfferChannel>(*d);
  EXPECT_EQ(o.if_type, kHeartbeat);
  EXPECT_EQ(o.if_instance, kInstance);
  EXPECT_EQ(o.chn_flags, 0x11);
  EXPECT_EQ(o.mmio_megabytes, 8);
  EXPECT_TRUE(o.is_pipe());
  EXPECT_EQ(o.pipe_mode(), kPipeTypeMessage);
  EXPECT_EQ(o.pipe_user_def().size(), kMaxPipeUserDefinedBytes);
  EXPECT_EQ(o.pipe_user_def()[1], std::byte{'i'});
  EXPECT_EQ(o.sub_channel_index, 2);
  EXPECT_EQ(o.child_relid, 14u);
  EXPECT_EQ(o.monitor_id, 7);
  EXPECT_TRUE(o.monitor_allocated());
  EXPECT_TRUE(o.is_dedicated_interrupt());
  EXPECT_EQ(o.connection_id, 30u);
  EXPECT_EQ(encode(*d, VmbusVersion::win10), g);
}

TEST(VmbusGolden, OfferSignalConnectionDependsOnVersion) {
  OfferChannel o;
  o.connection_id = 0x1e;
  EXPECT_EQ(o.signal_connection_id(VmbusVersion::ws2008), kVmbusEventConnectionId);
  EXPECT_EQ(o.signal_connection_id(VmbusVersion::win7), 0x1eu);
  EXPECT_EQ(o.signal_connection_id(VmbusVersion::win10_v5_3), 0x1eu);
  EXPECT_FALSE(o.monitor_allocated());
  EXPECT_FALSE(o.is_pipe());
}

TEST(VmbusGolden, InitiateContactInterruptPageBefore50) {
  Bytes g;
  append(g, {0x0e, 0, 0, 0, 0, 0, 0, 0});
  append(g, {0x00, 0x00, 0x04, 0x00});                          // version 4.0
  append(g, {0x01, 0x00, 0x00, 0x00});                          // target_vcpu 1
  append(g, {0x00, 0x50, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00});  // interrupt_page
  append(g, {0x00, 0x60, 0x45, 0x23, 0x00, 0x00, 0x00, 0x00});  // monitor_page1
  append(g, {0x00, 0x70, 0x45, 0x23, 0x00, 0x00, 0x00, 0x00});  // monitor_page2
  ASSERT_EQ(g.size(), 40u);
  auto d = decode_channel_message(g, VmbusVersion::ws2008);
  ASSERT_TRUE(d.ok()) << d.error().message();
  const auto& ic = std::get<InitiateContact>(*d);
  EXPECT_EQ(ic.version_requested, raw(VmbusVersion::win10));
  EXPECT_FALSE(ic.uses_msg_sint());
  EXPECT_EQ(ic.target_vcpu, 1u);
  EXPECT_EQ(ic.interrupt_page, 0x12345000u);
  EXPECT_EQ(ic.msg_sint, 0);
  EXPECT_EQ(ic.monitor_page1, 0x23456000u);
  EXPECT_EQ(ic.monitor_page2, 0x23457000u);
  EXPECT_EQ(encode(*d, VmbusVersion::ws2008), g);
}

TEST(VmbusGolden, InitiateContactMsgSintFrom50) {
  Bytes g;
  append(g, {0x0e, 0, 0, 0, 0, 0, 0, 0});
  append(g, {0x03, 0x00, 0x05, 0x00});                          // version 5.3
  append(g, {0x00, 0x00, 0x00, 0x00});                          // target_vcpu 0
  append(g, {0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});  // msg_sint 2, padding
  append(g, {0x00, 0x60, 0x45, 0x23, 0x00, 0x00, 0x00, 0x00});
  append(g, {0x00, 0x70, 0x45, 0x23, 0x00, 0x00, 0x00, 0x00});
  auto d = decode_channel_message(g, VmbusVersion::ws2008);  // layout follows the request
  ASSERT_TRUE(d.ok()) << d.error().message();
  const auto& ic = std::get<InitiateContact>(*d);
  EXPECT_TRUE(ic.uses_msg_sint());
  EXPECT_EQ(ic.msg_sint, 2);
  EXPECT_EQ(ic.interrupt_page, 0u);
  EXPECT_EQ(ic.feature_flags, 0u);
  EXPECT_EQ(encode(*d, kLatest), g);

  // The same bytes requesting 4.1 read the union as an interrupt page.
  g[8] = std::byte{0x01};
  g[10] = std::byte{0x04};
  auto old = decode_channel_message(g, kLatest);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(std::get<InitiateContact>(*old).interrupt_page, 2u);
  EXPECT_EQ(std::get<InitiateContact>(*old).msg_sint, 0);
}

TEST(VmbusGolden, InitiateContactUnknownRequestedVersionStillDecodes) {
  InitiateContact ic;
  ic.version_requested = 0x00060000;  // a host answers "not supported"
  ic.msg_sint = 2;
  ic.feature_flags = 0x7;
  auto d = decode_channel_message(encode(ic, kLatest), kLatest);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::get<InitiateContact>(*d), ic);
}

TEST(VmbusGolden, VersionResponse) {
  Bytes g;
  append(g, {0x0f, 0, 0, 0, 0, 0, 0, 0});
  append(g, {0x01, 0x00, 0x00, 0x00});  // supported, state 0, padding
  append(g, {0x04, 0x00, 0x00, 0x00});  // msg_conn_id 4
  auto d = decode_channel_message(g, VmbusVersion::win10_v5);
  ASSERT_TRUE(d.ok());
  const auto& vr = std::get<VersionResponse>(*d);
  EXPECT_EQ(vr.version_supported, 1);
  EXPECT_EQ(vr.connection_state, 0);
  EXPECT_EQ(vr.msg_conn_id, 4u);
  EXPECT_EQ(encode(*d, VmbusVersion::win10_v5), g);
  // Linux needs all 16 bytes at every version.
  g.pop_back();
  auto t = decode_channel_message(g, VmbusVersion::win8);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, Errc::truncated);
  EXPECT_STREQ(t.error().field, "version_response.msg_conn_id");
}

TEST(VmbusGolden, OpenChannel) {
  Bytes g;
  append(g, {0x05, 0, 0, 0, 0, 0, 0, 0});
  append(g, {0x0e, 0x00, 0x00, 0x00});  // child_relid 14
  append(g, {0x0f, 0x00, 0x00, 0x00});  // openid 15
  append(g, {0x10, 0x1e, 0x0e, 0x00});  // ringbuffer gpadl 0xE1E10
  append(g, {0x01, 0x00, 0x00, 0x00});  // target_vp 1
  append(g, {0x10, 0x00, 0x00, 0x00});  // downstream page offset 16
  append(g, {0xaa});                    // userdata[0]
  append_zeros(g, 119);
  ASSERT_EQ(g.size(), 148u);
  auto d = decode_channel_message(g, VmbusVersion::win8);
  ASSERT_TRUE(d.ok()) << d.error().message();
  const auto& o = std::get<OpenChannel>(*d);
  EXPECT_EQ(o.child_relid, 14u);
  EXPECT_EQ(o.open_id, 15u);
  EXPECT_EQ(o.ringbuffer_gpadl, kLinuxFirstGpadlHandle);
  EXPECT_EQ(o.target_vp, 1u);
  EXPECT_EQ(o.downstream_ringbuffer_page_offset, 16u);
  EXPECT_EQ(o.user_data[0], std::byte{0xaa});
  EXPECT_EQ(encode(*d, VmbusVersion::win8), g);
}

TEST(VmbusGolden, GpadlHeader) {
  Bytes g;
  append(g, {0x08, 0, 0, 0, 0, 0, 0, 0});
  append(g, {0x0e, 0x00, 0x00, 0x00});  // child_relid
  append(g, {0x10, 0x1e, 0x0e, 0x00});  // gpadl 0xE1E10
  append(g, {0x20, 0x00, 0x01, 0x00});  // range_buflen 32, rangecount 1
  append(g, {0x00, 0x30, 0x00, 0x00});  // byte_count 0x3000
  append(g, {0x00, 0x00, 0x00, 0x00});  // byte_offset 0
  append(g, {0x00, 0x10, 0, 0, 0, 0, 0, 0});
  append(g, {0x01, 0x10, 0, 0, 0, 0, 0, 0});
  append(g, {0x00, 0x20, 0, 0, 0, 0, 0x01, 0});  // pfn 0x0001000000002000
  auto d = decode_channel_message(g, VmbusVersion::win8);
  ASSERT_TRUE(d.ok()) << d.error().message();
  const auto& h = std::get<GpadlHeader>(*d);
  EXPECT_EQ(h.child_relid, 14u);
  EXPECT_EQ(h.gpadl, 0xE1E10u);
  EXPECT_EQ(h.range_buflen, 32);
  EXPECT_EQ(h.rangecount, 1);
  EXPECT_EQ(h.byte_count, 0x3000u);
  EXPECT_EQ(h.byte_offset, 0u);
  ASSERT_EQ(h.pfns.size(), 3u);
  EXPECT_EQ(h.pfns[0], 0x1000u);
  EXPECT_EQ(h.pfns[1], 0x1001u);
  EXPECT_EQ(h.pfns[2], 0x0001000000002000u);
  EXPECT_EQ(encode(*d, VmbusVersion::win8), g);
}

// ---------------------------------------------------------------------------
// Negative tests

TEST(VmbusDecode, TruncationAtEveryLengthForEveryType) {
  for (const auto& m : samples(kLatest)) {
    const auto t = message_type(m);
    const Bytes full = encode(m, kLatest);
    const std::size_t min = channel_message_min_size(t);
    SCOPED_TRACE(to_string(t));
    for (std::size_t len = 0; len < min; ++len) {
      auto d = decode_channel_message(ByteSpan(full).first(len), kLatest);
      ASSERT_FALSE(d.ok()) << "accepted " << len << " bytes";
      EXPECT_EQ(d.error().code, Errc::truncated) << len;
      EXPECT_NE(std::string(d.error().field).find('.'), std::string::npos);
      EXPECT_LE(d.error().offset, len);
    }
    EXPECT_TRUE(decode_channel_message(ByteSpan(full).first(min), kLatest).ok());
  }
}

TEST(VmbusDecode, TruncationNamesTheMissingField) {
  Bytes b = encoded_sample(ChannelMessageType::offer_channel, kLatest);
  auto d = decode_channel_message(ByteSpan(b).first(193), kLatest);
  ASSERT_FALSE(d.ok());
  EXPECT_STREQ(d.error().field, "offer.connection_id");
  EXPECT_EQ(d.error().offset, 192u);
  d = decode_channel_message(ByteSpan(b).first(4), kLatest);
  EXPECT_STREQ(d.error().field, "channel_message.padding");
  d = decode_channel_message(ByteSpan(b).first(100), kLatest);
  EXPECT_STREQ(d.error().field, "offer.user_def");
}

TEST(VmbusDecode, GpadlLengthsMustBeWholePfns) {
  for (auto t : {ChannelMessageType::gpadl_header, ChannelMessageType::gpadl_body}) {
    Bytes full = encoded_sample(t, kLatest);
    const std::size_t min = channel_message_min_size(t);
    for (std::size_t len = min; len <= full.size(); ++len) {
      auto d = decode_channel_message(ByteSpan(full).first(len), kLatest);
      if ((len - min) % 8 == 0) {
        EXPECT_TRUE(d.ok()) << len;
      } else {
        ASSERT_FALSE(d.ok());
        EXPECT_EQ(d.error().code, Errc::bad_length);
      }
    }
  }
}

TEST(VmbusDecode, GpadlHeaderConsistencyRules) {
  GpadlHeader h;
  h.gpadl = 1;
  h.rangecount = 1;
  h.range_buflen = 8 + 16;
  h.byte_count = 8192;
  h.pfns.push_back(1);
  h.pfns.push_back(2);
  ASSERT_TRUE(decode_channel_message(encode(h, kLatest), kLatest).ok());

  GpadlHeader zero_ranges = h;
  zero_ranges.rangecount = 0;
  auto d = decode_channel_message(encode(zero_ranges, kLatest), kLatest);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::bad_value);
  EXPECT_STREQ(d.error().field, "gpadl_header.rangecount");

  GpadlHeader short_buflen = h;
  short_buflen.range_buflen = 16;  // announces 1 PFN, carries 2
  d = decode_channel_message(encode(short_buflen, kLatest), kLatest);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::bad_length);
  EXPECT_STREQ(d.error().field, "gpadl_header.range_buflen");
  EXPECT_EQ(d.error().offset, 16u);

  GpadlHeader odd_buflen = h;
  odd_buflen.range_buflen = 25;
  d = decode_channel_message(encode(odd_buflen, kLatest), kLatest);
  ASSERT_FALSE(d.ok());
  EXPECT_STREQ(d.error().field, "gpadl_header.range_buflen");
}

TEST(VmbusDecode, LongerThanOneSynicPayloadRejected) {
  Bytes b = encoded_sample(ChannelMessageType::offer_channel, kLatest);
  b.resize(241);
  auto d = decode_channel_message(b, kLatest);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::bad_length);
  EXPECT_STREQ(d.error().field, "channel_message.size");
}

TEST(VmbusDecode, UnknownTypesRejected) {
  for (std::uint32_t t : {0u, 18u, 19u, 20u, 25u, 26u, 0x80000001u, 0xFFFFFFFFu}) {
    Bytes b = header_only(t);
    b.resize(64);
    auto d = decode_channel_message(b, kLatest);
    ASSERT_FALSE(d.ok()) << t;
    EXPECT_EQ(d.error().code, Errc::unknown_type);
    EXPECT_STREQ(d.error().field, "channel_message.msgtype");
    EXPECT_EQ(d.error().offset, 0u);
  }
}

TEST(VmbusDecode, TypesUnknownBeforeTheirVersion) {
  struct Case {
    ChannelMessageType type;
    VmbusVersion last_without;
    VmbusVersion first_with;
  };
  const Case cases[] = {
      {ChannelMessageType::tl_connect_request, VmbusVersion::win8_1, VmbusVersion::win10},
      {ChannelMessageType::tl_connect_result, VmbusVersion::win8_1, VmbusVersion::win10},
      {ChannelMessageType::modify_channel, VmbusVersion::win10, VmbusVersion::win10_v4_1},
      {ChannelMessageType::modify_channel_response, VmbusVersion::win10_v5_2, VmbusVersion::win10_v5_3},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_string(c.type));
    const Bytes b = encoded_sample(c.type, kLatest);
    for (const auto& info : kVmbusVersions) {
      auto d = decode_channel_message(b, info.version);
      if (info.version <= c.last_without) {
        ASSERT_FALSE(d.ok()) << info.name;
        EXPECT_EQ(d.error().code, Errc::unknown_type);
        EXPECT_STREQ(d.error().field, "channel_message.msgtype");
      } else {
        EXPECT_GE(info.version, c.first_with);
        EXPECT_TRUE(d.ok()) << info.name;
      }
    }
  }
  EXPECT_EQ(channel_message_since(ChannelMessageType::offer_channel), VmbusVersion::ws2008);
  EXPECT_FALSE(channel_message_since(ChannelMessageType::invalid).has_value());
}

TEST(VmbusDecode, UnknownVersionParameterRejected) {
  Bytes b = encoded_sample(ChannelMessageType::request_offers, kLatest);
  auto d = decode_channel_message(b, static_cast<VmbusVersion>(0x00060000));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::bad_version);
  EXPECT_STREQ(d.error().field, "channel_message.version");
}

TEST(VmbusDecode, TlConnectSiloIdOnlyFrom52) {
  TlConnectRequest tl{kInstance, kHeartbeat, kInstance};
  const Bytes with_silo = encode(tl, VmbusVersion::win10_v5_2);
  ASSERT_EQ(with_silo.size(), 56u);
  auto d = decode_channel_message(with_silo, VmbusVersion::win10_v5_2);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::get<TlConnectRequest>(*d).silo_id, kInstance);

  // Before 5.2 the silo id is neither encoded nor decoded.
  EXPECT_EQ(encode(tl, VmbusVersion::win10_v5_1).size(), 40u);
  d = decode_channel_message(with_silo, VmbusVersion::win10_v5_1);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(std::get<TlConnectRequest>(*d).silo_id.has_value());

  // Linux's 40-byte request is valid at 5.2+ too; 41..55 bytes carry no silo.
  for (std::size_t len = 40; len < 56; ++len) {
    d = decode_channel_message(ByteSpan(with_silo).first(len), VmbusVersion::win10_v5_3);
    ASSERT_TRUE(d.ok()) << len;
    EXPECT_FALSE(std::get<TlConnectRequest>(*d).silo_id.has_value());
  }
}

TEST(VmbusDecode, HeaderOnlyMessagesNeedTheHeader) {
  for (auto t : {ChannelMessageType::request_offers, ChannelMessageType::all_offers_delivered,
                 ChannelMessageType::unload, ChannelMessageType::unload_response}) {
    Bytes b = header_only(static_cast<std::uint32_t>(t));
    auto d = decode_channel_message(b, VmbusVersion::win8_1);
    ASSERT_TRUE(d.ok()) << to_string(t);
    EXPECT_EQ(message_type(*d), t);
  }
}

}  // namespace
}  // namespace vmbh::proto
