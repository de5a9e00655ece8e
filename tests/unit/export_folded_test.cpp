#include <gtest/gtest.h>

#include "profile_builders.h"

#include "export/folded.h"

namespace scorch {
namespace {

TEST(ExportFolded, MergesSameCommAndFramesAcrossPids) {
  Profile profile;
  profile.stacks.push_back(make_stack(10, "app", {{"main", false}, {"work", false}}, 3));
  profile.stacks.push_back(make_stack(11, "app", {{"main", false}, {"work", false}}, 4));
  profile.stacks.push_back(make_stack(12, "other", {{"main", false}, {"work", false}}, 1));
  EXPECT_EQ(render_folded(profile), "app;main;work 7\nother;main;work 1\n");
}

TEST(ExportFolded, SortsLinesLexicographically) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "b", {{"x", false}}, 1));
  profile.stacks.push_back(make_stack(1, "a", {{"z", false}}, 2));
  profile.stacks.push_back(make_stack(1, "a", {{"y", false}, {"q", false}}, 5));
  profile.stacks.push_back(make_stack(1, "a", {}, 9));
  EXPECT_EQ(render_folded(profile), "a 9\na;y;q 5\na;z 2\nb;x 1\n");
}

TEST(ExportFolded, KernelFramesGetSuffix) {
  Profile profile;
  profile.stacks.push_back(
      make_stack(1, "app", {{"main", false}, {"entry_SYSCALL_64", true}, {"do_syscall_64", true}}, 2));
  EXPECT_EQ(render_folded(profile), "app;main;entry_SYSCALL_64_[k];do_syscall_64_[k] 2\n");
}

TEST(ExportFolded, EscapesSeparatorsInNames) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "my;app", {{"a;b", false}, {"line\nbreak\r", false}}, 1));
  EXPECT_EQ(render_folded(profile), "my:app;a:b;line break  1\n");
}

TEST(ExportFolded, SkipsZeroCounts) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "app", {{"idle", false}}, 0));
  profile.stacks.push_back(make_stack(1, "app", {{"busy", false}}, 1));
  EXPECT_EQ(render_folded(profile), "app;busy 1\n");
}

TEST(ExportFolded, EmptyProfileIsEmptyText) { EXPECT_EQ(render_folded(Profile{}), ""); }

TEST(ExportFolded, ParsesFramesCommAndKernelSuffix) {
  auto parsed = parse_folded("app;main;read_[k] 12\nidle 3\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->stacks.size(), 2u);
  const StackCount& first = parsed->stacks[0];
  EXPECT_EQ(first.pid, 0u);
  EXPECT_EQ(first.comm, "app");
  EXPECT_EQ(first.count, 12u);
  ASSERT_EQ(first.frames.size(), 2u);
  EXPECT_EQ(first.frames[0].name, "main");
  EXPECT_FALSE(first.frames[0].kernel);
  EXPECT_EQ(first.frames[1].name, "read");
  EXPECT_TRUE(first.frames[1].kernel);
  EXPECT_EQ(parsed->stacks[1].comm, "idle");
  EXPECT_TRUE(parsed->stacks[1].frames.empty());
  EXPECT_EQ(parsed->stacks[1].count, 3u);
}

TEST(ExportFolded, ParseAcceptsCrLfBlankLinesAndSpacesInFrames) {
  auto parsed = parse_folded("\r\napp;operator new(unsigned long) 5\r\n\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->stacks.size(), 1u);
  ASSERT_EQ(parsed->stacks[0].frames.size(), 1u);
  EXPECT_EQ(parsed->stacks[0].frames[0].name, "operator new(unsigned long)");
  EXPECT_EQ(parsed->stacks[0].count, 5u);
}

TEST(ExportFolded, RoundTripIsStable) {
  Profile profile;
  profile.stacks.push_back(make_stack(5, "svc", {{"main", false}, {"poll", false}, {"do_sys_poll", true}}, 40));
  profile.stacks.push_back(make_stack(6, "svc", {{"main", false}, {"poll", false}, {"do_sys_poll", true}}, 2));
  profile.stacks.push_back(make_stack(7, "svc", {{"main", false}, {"std::vector<int>::push_back", false}}, 7));
  profile.stacks.push_back(make_stack(8, "bad;name", {{"x;y", false}}, 1));
  profile.stacks.push_back(make_stack(9, "kworker/0:1", {}, 3));

  const std::string text = render_folded(profile);
  auto parsed = parse_folded(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(render_folded(*parsed), text);

  // Kernel flags and merged counts survive the trip.
  ASSERT_EQ(parsed->stacks.size(), 4u);
  const StackCount* poll = nullptr;
  for (const StackCount& s : parsed->stacks) {
    if (s.frames.size() == 3) poll = &s;
  }
  ASSERT_NE(poll, nullptr);
  EXPECT_EQ(poll->count, 42u);
  EXPECT_FALSE(poll->frames[1].kernel);
  EXPECT_TRUE(poll->frames[2].kernel);
  EXPECT_EQ(poll->frames[2].name, "do_sys_poll");
}

TEST(ExportFolded, RejectsMissingCountWithLineNumber) {
  auto parsed = parse_folded("app;main 1\napp;main\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("line 2"), std::string::npos) << parsed.error().message();
}

TEST(ExportFolded, RejectsNonNumericCountWithLineNumber) {
  auto parsed = parse_folded("a;b 1\n\nc;d 2\ne;f 12x\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("line 4"), std::string::npos) << parsed.error().message();
  EXPECT_NE(parsed.error().message().find("12x"), std::string::npos) << parsed.error().message();
}

TEST(ExportFolded, RejectsNegativeAndOverflowingCounts) {
  auto negative = parse_folded("a;b -3\n");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message().find("line 1"), std::string::npos);

  auto huge = parse_folded("a;b 1\na;b 99999999999999999999999\n");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message().find("line 2"), std::string::npos);
}

}  // namespace
}  // namespace scorch
