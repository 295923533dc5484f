#include "vmbh/protocols/ic.h"

#include <gtest/gtest.h>

#include <vector>

namespace vmbh::proto {
namespace {

Bytes encode_negotiate(const IcNegotiate& n) {
  Bytes out;
  ByteWriter w(out);
  encode(n, w);
  return out;
}

IcNegotiate make_offer(std::vector<IcVersion> fw, std::vector<IcVersion> msg) {
  IcNegotiate n;
  EXPECT_TRUE(n.framework.assign(fw));
  EXPECT_TRUE(n.message.assign(msg));
  return n;
}

// A shutdown negotiate as a Hyper-V host sends it: framework {3.0, 1.0},
// shutdown {3.2, 3.1, 3.0, 1.0}. Written by hand from the kernel layouts.
const Bytes kHostShutdownOffer = bytes_of(
    // pipe header: flags 1 (data), msgsize 20 + 32
    0x01, 0x00, 0x00, 0x00, 0x34, 0x00, 0x00, 0x00,
    // IC header: icverframe 3.0, type 0, icvermsg 3.2, icmsgsize 32, status 0, txid 0, flags 3, reserved
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00,
    // negotiate: icframe_vercnt 2, icmsg_vercnt 4, reserved 0
    0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    // framework 3.0, 1.0; message 3.2, 3.1, 3.0, 1.0
    0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00, 0x03,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00);

// Linux's answer to the same packet as received from the ring (padded to 64
// bytes): icmsgsize 16, flags transaction|response, counts 1/1, slots 3.0 and
// 3.2; everything else as received.
const Bytes kLinuxShutdownAnswer =
    bytes_of(0x01, 0x00, 0x00, 0x00, 0x34, 0x00, 0x00, 0x00,  //
             0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
             0x00, 0x05, 0x00, 0x00,                          //
             0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,  //
             0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00,  // chosen framework, chosen service
             0x03, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
             0x00,                     // left over
             0x00, 0x00, 0x00, 0x00);  // ring padding

Bytes padded(Bytes b, std::size_t to) {
  b.resize(to, std::byte{0});
  return b;
}

TEST(IcSizes, PinnedLayoutSizes) {
  EXPECT_EQ(kIcPipeHeaderSize, 8u);
  EXPECT_EQ(kIcHeaderSize, 20u);
  EXPECT_EQ(kIcMessageHeaderSize, 28u);
  EXPECT_EQ(kIcNegotiateFixedSize, 8u);
  EXPECT_EQ(kIcVersionSize, 4u);
  EXPECT_EQ(kIcNegotiateMinPacketSize, 32u);
  EXPECT_EQ(kIcMaxVersionCount, 100u);
  EXPECT_EQ(kIcNegotiateResponseBodySize, 16u);

  Bytes out;
  ByteWriter w(out);
  encode(IcPipeHeader{}, w);
  EXPECT_EQ(out.size(), 8u);
  encode(IcHeader{}, w);
  EXPECT_EQ(out.size(), 28u);
  encode(IcNegotiateResponse{}, w);
  EXPECT_EQ(out.size(), 44u);
  EXPECT_EQ(encode_negotiate(IcNegotiate{}).size(), 8u);
}

TEST(IcConstants, MatchLinuxHeaders) {
  EXPECT_EQ(static_cast<int>(IcMsgType::negotiate), 0);
  EXPECT_EQ(static_cast<int>(IcMsgType::heartbeat), 1);
  EXPECT_EQ(static_cast<int>(IcMsgType::kvp_exchange), 2);
  EXPECT_EQ(static_cast<int>(IcMsgType::shutdown), 3);
  EXPECT_EQ(static_cast<int>(IcMsgType::timesync), 4);
  EXPECT_EQ(static_cast<int>(IcMsgType::vss), 5);
  EXPECT_EQ(static_cast<int>(IcMsgType::fcopy), 7);
  EXPECT_FALSE(is_known(static_cast<IcMsgType>(6)));
  EXPECT_STREQ(to_string(static_cast<IcMsgType>(6)), "unknown");
  EXPECT_STREQ(to_string(IcMsgType::timesync), "timesync");
  EXPECT_EQ(kIcFlagsHostRequest, 3);
  EXPECT_EQ(kIcFlagsGuestResponse, 5);
  EXPECT_EQ(kHvSOk, 0u);
  EXPECT_EQ(kHvEFail, 0x80004005u);
  EXPECT_EQ(kHvSCont, 0x80070103u);
  EXPECT_EQ(kHvErrorNotSupported, 0x80070032u);
  EXPECT_EQ(kHvInvalidArg, 0x80070057u);
  EXPECT_EQ(kHvGuidNotFound, 0x80041002u);
}

TEST(IcVersions, LinuxListsAsInKernel61) {
  EXPECT_EQ(std::vector<IcVersion>(kLinuxUtilFrameworkVersions.begin(), kLinuxUtilFrameworkVersions.end()),
            (std::vector<IcVersion>{{3, 0}, {1, 0}}));
  EXPECT_EQ(
      std::vector<IcVersion>(kLinuxVssFcopyFrameworkVersions.begin(), kLinuxVssFcopyFrameworkVersions.end()),
      (std::vector<IcVersion>{{3, 0}}));
  EXPECT_EQ(std::vector<IcVersion>(kLinuxHeartbeatVersions.begin(), kLinuxHeartbeatVersions.end()),
            (std::vector<IcVersion>{{3, 0}, {1, 0}}));
  EXPECT_EQ(std::vector<IcVersion>(kLinuxShutdownVersions.begin(), kLinuxShutdownVersions.end()),
            (std::vector<IcVersion>{{3, 2}, {3, 1}, {3, 0}, {1, 0}}));
  EXPECT_EQ(std::vector<IcVersion>(kLinuxTimesyncVersions.begin(), kLinuxTimesyncVersions.end()),
            (std::vector<IcVersion>{{4, 0}, {3, 0}, {1, 0}}));
  EXPECT_EQ(std::vector<IcVersion>(kLinuxKvpVersions.begin(), kLinuxKvpVersions.end()),
            (std::vector<IcVersion>{{4, 0}, {3, 0}, {1, 0}}));
  EXPECT_EQ(kLinuxVssVersions[0], (IcVersion{5, 0}));
  EXPECT_EQ(kLinuxFcopyVersions[0], (IcVersion{1, 1}));
  EXPECT_EQ((IcVersion{3, 2}).packed(), 0x00030002u);
  EXPECT_EQ(IcVersion::from_packed(0x00040001u), (IcVersion{4, 1}));
}

TEST(IcMessage, DecodesGoldenHostOffer) {
  auto m = decode_ic_message(kHostShutdownOffer);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->pipe, (IcPipeHeader{1, 52}));
  EXPECT_EQ(m->header.icverframe, (IcVersion{3, 0}));
  EXPECT_EQ(m->header.icmsgtype, IcMsgType::negotiate);
  EXPECT_EQ(m->header.icvermsg, (IcVersion{3, 2}));
  EXPECT_EQ(m->header.icmsgsize, 32);
  EXPECT_EQ(m->header.status, 0u);
  EXPECT_EQ(m->header.ictransaction_id, 0);
  EXPECT_EQ(m->header.icflags, kIcFlagsHostRequest);
  EXPECT_EQ(m->body.size(), 32u);
  EXPECT_TRUE(m->trailing.empty());

