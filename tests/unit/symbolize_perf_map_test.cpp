#include <gtest/gtest.h>
#include <unistd.h>

#include "symbolize/perf_map.h"

namespace scorch {
namespace {

TEST(PerfMap, ParsesNodeLinesAndFindsAddresses) {
  // Lines as Node 20 --perf-basic-prof writes them (names hold spaces and colons).
  auto e = parse_perf_map(
      "3b3a5e44a0c0 15c JS:*hotFunction /tmp/hot.js:4:21\n"
      "3b3a5e44a300 80 Builtin:ArgumentsAdaptorTrampoline\n"
      "garbage line\n"
      "zz 10 bad start\n"
      "3b3a5e44a400 0 zero size is skipped\n"
      "3b3a5e44a000 c0 LazyCompile:~main /tmp/hot.js:1\r\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].name, "LazyCompile:~main /tmp/hot.js:1");
  const PerfMapEntry* hot = find_perf_map_entry(e, 0x3b3a5e44a0c0 + 0x15b);
  ASSERT_NE(hot, nullptr);
  EXPECT_EQ(hot->name, "JS:*hotFunction /tmp/hot.js:4:21");
  EXPECT_EQ(find_perf_map_entry(e, 0x3b3a5e44a0c0 + 0x15c), nullptr) << "one past the end";
  EXPECT_EQ(find_perf_map_entry(e, 0x1000), nullptr);
}

TEST(PerfMap, ALaterEntryAtTheSameAddressWins) {
  auto e = parse_perf_map("1000 10 old\n2000 10 other\n1000 20 new\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(find_perf_map_entry(e, 0x1018)->name, "new");
}

TEST(PerfMap, NamespacePidOfThisProcessIsItsOwn) {
  // The test runs in the initial pid namespace: NStgid holds one value, the pid.
  EXPECT_EQ(namespace_pid(static_cast<uint32_t>(::getpid())), static_cast<uint32_t>(::getpid()));
}

}  // namespace
}  // namespace scorch
