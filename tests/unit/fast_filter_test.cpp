#include <gtest/gtest.h>

#include <random>

#include "probes/fast_filter.h"

namespace scorch {
namespace {

TEST(FastFilter, EveryKeyIsFoundAndNoOther) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::pair<uint32_t, uint32_t>> keys;
    size_t n = rng() % (SCORCH_FAST_SLOTS / 2 + 1);
    for (size_t i = 0; i < n; ++i) {
      uint32_t tgid = (rng() % 3 == 0) ? 0xffffffffu : 1 + rng() % 4000000;
      uint32_t sampler = 1 + rng() % 200;  // ids are handed out from 1 up
      keys.emplace_back(tgid, sampler);
    }
    FastFilterTable table;
    if (!build_fast_filter(keys, table)) continue;  // the hash map serves then; checked below
    for (const auto& [tgid, sampler] : keys) EXPECT_TRUE(fast_filter_has(table, tgid, sampler));
    for (int probe = 0; probe < 200; ++probe) {
      uint32_t tgid = 1 + rng() % 4000000;
      uint32_t sampler = 1 + rng() % 200;
      bool listed = false;
      for (const auto& k : keys) listed = listed || (k.first == tgid && k.second == sampler);
      EXPECT_EQ(fast_filter_has(table, tgid, sampler), listed);
    }
  }
}

TEST(FastFilter, RefusesWhatItCannotHold) {
  FastFilterTable table;
  std::vector<std::pair<uint32_t, uint32_t>> many;
  for (uint32_t i = 1; i <= SCORCH_FAST_SLOTS; ++i) many.emplace_back(i, 7);
  EXPECT_FALSE(build_fast_filter(many, table)) << "over half full: the hash map must serve";
  EXPECT_FALSE(build_fast_filter({{5, 0}}, table)) << "sampler id 0 (no cookie) is never handed out";
  EXPECT_FALSE(build_fast_filter({{0, 7}}, table)) << "tgid 0 (the idle task) is never asked for";
  EXPECT_TRUE(build_fast_filter({}, table));
  EXPECT_FALSE(fast_filter_has(table, 5, 7)) << "an empty filter wants nothing";
}

}  // namespace
}  // namespace scorch