  auto n = decode_ic_negotiate(m->body);
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(n->framework, make_offer({{3, 0}, {1, 0}}, {}).framework);
  EXPECT_EQ(n->message, make_offer({}, {{3, 2}, {3, 1}, {3, 0}, {1, 0}}).message);
}

TEST(IcMessage, HostOfferBuilderMatchesGolden) {
  auto offer = host_negotiate_offer(kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
  ASSERT_TRUE(offer.ok());
  EXPECT_EQ(*offer, kHostShutdownOffer);
}

TEST(IcMessage, HostOfferRejectsTooManyVersions) {
  std::vector<IcVersion> many(101, IcVersion{1, 0});
  auto offer = host_negotiate_offer(many, kLinuxHeartbeatVersions);
  ASSERT_FALSE(offer.ok());
  EXPECT_STREQ(offer.error().field, "negotiate.icframe_vercnt");
  auto offer2 = host_negotiate_offer(kLinuxUtilFrameworkVersions, many);
  ASSERT_FALSE(offer2.ok());
  EXPECT_STREQ(offer2.error().field, "negotiate.icmsg_vercnt");
  std::vector<IcVersion> hundred(100, IcVersion{1, 0});
  EXPECT_TRUE(host_negotiate_offer(hundred, hundred).ok());
}

TEST(IcMessage, RoundTripKeepsTrailingPadding) {
  Bytes in = padded(kHostShutdownOffer, 64);
  auto m = decode_ic_message(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->trailing.size(), 4u);
  Bytes out;
  ByteWriter w(out);
  encode(*m, w);
  EXPECT_EQ(out, in);
  auto again = decode_ic_message(out);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *m);
}

TEST(IcMessage, TruncationAtEveryLength) {
  for (std::size_t len = 0; len < kHostShutdownOffer.size(); ++len) {
    ByteSpan prefix(kHostShutdownOffer.data(), len);
    auto m = decode_ic_message(prefix);
    ASSERT_FALSE(m.ok()) << "len " << len;
    if (len < kIcMessageHeaderSize) {
      EXPECT_EQ(m.error().code, Errc::truncated) << "len " << len;
    } else {
      EXPECT_EQ(m.error().code, Errc::bad_length);
      EXPECT_STREQ(m.error().field, "ic_header.icmsgsize");
      EXPECT_EQ(m.error().offset, 18u);
    }
  }
}

TEST(IcMessage, HeaderFieldErrorsNameTheField) {
  auto m = decode_ic_message(ByteSpan(kHostShutdownOffer.data(), 3));
  ASSERT_FALSE(m.ok());
  EXPECT_STREQ(m.error().field, "ic_pipe.flags");
  m = decode_ic_message(ByteSpan(kHostShutdownOffer.data(), 26));
  ASSERT_FALSE(m.ok());
  EXPECT_STREQ(m.error().field, "ic_header.reserved");
  auto h = decode_ic_header(ByteSpan(kHostShutdownOffer.data() + 8, 19));
  ASSERT_FALSE(h.ok());
  auto h2 = decode_ic_header(ByteSpan(kHostShutdownOffer.data() + 8, 20));
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(h2->icmsgsize, 32);
  auto p = decode_ic_pipe_header(ByteSpan(kHostShutdownOffer.data(), 8));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (IcPipeHeader{1, 52}));
}

