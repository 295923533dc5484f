// `vmbh serve` options and the QEMU command line they produce: scratch disks
// and NICs.
#include "serve_options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "qemu_command.h"

namespace vmbh::cli {
namespace {

class ServeOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmbh-opts-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::ofstream(dir_ + "/initramfs.cpio") << "x";
    std::ofstream(dir_ + "/qemu") << "x";
    std::ofstream(dir_ + "/a.img") << "disk";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  host::Result<ServeOptions> parse(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--image",      dir_,        "--qemu",
                                     dir_ + "/qemu", "--control", dir_ + "/c.sock"};
    args.insert(args.end(), extra.begin(), extra.end());
    return parse_serve_options(args);
  }
  std::string dir_;
};

TEST_F(ServeOptionsTest, DisksKeepTheirOrderAndMustExist) {
  auto o = parse({"--disk", dir_ + "/a.img", "--disk", dir_ + "/a.img"});
  ASSERT_TRUE(o) << o.message();
  EXPECT_EQ(o->disks, (std::vector<std::string>{dir_ + "/a.img", dir_ + "/a.img"}));

  auto missing = parse({"--disk", dir_ + "/nope.img"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.message(), "serve: --disk " + dir_ + "/nope.img: no such file");
  auto dir = parse({"--disk", dir_});
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.message(), "serve: --disk " + dir_ + ": not a file or block device");
}

TEST_F(ServeOptionsTest, RelativeDiskPathsBecomeAbsolute) {
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  auto o = parse({"--disk", "a.img"});
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(o) << o.message();
  EXPECT_EQ(o->disks, std::vector<std::string>{dir_ + "/a.img"});
}

TEST_F(ServeOptionsTest, NicsNeedUnicastMacs) {
  auto o = parse({"--nic", "52:54:00:AB:cd:01", "--nic", "02:00:00:00:00:02"});
  ASSERT_TRUE(o) << o.message();
  EXPECT_EQ(o->nics, (std::vector<std::string>{"52:54:00:ab:cd:01", "02:00:00:00:00:02"}));
  for (const std::string bad :
       {"52:54:00:ab:cd", "52:54:00:ab:cd:01:02", "52-54-00-ab-cd-01", "52:54:00:ab:cd:0g",
        "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "525400abcd01", ""}) {
    auto r = parse({"--nic", bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.message(),
              "serve: --nic " + bad +
                  " is not a unicast MAC address (six hex pairs with ':', e.g. 52:54:00:12:34:56)");
  }
}

// Finds `flag` followed by `value` in argv.
bool has_pair(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1] == value) return true;
  }
  return false;
}

TEST(QemuCommand, DisksAreRawWritebackVirtioBlkInOrderWithCommasEscaped) {
  QemuConfig c;
  c.disks = {"/tmp/one.img", "/tmp/a,b.img"};
  auto argv = qemu_argv(c);
  EXPECT_TRUE(has_pair(argv, "-drive", "file=/tmp/one.img,format=raw,if=none,id=disk0,cache=writeback"));
  EXPECT_TRUE(has_pair(argv, "-drive", "file=/tmp/a,,b.img,format=raw,if=none,id=disk1,cache=writeback"));
  auto d0 = std::find(argv.begin(), argv.end(), "virtio-blk-pci,drive=disk0");
  auto d1 = std::find(argv.begin(), argv.end(), "virtio-blk-pci,drive=disk1");
  ASSERT_NE(d0, argv.end());
  ASSERT_NE(d1, argv.end());
  EXPECT_LT(d0, d1) << "PCI slots follow the command line: vda is the first --disk";
}

TEST(QemuCommand, EachNicIsAVirtioNetOnAHubPort) {
  QemuConfig c;
  c.nics = {"52:54:00:00:00:01", "52:54:00:00:00:02"};
  auto argv = qemu_argv(c);
  EXPECT_TRUE(has_pair(argv, "-netdev", "hubport,id=net0,hubid=0"));
  EXPECT_TRUE(has_pair(argv, "-netdev", "hubport,id=net1,hubid=0"));
  EXPECT_TRUE(has_pair(argv, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01"));
  EXPECT_TRUE(has_pair(argv, "-device", "virtio-net-pci,netdev=net1,mac=52:54:00:00:00:02"));
  QemuConfig none;
  auto plain = qemu_argv(none);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), "-netdev"), 0);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), "-drive"), 0);
}

}  // namespace
}  // namespace vmbh::cli
