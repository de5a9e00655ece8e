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

TEST(CredWatch, ParsesStatusInStructCredOrder) {
  auto c = parse_process_creds(kSetuidStatus);
  ASSERT_TRUE(c.has_value());
  // uid, gid, suid, sgid, euid, egid: /proc lists real, effective, saved, fs.
  EXPECT_EQ(c->ids, (std::array<uint32_t, 6>{1000, 1000, 0, 1000, 0, 1000}));
  EXPECT_EQ(c->cap_permitted, 0x1ffffffffffull);
}

TEST(CredWatch, MissingOrMalformedLinesAreNoCredentials) {
  EXPECT_FALSE(parse_process_creds("Name:\tx\nUid:\t1\t1\t1\t1\nCapPrm:\t0\n").has_value());   // no Gid
  EXPECT_FALSE(parse_process_creds("Uid:\t1\t1\nGid:\t1\t1\t1\t1\nCapPrm:\t0\n").has_value());  // short Uid
  EXPECT_FALSE(parse_process_creds("Uid:\t1\tx\t1\t1\nGid:\t1\t1\t1\t1\nCapPrm:\t0\n").has_value());
  EXPECT_FALSE(parse_process_creds("Uid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\nCapPrm:\tzz\n").has_value());
  EXPECT_FALSE(parse_process_creds("Uid:\t99999999999\t1\t1\t1\nGid:\t1\t1\t1\t1\nCapPrm:\t0\n").has_value());
  // "Uidx:" is not "Uid:".
  EXPECT_FALSE(parse_process_creds("Uidx:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\nCapPrm:\t0\n").has_value());
}

TEST(CredWatch, DescribesWhatChangedEffectiveFirst) {
  ProcessCreds was;
  was.ids = {1000, 1000, 1000, 1000, 1000, 1000};
  auto now = *parse_process_creds(kSetuidStatus);
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