TEST(IcMessage, UnknownTypeStillFramesAndRoundTrips) {
  IcHeader h = make_ic_request_header(static_cast<IcMsgType>(0x1234), {3, 0}, {9, 9}, 7);
  h.reserved = {0xAA, 0x55};
  h.status = kHvEFail;
  Bytes body = bytes_of(1, 2, 3);
  Bytes pkt = encode_ic_message(h, body);
  ASSERT_EQ(pkt.size(), 31u);
  auto m = decode_ic_message(pkt);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(is_known(m->header.icmsgtype));
  EXPECT_EQ(m->header.ictransaction_id, 7);
  EXPECT_EQ(m->header.reserved, (std::array<std::uint8_t, 2>{0xAA, 0x55}));
  EXPECT_EQ(m->header.status, kHvEFail);
  EXPECT_EQ(m->header.icmsgsize, 3);
  EXPECT_EQ(m->pipe.msgsize, 23u);
}

TEST(IcNegotiate, RoundTrip) {
  IcNegotiate n = make_offer({{3, 0}, {1, 0}}, {{4, 0}, {3, 0}, {1, 0}});
  n.reserved = 0xDEADBEEF;
  Bytes b = encode_negotiate(n);
  EXPECT_EQ(b.size(), 8u + 5 * 4);
  auto d = decode_ic_negotiate(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, n);
}

