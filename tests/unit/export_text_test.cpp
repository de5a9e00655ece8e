#include <gtest/gtest.h>

#include "profile_builders.h"

#include "export/text_table.h"

namespace scorch {
namespace {

/// 10 samples over 2 processes: main->fib->fib->fib (recursion) 6, main->write->sys_write[k] 3, main 1.
Profile recursive_profile() {
  Profile profile;
  profile.stacks.push_back(
      make_stack(100, "app", {{"main", false}, {"fib", false}, {"fib", false}, {"fib", false}}, 6));
  profile.stacks.push_back(make_stack(100, "app", {{"main", false}, {"write", false}, {"sys_write", true}}, 3));
  profile.stacks.push_back(make_stack(200, "app", {{"main", false}}, 1));
  return profile;
}

const FunctionStat* find_stat(const std::vector<FunctionStat>& stats, const std::string& name) {
  for (const FunctionStat& s : stats) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

TEST(ExportText, SelfAndTotalCountRecursionOncePerStack) {
  const std::vector<FunctionStat> stats = function_stats(recursive_profile());
  ASSERT_EQ(stats.size(), 4u);

  const FunctionStat* fib = find_stat(stats, "fib");
  ASSERT_NE(fib, nullptr);
  EXPECT_EQ(fib->self, 6u);
  EXPECT_EQ(fib->total, 6u);  // not 18

  const FunctionStat* main = find_stat(stats, "main");
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->self, 1u);
  EXPECT_EQ(main->total, 10u);

  const FunctionStat* write = find_stat(stats, "write");
  ASSERT_NE(write, nullptr);
  EXPECT_EQ(write->self, 0u);
  EXPECT_EQ(write->total, 3u);

  const FunctionStat* sys_write = find_stat(stats, "sys_write");
  ASSERT_NE(sys_write, nullptr);
  EXPECT_TRUE(sys_write->kernel);
  EXPECT_EQ(sys_write->self, 3u);
  EXPECT_EQ(sys_write->total, 3u);
}

TEST(ExportText, SortedBySelfThenTotalThenName) {
  const std::vector<FunctionStat> stats = function_stats(recursive_profile());
  ASSERT_EQ(stats.size(), 4u);
  EXPECT_EQ(stats[0].name, "fib");        // self 6
  EXPECT_EQ(stats[1].name, "sys_write");  // self 3
  EXPECT_EQ(stats[2].name, "main");       // self 1
  EXPECT_EQ(stats[3].name, "write");      // self 0

  Profile ties;
  ties.stacks.push_back(make_stack(1, "a", {{"zeta", false}}, 2));
  ties.stacks.push_back(make_stack(1, "a", {{"outer", false}, {"alpha", false}}, 2));
  ties.stacks.push_back(make_stack(1, "a", {{"beta", false}}, 2));
  const std::vector<FunctionStat> tied = function_stats(ties);
  ASSERT_EQ(tied.size(), 4u);
  EXPECT_EQ(tied[0].name, "alpha");
  EXPECT_EQ(tied[1].name, "beta");
  EXPECT_EQ(tied[2].name, "zeta");
  EXPECT_EQ(tied[3].name, "outer");
}

TEST(ExportText, SameNameUserAndKernelAreSeparate) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "a", {{"f", false}}, 1));
  profile.stacks.push_back(make_stack(1, "a", {{"f", true}}, 2));
  const std::vector<FunctionStat> stats = function_stats(profile);
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_TRUE(stats[0].kernel);
  EXPECT_EQ(stats[0].self, 2u);
  EXPECT_FALSE(stats[1].kernel);
}

TEST(ExportText, TopTableLayoutAndPercentages) {
  const std::string table = render_top_table(recursive_profile(), 10);
  const std::string expected =
      "Total: 10 samples from 2 processes\n"
      " SELF%  TOTAL%     SAMPLES  FUNCTION\n"
      "  60.0    60.0           6  fib\n"
      "  30.0    30.0           3  sys_write [k]\n"
      "  10.0   100.0           1  main\n"
      "   0.0    30.0           0  write\n";
  EXPECT_EQ(table, expected);
}

TEST(ExportText, TopTableLimitsRows) {
  const std::string table = render_top_table(recursive_profile(), 2);
  EXPECT_NE(table.find("fib"), std::string::npos);
  EXPECT_NE(table.find("sys_write [k]"), std::string::npos);
  EXPECT_EQ(table.find("  main\n"), std::string::npos);
  EXPECT_NE(table.find("(2 more functions)"), std::string::npos);
}

TEST(ExportText, PercentagesRoundToOneDecimal) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "a", {{"one", false}}, 1));
  profile.stacks.push_back(make_stack(1, "a", {{"two", false}}, 2));
  const std::string table = render_top_table(profile, 0);
  EXPECT_NE(table.find("  66.7    66.7           2  two\n"), std::string::npos) << table;
  EXPECT_NE(table.find("  33.3    33.3           1  one\n"), std::string::npos) << table;
  EXPECT_NE(table.find("from 1 process\n"), std::string::npos) << table;
}

TEST(ExportText, EmptyProfileSaysNoSamples) { EXPECT_EQ(render_top_table(Profile{}, 10), "No samples recorded.\n"); }

TEST(ExportText, DropsLineOnlyWhenSomethingWasDropped) {
  Profile profile = recursive_profile();
  profile.drops.samples = 1000;  // samples seen is not a drop
  EXPECT_EQ(render_top_table(profile, 10).find("Dropped"), std::string::npos);

  profile.drops.add("stack_collisions", 4);
  profile.drops.add("lost_stacks", 2);
  const std::string table = render_top_table(profile, 10);
  EXPECT_NE(table.find("Dropped: 4 stack collisions, 2 lost stacks (of 1000 samples seen)\n"), std::string::npos)
      << table;
  EXPECT_EQ(table.find("map full"), std::string::npos);

  Profile empty;
  empty.drops.add("map_full", 7);
  EXPECT_EQ(render_top_table(empty, 10), "No samples recorded.\nDropped: 7 map full\n");
}

TEST(ExportText, ControlCharactersInNamesAreNeutralised) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "a", {{"evil\x1b[2J", false}}, 1));
  const std::string table = render_top_table(profile, 10);
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_NE(table.find("evil?[2J"), std::string::npos);
}

TEST(ExportText, StackValuesTableListsEveryValueLeafFirst) {
  Profile p;
  p.value_names = {"calls", "bytes", "live_objects"};
  auto a = make_stack(1, "srv", {{"main", false}, {"alloc_a", false}, {"malloc", false}}, 640);
  a.values = {10, 640, 0};
  auto d = make_stack(1, "srv", {{"main", false}, {"leak_d", false}, {"malloc", false}}, 1000);
  d.values = {1, 1000, 1};
  p.stacks = {a, d};
  const std::string table = render_stack_values_table(p, 10, 2);
  EXPECT_NE(table.find("Total: 11 calls 1640 bytes 1 live_objects\n"), std::string::npos) << table;
  EXPECT_NE(table.find("LIVE OBJECTS"), std::string::npos) << table;
  // Largest count first; two frames shown, then an ellipsis.
  size_t leak = table.find("malloc <- leak_d <- ..."), alloc = table.find("malloc <- alloc_a <- ...");
  ASSERT_NE(leak, std::string::npos) << table;
  ASSERT_NE(alloc, std::string::npos) << table;
  EXPECT_LT(leak, alloc);
  EXPECT_EQ(render_stack_values_table(Profile{}, 10), "No allocations recorded.\n");
}

}  // namespace
}  // namespace scorch
