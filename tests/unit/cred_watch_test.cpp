// The credentials a non-root user's tracing is checked against, as read from /proc/PID/status.
#include "probes/cred_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace scorch {
namespace {

// A set-user-ID-root exec by uid 1000 (what /proc/PID/status shows after it).
constexpr const char* kSetuidStatus =
    "Name:\tpasswd\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\n"
    "Uid:\t1000\t0\t0\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t24 1000 \n"
    "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";

TEST(CredWatch, TakesStatusInStructCredOrder) {
  auto c = creds_from_status(parse_proc_status(kSetuidStatus));
  ASSERT_TRUE(c.has_value());
  // uid, gid, suid, sgid, euid, egid: /proc lists real, effective, saved, fs.
  EXPECT_EQ(c->ids, (std::array<uint32_t, 6>{1000, 1000, 0, 1000, 0, 1000}));
  EXPECT_EQ(c->cap_permitted, 0x1ffffffffffull);
}

// How each line can be malformed is proc_status_test's; here, which lines the watch needs.
TEST(CredWatch, NeedsUidGidAndCapPrm) {
  EXPECT_FALSE(creds_from_status(parse_proc_status("Name:\tx\nUid:\t1\t1\t1\t1\nCapPrm:\t0\n")).has_value());
  EXPECT_FALSE(creds_from_status(parse_proc_status("Gid:\t1\t1\t1\t1\nCapPrm:\t0\n")).has_value());
  EXPECT_FALSE(creds_from_status(parse_proc_status("Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n")).has_value());
  EXPECT_TRUE(creds_from_status(parse_proc_status("Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\nCapPrm:\t0\n")).has_value())
      << "no Groups line is needed";
}

TEST(CredWatch, DescribesWhatChangedEffectiveFirst) {
  ProcessCreds was;
  was.ids = {1000, 1000, 1000, 1000, 1000, 1000};
  auto now = *creds_from_status(parse_proc_status(kSetuidStatus));
  EXPECT_EQ(describe_cred_change(was, now),
            "effective uid 1000 -> 0, saved uid 1000 -> 0, it gained or lost capabilities");
  EXPECT_EQ(describe_cred_change(was, was), "its credentials changed");
}

TEST(CredWatch, ReadsThisProcess) {
  auto c = read_process_creds(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->ids[0], ::getuid());
  EXPECT_EQ(c->ids[4], ::geteuid());
  EXPECT_EQ(c->ids[1], ::getgid());
  EXPECT_FALSE(read_process_creds(4000000).has_value());
}

}  // namespace
}  // namespace scorch