TEST(IcNegotiate, ZeroCountsDecode) {
  auto d = decode_ic_negotiate(bytes_of(0, 0, 0, 0, 0, 0, 0, 0));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->framework.empty());
  EXPECT_TRUE(d->message.empty());
}

TEST(IcNegotiate, CountsBeyondBytesPresent) {
  // 0xFFFF framework versions claimed, 8 bytes of versions present.
  auto d = decode_ic_negotiate(bytes_of(0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::bad_length);
  EXPECT_STREQ(d.error().field, "negotiate.icframe_vercnt");
  // Within Linux's cap but more than present.
  d = decode_ic_negotiate(bytes_of(2, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::truncated);
  EXPECT_STREQ(d.error().field, "negotiate.versions");
}

TEST(IcNegotiate, CountCapIs100) {
  Bytes b = bytes_of(0, 0, 101, 0, 0, 0, 0, 0);
  b.resize(8 + 101 * 4, std::byte{0});
  auto d = decode_ic_negotiate(b);
  ASSERT_FALSE(d.ok());
  EXPECT_STREQ(d.error().field, "negotiate.icmsg_vercnt");
  b = bytes_of(100, 0, 0, 0, 0, 0, 0, 0);
  b.resize(8 + 100 * 4, std::byte{0});
  EXPECT_TRUE(decode_ic_negotiate(b).ok());
}

TEST(IcNegotiate, TrailingBytesRejected) {
  auto d = decode_ic_negotiate(bytes_of(1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 9));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::trailing_data);
}

TEST(IcNegotiate, TruncationAtEveryLength) {
  ByteSpan body = ByteSpan(kHostShutdownOffer).subspan(28);
  for (std::size_t len = 0; len < body.size(); ++len) {
    auto d = decode_ic_negotiate(body.first(len));
    EXPECT_FALSE(d.ok()) << "len " << len;
  }
  EXPECT_TRUE(decode_ic_negotiate(body).ok());
}

struct SelectCase {
  const char* name;
  std::vector<IcVersion> host_fw, host_msg, guest_fw, guest_srv;
  bool found;
  IcVersion fw, msg;
};

TEST(IcSelect, TableOfLinuxSelections) {
  const std::vector<IcVersion> util_fw(kLinuxUtilFrameworkVersions.begin(),
                                       kLinuxUtilFrameworkVersions.end());
  const std::vector<IcVersion> sd(kLinuxShutdownVersions.begin(), kLinuxShutdownVersions.end());
  const std::vector<IcVersion> ts(kLinuxTimesyncVersions.begin(), kLinuxTimesyncVersions.end());
  const std::vector<SelectCase> cases = {
      {"highest common",
       {{3, 0}, {1, 0}},
       {{3, 2}, {3, 1}, {3, 0}, {1, 0}},
       util_fw,
       sd,
       true,
       {3, 0},
       {3, 2}},
      {"host order irrelevant",
       {{1, 0}, {3, 0}},
       {{1, 0}, {3, 0}, {3, 1}},
       util_fw,
       sd,
       true,
       {3, 0},
       {3, 1}},
      {"old host", {{1, 0}}, {{1, 0}}, util_fw, sd, true, {1, 0}, {1, 0}},
      {"timesync v4", {{3, 0}}, {{1, 0}, {3, 0}, {4, 0}}, util_fw, ts, true, {3, 0}, {4, 0}},
      {"no common framework", {{2, 0}}, {{3, 0}}, util_fw, sd, false, {1, 0}, {1, 0}},
      {"no common service", {{3, 0}, {1, 0}}, {{9, 0}, {3, 5}}, util_fw, sd, false, {3, 0}, {2, 0}},
      {"zero counts", {}, {}, util_fw, sd, false, {0, 0}, {0, 0}},
      {"zero message count", {{3, 0}}, {}, util_fw, sd, false, {3, 0}, {0, 0}},
      {"vss needs fw 3.0", {{1, 0}}, {{5, 0}}, {{3, 0}}, {{5, 0}}, false, {1, 0}, {1, 0}},
      {"fcopy 1.1", {{3, 0}}, {{1, 0}, {1, 1}}, {{3, 0}}, {{1, 1}}, true, {3, 0}, {1, 1}},
      {"minor must match", {{3, 1}}, {{3, 0}}, util_fw, sd, false, {1, 0}, {1, 0}},
  };
  for (const SelectCase& c : cases) {
    IcNegotiate offer = make_offer(c.host_fw, c.host_msg);
    IcVersionChoice got = select_versions(offer, c.guest_fw, c.guest_srv);
    EXPECT_EQ(got.found, c.found) << c.name;
    EXPECT_EQ(got.framework, c.fw) << c.name;
    EXPECT_EQ(got.message, c.msg) << c.name;

    // The in-place model on the encoded packet agrees.
    auto pkt = host_negotiate_offer(c.host_fw, c.host_msg);
    ASSERT_TRUE(pkt.ok());
    auto reply = linux_negotiate_reply(*pkt, c.guest_fw, c.guest_srv);
    ASSERT_TRUE(reply.has_value()) << c.name;
    EXPECT_TRUE(reply->negotiation.selection_ran) << c.name;
    EXPECT_EQ(reply->negotiation.choice, got) << c.name;
  }
}

TEST(IcSelect, FoundVersionIsAlwaysOfferedAndSupported) {
  IcNegotiate offer = make_offer({{1, 0}, {3, 0}}, {{1, 0}, {3, 0}, {3, 1}, {3, 2}, {7, 7}});
  auto c = select_versions(offer, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
  ASSERT_TRUE(c.found);
  EXPECT_TRUE(offer.framework.contains(c.framework));
  EXPECT_TRUE(offer.message.contains(c.message));
  EXPECT_EQ(c.message, (IcVersion{3, 2}));
}

TEST(IcLinuxNegotiate, GoldenAnswer) {
  Bytes pkt = padded(kHostShutdownOffer, 64);
  auto reply = linux_negotiate_reply(pkt, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->packet, kLinuxShutdownAnswer);
  EXPECT_TRUE(reply->negotiation.choice.found);

  auto m = decode_ic_message(reply->packet);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.icflags, kIcFlagsGuestResponse);
  EXPECT_EQ(m->header.icmsgsize, kIcNegotiateResponseBodySize);
  auto r = decode_ic_negotiate_response(m->body);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->accepted());
  EXPECT_EQ(r->framework, (IcVersion{3, 0}));
  EXPECT_EQ(r->message, (IcVersion{3, 2}));
  EXPECT_EQ(*r, make_negotiate_response(reply->negotiation.choice));
}

