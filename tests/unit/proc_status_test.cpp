// The one parser of /proc/PID/status's credential lines: what it takes, and every way a line can
// be missing or malformed. The callers' own needs are tested with them (cred_watch, safe_file, access).
#include "common/proc_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace scorch {
namespace {

// The lines a status has, with the credential lines in the kernel's own layout.
constexpr const char* kStatus =
    "Name:\tpasswd\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\n"
    "Uid:\t1000\t0\t0\t1000\nGid:\t1000\t1001\t1002\t1003\nFDSize:\t64\nGroups:\t24 1000 \n"
    "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";

// kStatus with one line replaced (the line that starts with name + ':'), or dropped when line is empty.
std::string with_line(const std::string& name, const std::string& line) {
  std::string text = kStatus;
  const size_t at = text.find(name + ":");
  const size_t end = text.find('\n', at) + 1;
  return text.replace(at, end - at, line.empty() ? "" : line + "\n");
}

TEST(ProcStatus, ParsesTheCredentialLines) {
  ProcStatus s = parse_proc_status(kStatus);
  EXPECT_EQ(s.uid, (ProcStatus::Ids{1000, 0, 0, 1000}));
  EXPECT_EQ(s.gid, (ProcStatus::Ids{1000, 1001, 1002, 1003}));
  EXPECT_EQ(s.groups, (std::vector<uint32_t>{24, 1000}));
  EXPECT_EQ(s.cap_permitted, 0x1ffffffffffull);
  // Blanks of either kind, no newline at the end, the largest values that fit.
  s = parse_proc_status("Uid: 4294967295 1\t2  3\nGroups:\nCapPrm:\tffffffffffffffff");
  EXPECT_EQ(s.uid, (ProcStatus::Ids{4294967295u, 1, 2, 3}));
  EXPECT_EQ(s.groups, std::vector<uint32_t>{}) << "an empty Groups line is no groups, not a missing line";
  EXPECT_EQ(s.cap_permitted, ~0ull);
}

TEST(ProcStatus, MissingLinesAreNullopt) {
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Gid", "")).gid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Groups", "")).groups.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("CapPrm", "")).cap_permitted.has_value());
  ProcStatus none = parse_proc_status("");
  EXPECT_FALSE(none.uid || none.gid || none.groups || none.cap_permitted);
  // Only the whole name counts.
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uidx:\t1\t1\t1\t1")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "XUid:\t1\t1\t1\t1")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uid\t1\t1\t1\t1")).uid.has_value());
  // A missing line spoils no other.
  EXPECT_EQ(parse_proc_status(with_line("Uid", "")).gid, (ProcStatus::Ids{1000, 1001, 1002, 1003}));
}

TEST(ProcStatus, TooFewOrTooManyIdsAreMalformed) {
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uid:")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uid:\t1\t1")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uid:\t1\t1\t1")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Gid", "Gid:\t1\t1\t1\t1\t1")).gid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("CapPrm", "CapPrm:")).cap_permitted.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("CapPrm", "CapPrm:\t0 0")).cap_permitted.has_value());
}

TEST(ProcStatus, NonNumbersAreMalformed) {
  for (const char* bad : {"x", "1x", "-1", "+1", "0x1", "1.0", "1,2"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_proc_status(with_line("Uid", std::string("Uid:\t1\t") + bad + "\t1\t1")).uid.has_value());
    EXPECT_FALSE(parse_proc_status(with_line("Groups", std::string("Groups:\t4 ") + bad)).groups.has_value());
  }
  EXPECT_FALSE(parse_proc_status(with_line("CapPrm", "CapPrm:\tzz")).cap_permitted.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("CapPrm", "CapPrm:\t0x1f")).cap_permitted.has_value());
}

TEST(ProcStatus, NumbersTooLargeAreMalformed) {
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uid:\t4294967296\t1\t1\t1")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Uid", "Uid:\t99999999999\t1\t1\t1")).uid.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("Groups", "Groups:\t4294967296")).groups.has_value());
  EXPECT_FALSE(parse_proc_status(with_line("CapPrm", "CapPrm:\t10000000000000000")).cap_permitted.has_value());
}

TEST(ProcStatus, VeryLongLines) {
  // The most groups a process can have (NGROUPS_MAX), each as long as a gid gets.
  std::string groups = "Groups:\t";
  for (int i = 0; i < 65536; ++i) groups += "4294967295 ";
  ProcStatus s = parse_proc_status(with_line("Groups", groups));
  ASSERT_TRUE(s.groups.has_value());
  EXPECT_EQ(s.groups->size(), 65536u);
  EXPECT_EQ(s.uid, (ProcStatus::Ids{1000, 0, 0, 1000})) << "the lines after a long one still count";
  // A number of a million digits, and a million blanks before the ids.
  EXPECT_FALSE(
      parse_proc_status(with_line("Uid", "Uid:\t" + std::string(1'000'000, '7') + "\t1\t1\t1")).uid.has_value());
  EXPECT_EQ(parse_proc_status(with_line("Uid", "Uid:" + std::string(1'000'000, ' ') + "1 2 3 4")).uid,
            (ProcStatus::Ids{1, 2, 3, 4}));
  // A process's name is escaped by the kernel, but a long one before the Uid line is still only a name.
  EXPECT_EQ(parse_proc_status("Name:\t" + std::string(1'000'000, 'a') + " Uid: 0 0 0 0\n" + kStatus).uid,
            (ProcStatus::Ids{1000, 0, 0, 1000}));
}

TEST(ProcStatus, TheFirstLineOfANameCounts) {
  // A second Uid line (no kernel writes one) changes nothing, even after a malformed first.
  EXPECT_EQ(parse_proc_status(std::string(kStatus) + "Uid:\t0\t0\t0\t0\n").uid, (ProcStatus::Ids{1000, 0, 0, 1000}));
  EXPECT_FALSE(parse_proc_status("Uid:\tx\nUid:\t0\t0\t0\t0\n").uid.has_value());
}

TEST(ProcStatus, ReadsThisProcessAndNotAGoneOne) {
  auto s = read_proc_status(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_TRUE(s->uid && s->gid && s->groups && s->cap_permitted);
  EXPECT_EQ((*s->uid)[0], ::getuid());
  EXPECT_EQ((*s->uid)[1], ::geteuid());
  EXPECT_EQ((*s->gid)[0], ::getgid());
  EXPECT_EQ((*s->gid)[1], ::getegid());
  auto gone = read_proc_status(4'000'000'000u);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().err, ENOENT) << gone.error().message();
}

}  // namespace
}  // namespace scorch
