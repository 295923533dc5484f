#include "vmbh/host/fcopy_device.h"

#include <gtest/gtest.h>

#include <map>

#include "device_test_util.h"
#include "fake_channel_io.h"
#include "linux_ic_guest.h"
#include "vmbh/host/class_ids.h"

namespace vmbh::host {
namespace {

using namespace std::chrono_literals;
using testing::LinuxService;

// hv_fcopy_daemon / hv_fcopy_uio_daemon over an in-memory file system: files
// by path, ALREADY_EXISTS without OVER_WRITE, a disk that fills at `capacity`.
// The uio daemon has no CANCEL case (the guest helper leaves E_FAIL).
class FakeFcopyDaemon {
 public:
  explicit FakeFcopyDaemon(bool uio) : uio_(uio) {}
  bool answer(std::span<std::byte> p) {
    auto m = proto::decode_ic_message(p);
    if (!m.ok()) return false;
    auto req = proto::decode_fcopy(m->body);
    if (!req.ok()) return false;
    std::uint32_t status = proto::kHvSOk;
    if (auto* s = std::get_if<proto::FcopyStart>(&*req)) {
      current = s->path_name + "/" + s->file_name;
      if (files.count(current) != 0 && (s->copy_flags & proto::kFcopyOverWrite) == 0) {
        status = proto::kHvErrorAlreadyExists;
        current.clear();
      } else {
        files[current].clear();
      }
    } else if (auto* w = std::get_if<proto::FcopyWrite>(&*req)) {
      auto& f = files[current];
      if (w->offset + w->data.size() > capacity) {
        status = proto::kHvErrorDiskFull;
      } else {
        if (f.size() < w->offset + w->data.size()) f.resize(w->offset + w->data.size());
        std::copy(w->data.begin(), w->data.end(), f.begin() + static_cast<std::ptrdiff_t>(w->offset));
      }
    } else if (std::holds_alternative<proto::FcopyComplete>(*req)) {
      completed.push_back(current);
    } else {
      files.erase(current);
      if (uio_) return true;  // status stays E_FAIL
    }
    testing::set_ic_status(p, status);
    return true;
  }

  std::map<std::string, proto::Bytes> files;
  std::string current;
  std::vector<std::string> completed;
  std::size_t capacity = 1 << 20;

 private:
  bool uio_;
};

class FcopyTest : public ::testing::TestWithParam<FcopyGuest> {
 protected:
  static FcopyOptions options() {
    FcopyOptions o;
    o.guest = GetParam();
    return o;
  }
  FcopyTest()
      : dev_(options()),
        daemon_(uio()),
        guest_(dev_, io_, uio() ? LinuxService::fcopy_uio : LinuxService::fcopy) {
    dev_.set_clock(clock_.fn());
    guest_.service_answer = [this](std::span<std::byte> p) { return daemon_.answer(p); };
  }
  bool uio() const { return GetParam() == FcopyGuest::uio_daemon; }
  void open() {
    dev_.on_open(io_);
    ASSERT_EQ(guest_.answer_all(), 1u);
    ASSERT_TRUE(dev_.ready()) << dev_.failure();
  }
  void run() {
    while (guest_.answer_all() != 0) {
    }
  }
  static proto::Bytes pattern(std::size_t n) {
    proto::Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(i * 7 + i / 256));
    return b;
  }

  testing::TestClock clock_;
  testing::FakeChannelIo io_;
  FcopyDevice dev_;
  FakeFcopyDaemon daemon_;
  testing::LinuxIcGuest guest_;
};

TEST_P(FcopyTest, IdentityAndNegotiation) {
  EXPECT_EQ(dev_.identity().class_id, class_ids::fcopy());
  EXPECT_EQ(dev_.identity().instance_id, uio() ? class_ids::fcopy_uio_instance() : class_ids::fcopy());
  open();
  EXPECT_EQ(dev_.framework_version(), (proto::IcVersion{3, 0}));
  EXPECT_EQ(dev_.message_version(), (proto::IcVersion{1, 1}));
}

TEST_P(FcopyTest, OldOnlyOfferIsRefused) {
  dev_.set_offered_versions({{3, 0}, {1, 0}}, {{1, 0}});
  dev_.on_open(io_);
  guest_.answer_all();
  EXPECT_EQ(dev_.state(), IcState::failed);
  // The uio daemon also reports the refusal in the status.
  EXPECT_EQ(dev_.failure().find("HV_E_FAIL") != std::string::npos, uio()) << dev_.failure();
}

TEST_P(FcopyTest, CopyFileSendsFragmentsAndCompletes) {
  open();
  const proto::Bytes data = pattern(15000);
  testing::StatusOutcome done;
  dev_.copy_file("f.bin", "/tmp/dir", proto::kFcopyCreatePath, data, done.capture());
  run();
  ASSERT_TRUE(done.ok()) << done.message();
  EXPECT_EQ(done.calls, 1);
  EXPECT_EQ(daemon_.files["/tmp/dir/f.bin"], data);
  EXPECT_EQ(daemon_.completed, (std::vector<std::string>{"/tmp/dir/f.bin"}));
  // negotiate, START, 3 WRITEs (6144, 6144, 2712), COMPLETE
  ASSERT_EQ(io_.sent.size(), 6u);
  auto start = proto::decode_fcopy_start(proto::decode_ic_message(io_.sent[1].payload)->body);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->file_size, 15000u);
  EXPECT_EQ(start->copy_flags, proto::kFcopyCreatePath);
  auto last = proto::decode_fcopy_write(proto::decode_ic_message(io_.sent[4].payload)->body);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->offset, 12288u);
  EXPECT_EQ(last->data.size(), 2712u);
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "files_copied", "1"));
  EXPECT_TRUE(testing::has_fact(dev_.facts(), "bytes_written", "15000"));
}

