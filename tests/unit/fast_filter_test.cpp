#include <gtest/gtest.h>

#include <random>

#include "probes/fast_filter.h"

namespace scorch {
namespace {

TEST(FastFilter, EveryKeyIsFoundAndNoOther) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::pair<uint32_t, uint64_t>> keys;
    size_t n = rng() % (SCORCH_FAST_SLOTS / 2 + 1);
    for (size_t i = 0; i < n; ++i) {
      uint32_t tgid = (rng() % 3 == 0) ? 0xffffffffu : 1 + rng() % 4000000;
      uint64_t period = 1'000'000'000ull / (1 + rng() % 10000);
      keys.emplace_back(tgid, period);
    }
    FastFilterTable table;
    if (!build_fast_filter(keys, table)) continue;  // the hash map serves then; checked below
    for (const auto& [tgid, period] : keys) EXPECT_TRUE(fast_filter_has(table, tgid, static_cast<uint32_t>(period)));
    for (int probe = 0; probe < 200; ++probe) {
      uint32_t tgid = 1 + rng() % 4000000;
      uint32_t period = static_cast<uint32_t>(1'000'000'000ull / (1 + rng() % 10000));
      bool listed = false;
      for (const auto& k : keys) listed = listed || (k.first == tgid && k.second == period);
      EXPECT_EQ(fast_filter_has(table, tgid, period), listed);
    }
  }
}

TEST(FastFilter, RefusesWhatItCannotHold) {
  FastFilterTable table;
  std::vector<std::pair<uint32_t, uint64_t>> many;
  for (uint32_t i = 1; i <= SCORCH_FAST_SLOTS; ++i) many.emplace_back(i, 10'101'011);
  EXPECT_FALSE(build_fast_filter(many, table)) << "over half full: the hash map must serve";
  EXPECT_FALSE(build_fast_filter({{5, 1ull << 33}}, table)) << "a period over 32 bits";
  EXPECT_TRUE(build_fast_filter({}, table));
  EXPECT_FALSE(fast_filter_has(table, 5, 10'101'011)) << "an empty filter wants nothing";
}

}  // namespace
}  // namespace scorch