TEST(IcLinuxNegotiate, FailureAnswerCarriesCounts) {
  // Host offers framework {2.0} and 3 message versions: nothing common.
  auto pkt =
      host_negotiate_offer(std::vector<IcVersion>{{2, 0}}, std::vector<IcVersion>{{1, 0}, {3, 0}, {4, 0}});
  ASSERT_TRUE(pkt.ok());
  auto reply = linux_negotiate_reply(*pkt, kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->negotiation.choice.found);
  auto m = decode_ic_message(reply->packet);
  ASSERT_TRUE(m.ok());
  auto r = decode_ic_negotiate_response(m->body);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->accepted());
  EXPECT_EQ(r->icframe_vercnt, 0);
  EXPECT_EQ(r->icmsg_vercnt, 0);
  EXPECT_EQ(r->framework, (IcVersion{1, 0}));  // icframe_vercnt left in the slot
  EXPECT_EQ(r->message, (IcVersion{3, 0}));    // icmsg_vercnt left in the slot
  EXPECT_EQ(m->header.status, kHvSOk);         // Linux does not set a failure status
  EXPECT_EQ(m->header.icflags, kIcFlagsGuestResponse);
}

TEST(IcLinuxNegotiate, StoredVersionAfterFailureCanSelectTimesyncV4) {
  // Linux stores {icmsg_vercnt, 0} as the service version even when nothing
  // matched; with 4 offered message versions that is "4.0".
  auto pkt = host_negotiate_offer(std::vector<IcVersion>{{3, 0}},
                                  std::vector<IcVersion>{{9, 0}, {9, 1}, {9, 2}, {9, 3}});
  ASSERT_TRUE(pkt.ok());
  auto reply = linux_negotiate_reply(*pkt, kLinuxUtilFrameworkVersions, kLinuxTimesyncVersions);
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->negotiation.choice.found);
  EXPECT_EQ(reply->negotiation.choice.framework, (IcVersion{3, 0}));
  EXPECT_EQ(reply->negotiation.choice.message, (IcVersion{4, 0}));
}

