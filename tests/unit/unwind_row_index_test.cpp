#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "unwind/row_index.h"
#include "unwind/table_builder.h"

namespace scorch {
namespace {

// The reference: the last row whose pc_offset <= off, by bisecting every row.
int64_t find_row_plain(const std::vector<UnwindRow>& rows, uint64_t off) {
  auto it =
      std::upper_bound(rows.begin(), rows.end(), off, [](uint64_t v, const UnwindRow& r) { return v < r.pc_offset; });
  return static_cast<int64_t>(it - rows.begin()) - 1;
}

std::vector<UnwindRow> rows_at(const std::vector<uint32_t>& offsets) {
  std::vector<UnwindRow> rows;
  for (uint32_t off : offsets) rows.push_back(UnwindRow{off, 8, CfaRule::kRsp, RbpRule::kSame, 0});
  return rows;
}

// Every row start, the byte before it and after it, and random offsets up to past the end.
void expect_same_as_plain(const std::vector<UnwindRow>& rows, const RowIndex& index, size_t random_probes) {
  std::vector<uint64_t> probes;
  for (const auto& r : rows) {
    probes.push_back(r.pc_offset);
    probes.push_back(r.pc_offset + 1);
    if (r.pc_offset) probes.push_back(r.pc_offset - 1);
  }
  std::mt19937_64 rng(42);
  uint64_t span = rows.back().pc_offset + 4096;
  for (size_t i = 0; i < random_probes; ++i) probes.push_back(rng() % span);
  size_t mismatches = 0;
  for (uint64_t off : probes)
    if (find_row_with_index(rows, index, off) != find_row_plain(rows, off)) ++mismatches;
  EXPECT_EQ(mismatches, 0u) << "of " << probes.size() << " offsets";
}

TEST(RowIndex, SmallTablesAndBucketBounds) {
  for (const auto& offsets : std::vector<std::vector<uint32_t>>{
           {0}, {0, 1}, {0, 16, 17, 18, 4000}, {0, 100000}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 4096, 4097, 8192}}) {
    auto rows = rows_at(offsets);
    RowIndex index = build_row_index(rows);
    EXPECT_LE(index.buckets.size(), std::max<size_t>(1, rows.size() / 2) + 1);
    EXPECT_GE(index.shift, 4u);
    expect_same_as_plain(rows, index, 2000);
  }
}

TEST(RowIndex, BucketsPointAtTheirFirstRow) {
  auto rows = rows_at({0, 10, 40, 41, 300, 301, 302, 1000});
  RowIndex index = build_row_index(rows);
  for (size_t b = 0; b < index.buckets.size(); ++b) {
    uint64_t start = static_cast<uint64_t>(b) << index.shift;
    uint32_t first = index.buckets[b];
    if (first < rows.size()) {
      EXPECT_GE(rows[first].pc_offset, start) << "bucket " << b;
    }
    if (first > 0) {
      EXPECT_LT(rows[first - 1].pc_offset, start) << "bucket " << b;
    }
  }
}

TEST(RowIndex, LibcTableFindsEveryRowAndStaysSmall) {
  auto table = build_unwind_table("/lib/x86_64-linux-gnu/libc.so.6");
  ASSERT_TRUE(table) << table.error().message();
  RowIndex index = build_row_index(table->rows);
  EXPECT_LE(index.buckets.size() * sizeof(uint32_t), table->rows.size() * 2 + 4);
  expect_same_as_plain(table->rows, index, 200000);
  // Most buckets are small enough for the BPF side's inline bisection (up to 31 rows).
  size_t big = 0;
  for (size_t b = 0; b + 1 < index.buckets.size(); ++b)
    if (index.buckets[b + 1] - index.buckets[b] + 1 > 31) ++big;
  std::printf("[ libc     ] %zu rows, %zu buckets of %u bytes, %zu buckets over 31 rows\n", table->rows.size(),
              index.buckets.size(), 1u << index.shift, big);
  EXPECT_LT(big * 100, index.buckets.size());
}

}  // namespace
}  // namespace scorch
