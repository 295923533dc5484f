// QemuProcess's console: marker search from an offset (a rebooted guest's
// ready marker must come from the new boot).
#include "qemu_process.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <cstdlib>
#include <string>

namespace vmbh::cli {
namespace {

// Drains until the child closes its output.
void drain_all(QemuProcess& p) {
  for (int i = 0; i < 500 && p.console_fd() >= 0; ++i) {
    pollfd f{p.console_fd(), POLLIN, 0};
    poll(&f, 1, 10);
    p.drain_console();
  }
  ASSERT_LT(p.console_fd(), 0) << "the child did not close its console";
}

TEST(QemuProcess, ConsoleMarkersAreSearchedFromAnOffset) {
  char dir[] = "/tmp/vmbh-qp-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/console.log";
  QemuProcess p;
  ASSERT_TRUE(p.start({"/bin/sh", "-c", "echo boot one; echo VMBH-READY 6.1; echo rebooting"}, log));
  drain_all(p);
  EXPECT_TRUE(p.console_saw("VMBH-READY"));
  const std::uint64_t mark = p.console_bytes();
  EXPECT_EQ(mark, std::string("boot one\nVMBH-READY 6.1\nrebooting\n").size());
  EXPECT_FALSE(p.console_saw("VMBH-READY", mark)) << "nothing after the mark yet";
  EXPECT_FALSE(p.console_saw("VMBH-READY", mark - 12)) << "the marker starts before the offset";
  EXPECT_TRUE(p.console_saw("rebooting", mark - 10));
  EXPECT_TRUE(p.reap() || (p.stop(), true));
  std::system(("rm -rf " + std::string(dir)).c_str());
}

}  // namespace
}  // namespace vmbh::cli