TEST(IcLinuxNegotiate, ShortPackets) {
  Bytes pkt = kHostShutdownOffer;
  for (std::size_t len = 0; len < 28; ++len) {
    auto reply =
        linux_negotiate_reply(ByteSpan(pkt.data(), len), kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
    EXPECT_FALSE(reply.has_value()) << len;
  }
  for (std::size_t len = 28; len < 32; ++len) {
    ByteSpan in(pkt.data(), len);
    auto reply = linux_negotiate_reply(in, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
    ASSERT_TRUE(reply.has_value()) << len;
    EXPECT_FALSE(reply->negotiation.selection_ran);
    Bytes expect(in.begin(), in.end());
    expect[25] = std::byte{5};  // only icflags changes
    EXPECT_EQ(reply->packet, expect) << len;
  }
}

TEST(IcLinuxNegotiate, EveryTruncatedOfferFailsWithoutOverrun) {
  for (std::size_t len = 32; len < kHostShutdownOffer.size(); ++len) {
    ByteSpan in(kHostShutdownOffer.data(), len);
    auto reply = linux_negotiate_reply(in, kLinuxUtilFrameworkVersions, kLinuxShutdownVersions);
    ASSERT_TRUE(reply.has_value());
    ASSERT_EQ(reply->packet.size(), len);
    EXPECT_TRUE(reply->negotiation.selection_ran);
    EXPECT_FALSE(reply->negotiation.choice.found) << len;
    // Counts were 2/4: Linux echoes them in the slots.
    EXPECT_EQ(reply->negotiation.choice.framework, (IcVersion{2, 0}));
    EXPECT_EQ(reply->negotiation.choice.message, (IcVersion{4, 0}));
    EXPECT_EQ(reply->packet[28], std::byte{0});
    EXPECT_EQ(reply->packet[30], std::byte{0});
    EXPECT_EQ(reply->packet[18], std::byte{16});
  }
}

TEST(IcLinuxNegotiate, CountsOverCapFailEvenIfBytesPresent) {
  // 101 framework versions all 3.0, 1 message 3.0: the cap makes Linux fail.
  Bytes body = bytes_of(101, 0, 1, 0, 0, 0, 0, 0);
  for (int i = 0; i < 102; ++i) {
    Bytes v = bytes_of(3, 0, 0, 0);
    body.insert(body.end(), v.begin(), v.end());
  }
  Bytes pkt = encode_ic_message(make_ic_request_header(IcMsgType::negotiate, {3, 0}, {3, 0}), body);
  auto reply = linux_negotiate_reply(pkt, kLinuxUtilFrameworkVersions, kLinuxHeartbeatVersions);
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->negotiation.choice.found);
  EXPECT_EQ(reply->negotiation.choice.framework, (IcVersion{101, 0}));
}

TEST(IcLinuxNegotiate, LinuxReadsVersionsInRingPadding) {
  // icmsgsize says 1 framework version, but the counts claim 1 + 1 and the
  // message version sits in the 4 padding bytes: Linux uses recvlen, not
  // icmsgsize, so it finds it.
  IcHeader h = make_ic_request_header(IcMsgType::negotiate, {3, 0}, {3, 0});
  Bytes body = bytes_of(1, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0);
  Bytes pkt = encode_ic_message(h, body);
  Bytes pad = bytes_of(3, 0, 0, 0);
  pkt.insert(pkt.end(), pad.begin(), pad.end());
  auto reply = linux_negotiate_reply(pkt, kLinuxUtilFrameworkVersions, kLinuxHeartbeatVersions);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->negotiation.choice.found);
  EXPECT_EQ(reply->negotiation.choice.message, (IcVersion{3, 0}));
  // Our strict decoder sees the inconsistency.
  auto m = decode_ic_message(pkt);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(decode_ic_negotiate(m->body).ok());
}