TEST_P(FcopyTest, EmptyFileIsStartAndComplete) {
  open();
  testing::StatusOutcome done;
  dev_.copy_file("empty", "/tmp", 0, {}, done.capture());
  run();
  ASSERT_TRUE(done.ok()) << done.message();
  EXPECT_EQ(io_.sent.size(), 3u);
}

TEST_P(FcopyTest, CopyStopsAtTheFirstGuestError) {
  open();
  daemon_.capacity = 10000;
  testing::StatusOutcome done;
  dev_.copy_file("big", "/t", 0, pattern(20000), done.capture());
  run();
  EXPECT_EQ(done.message(),
            "fcopy: guest answered WRITE_TO_FILE of big at offset 6144 with 0x80070070 (HV_ERROR_DISK_FULL)");
  EXPECT_EQ(io_.sent.size(), 4u) << "negotiate, START, two WRITEs; no COMPLETE";
  EXPECT_TRUE(daemon_.completed.empty());

  daemon_.files["/t/exists"] = {};
  testing::StatusOutcome again;
  dev_.copy_file("exists", "/t", 0, pattern(10), again.capture());
  run();
  EXPECT_EQ(again.message(),
            "fcopy: guest answered START_FILE_COPY of exists with 0x80070050 (HV_ERROR_ALREADY_EXISTS)");
  testing::StatusOutcome over;
  dev_.copy_file("exists", "/t", proto::kFcopyOverWrite, pattern(10), over.capture());
  run();
  EXPECT_TRUE(over.ok()) << over.message();
}

TEST_P(FcopyTest, SingleOperationsAndCancel) {
  open();
  testing::Outcome<std::uint32_t> s, w, c;
  dev_.start("x", "/p", 0, 3, s.capture());
  dev_.write(0, pattern(3), w.capture());
  dev_.cancel(c.capture());
  EXPECT_EQ(io_.sent.size(), 2u) << "one operation in flight";
  run();
  ASSERT_TRUE(s.ok() && w.ok() && c.ok());
  EXPECT_EQ(s.value(), proto::kHvSOk);
  EXPECT_EQ(w.value(), proto::kHvSOk);
  // hv_fcopy_daemon deletes the file and answers S_OK; the uio daemon has no CANCEL case.
  EXPECT_EQ(c.value(), uio() ? proto::kHvEFail : proto::kHvSOk);
  EXPECT_EQ(daemon_.files.count("/p/x"), 0u);
}

TEST_P(FcopyTest, OversizedFragmentFailsLocally) {
  open();
  testing::Outcome<std::uint32_t> w;
  dev_.write(0, pattern(proto::kFcopyDataFragment + 1), w.capture());
  ASSERT_TRUE(w.result && !w.ok());
  EXPECT_NE(w.message().find("fcopy_write.size"), std::string::npos) << w.message();
}

TEST_P(FcopyTest, WrongOperationInTheAnswerFails) {
  open();
  guest_.service_answer = [](std::span<std::byte> p) {
    proto::store_u32(p, proto::kIcMessageHeaderSize, 2);
    testing::set_ic_status(p, 0);
    return true;
  };
  testing::Outcome<std::uint32_t> s;
  dev_.start("x", "/p", 0, 0, s.capture());
  run();
  EXPECT_EQ(s.message(), "fcopy: guest answered START_FILE_COPY with operation 2");
}

TEST_P(FcopyTest, TimeoutAndCloseDuringACopy) {
  open();
  guest_.service_answer = [](std::span<std::byte>) { return false; };
  testing::StatusOutcome a;
  dev_.copy_file("a", "/p", 0, pattern(100), a.capture());
  run();
  clock_.t += 35s;
  dev_.on_tick(clock_.t);
  EXPECT_EQ(a.message(), "copy of a failed: timeout: fcopy did not answer START_FILE_COPY within 35000 ms");
  guest_.service_answer = [this](std::span<std::byte> p) { return daemon_.answer(p); };
  testing::StatusOutcome b;
  dev_.copy_file("b", "/p", 0, pattern(100), b.capture());
  ASSERT_TRUE(guest_.answer_next());  // START answered, WRITE in flight
  dev_.on_close("rescind");
  EXPECT_EQ(b.message(), "copy of b failed: fcopy: channel closed: rescind");
  EXPECT_EQ(b.calls, 1);
}

INSTANTIATE_TEST_SUITE_P(BothGuests, FcopyTest,
                         ::testing::Values(FcopyGuest::kernel_driver, FcopyGuest::uio_daemon),
                         [](const auto& param_info) {
                           return param_info.param == FcopyGuest::uio_daemon ? std::string("Uio612")
                                                                             : std::string("Kernel61");
                         });

}  // namespace
}  // namespace vmbh::host
