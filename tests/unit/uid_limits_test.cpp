// Per-user limit accounting (connections, sessions, session memory): caps per user and for all
// users together, root never counted.
#include <gtest/gtest.h>

#include "common/uid_limits.h"
#include "server/access.h"

namespace scorch {
namespace {

using V = UidLimits::Verdict;

TEST(UidLimits, PerUserCapThenReleaseFreesASlot) {
  UidLimits l(3, 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l.try_acquire(1000), V::kOk);
  EXPECT_EQ(l.try_acquire(1000), V::kUserLimit);
  EXPECT_EQ(l.held(1000), 3u);
  EXPECT_EQ(l.try_acquire(1001), V::kOk) << "another user has its own share";
  l.release(1000);
  EXPECT_EQ(l.try_acquire(1000), V::kOk);
  EXPECT_EQ(l.total(), 4u);
}

TEST(UidLimits, AllUsersCapAndRootAlwaysGetsThrough) {
  UidLimits l(10, 4);
  EXPECT_EQ(l.try_acquire(1, 2), V::kOk);
  EXPECT_EQ(l.try_acquire(2, 2), V::kOk);
  EXPECT_EQ(l.try_acquire(3), V::kAllUsersLimit);
  EXPECT_EQ(l.held(3), 0u) << "a refusal holds nothing";
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(l.try_acquire(0), V::kOk);
  EXPECT_EQ(l.held(0), 0u);
  EXPECT_EQ(l.total(), 4u) << "root is never counted";
}

TEST(UidLimits, BytesAgainstACapAndNoReleaseBeyondWhatIsHeld) {
  UidLimits mem(1000, 0);
  EXPECT_EQ(mem.try_acquire(7, 600), V::kOk);
  EXPECT_EQ(mem.try_acquire(7, 401), V::kUserLimit);
  EXPECT_EQ(mem.try_acquire(7, 400), V::kOk);
  EXPECT_EQ(mem.held(7), 1000u);
  mem.release(7, 5000);  // a double release must not wrap around
  EXPECT_EQ(mem.held(7), 0u);
  EXPECT_EQ(mem.total(), 0u);
  mem.release(8, 1);
  EXPECT_EQ(mem.total(), 0u);
}

TEST(UidLimits, ZeroMeansNoCap) {
  UidLimits l(0, 0);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(l.try_acquire(5), V::kOk);
  EXPECT_EQ(l.held(5), 10000u);
}

// /proc/PID/stat: state and PF_KTHREAD, with a command that holds spaces and parentheses.
TEST(ProcessState, ParsesStateAndKernelThreadFlag) {
  auto k = parse_process_state("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->state, 'S');
  EXPECT_TRUE(k->kernel_thread);
  auto u = parse_process_state("4242 (a (b) c) Z 1 4242 4242 34816 4242 4194560 120 0 0 0 0 0 0 0 20 0 1 0 9");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->state, 'Z');
  EXPECT_FALSE(u->kernel_thread);
  EXPECT_FALSE(parse_process_state("12 (trunc").has_value());
  EXPECT_FALSE(parse_process_state("12 (x) R 1 2").has_value());
}

TEST(ProcessState, CheckTargetsRefusesZombiesAndKernelThreadsWhereUserSpaceIsNeeded) {
  StateLookup lookup = [](uint32_t pid) -> std::optional<ProcessState> {
    if (pid == 2) return ProcessState{'S', true};
    if (pid == 50) return ProcessState{'Z', false};
    if (pid == 60) return ProcessState{'R', false};
    return std::nullopt;
  };
  EXPECT_TRUE(check_targets({60}, true, "trace allocations of", lookup).ok());
  EXPECT_TRUE(check_targets({2}, false, "profile", lookup).ok()) << "on/off-CPU of a kernel thread is allowed";
  auto k = check_targets({60, 2}, true, "trace allocations of", lookup);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().message(),
            "failed to trace allocations of PID 2: PID 2 is a kernel thread: it has no user-space allocator");
  auto z = check_targets({50}, false, "profile", lookup);
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.error().err, ESRCH);
  EXPECT_NE(z.error().message().find("failed to profile PID 50: no such process (it has exited: a zombie"),
            std::string::npos)
      << z.error().message();
  EXPECT_FALSE(check_targets({77}, false, "profile", lookup).ok());
}

}  // namespace
}  // namespace scorch