TEST(IcLinuxNegotiate, SlotWritesStayInsideThePacket) {
  // Zero counts (36 bytes) plus two padding bytes 0xAA 0xBB: the selection
  // runs and fails; of the slots only the first u16 (36..37) lies inside.
  Bytes pkt = *host_negotiate_offer(std::span<const IcVersion>{}, std::span<const IcVersion>{});
  ASSERT_EQ(pkt.size(), 36u);
  pkt.push_back(std::byte{0xAA});
  pkt.push_back(std::byte{0xBB});
  Bytes expect = pkt;
  expect[18] = std::byte{0x10};  // icmsgsize 16
  expect[25] = std::byte{0x05};
  expect[36] = std::byte{0x00};  // slot 0 major = icframe_vercnt 0
  expect[37] = std::byte{0x00};
  auto reply = linux_negotiate_reply(pkt, kLinuxUtilFrameworkVersions, kLinuxHeartbeatVersions);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->packet, expect);
  EXPECT_FALSE(reply->negotiation.choice.found);
}

TEST(IcLinuxNegotiate, ReservedAndStatusKept) {
  IcNegotiate n = make_offer({{3, 0}}, {{3, 0}});
  n.reserved = 0x01020304;
  IcHeader h = make_ic_request_header(IcMsgType::negotiate, {3, 0}, {3, 0}, 0x42);
  h.status = 0x12345678;
  Bytes pkt = encode_ic_message(h, encode_negotiate(n));
  auto reply = linux_negotiate_reply(pkt, kLinuxUtilFrameworkVersions, kLinuxHeartbeatVersions);
  ASSERT_TRUE(reply.has_value());
  auto m = decode_ic_message(reply->packet);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.status, 0x12345678u);
  EXPECT_EQ(m->header.ictransaction_id, 0x42);
  auto r = decode_ic_negotiate_response(m->body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reserved, 0x01020304u);
  EXPECT_TRUE(r->accepted());
}

TEST(IcNegotiateResponse, GoldenAndValidation) {
  Bytes golden = bytes_of(1, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0);
  auto r = decode_ic_negotiate_response(golden);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->framework, (IcVersion{3, 0}));
  EXPECT_EQ(r->message, (IcVersion{4, 0}));
  Bytes out;
  ByteWriter w(out);
  encode(*r, w);
  EXPECT_EQ(out, golden);

  auto bad = decode_ic_negotiate_response(bytes_of(2, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0));
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().field, "negotiate_response.icframe_vercnt");
  bad = decode_ic_negotiate_response(bytes_of(1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0));
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().field, "negotiate_response.icmsg_vercnt");
  for (std::size_t len = 0; len < golden.size(); ++len) {
    EXPECT_FALSE(decode_ic_negotiate_response(ByteSpan(golden.data(), len)).ok()) << len;
  }
  Bytes longer = golden;
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode_ic_negotiate_response(longer).error().code, Errc::trailing_data);
}

TEST(IcVersionList, CapacityAndEquality) {
  IcVersionList a;
  for (std::size_t i = 0; i < kIcMaxVersionCount; ++i) EXPECT_TRUE(a.push_back({1, 0}));
  EXPECT_FALSE(a.push_back({1, 0}));
  EXPECT_EQ(a.size(), kIcMaxVersionCount);
  IcVersionList b;
  EXPECT_TRUE(b.assign(std::vector<IcVersion>{{3, 0}}));
  IcVersionList c;
  EXPECT_TRUE(c.push_back({3, 0}));
  EXPECT_EQ(b, c);
  EXPECT_NE(a, b);
  EXPECT_FALSE(b.assign(std::vector<IcVersion>(101)));
  EXPECT_EQ(b.size(), 1u);
}

}  // namespace
}  // namespace vmbh::proto
