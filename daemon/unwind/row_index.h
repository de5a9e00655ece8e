#pragma once
/// RowIndex: a bucket index in front of a table's rows, so the BPF unwinder bisects only the few
/// rows of one bucket instead of the whole table.

#include <cstdint>
#include <vector>

#include "unwind/unwind_table.h"

namespace scorch {

struct RowIndex {
  uint32_t shift = 0;             // a bucket covers 1 << shift bytes of code
  std::vector<uint32_t> buckets;  // buckets[b]: the first row with pc_offset >= b << shift
};

/// Builds the index of rows (sorted by pc_offset, rows[0].pc_offset == 0), choosing the smallest
/// bucket (at least 16 bytes) for which there are at most max(1, rows / 2) + 1 buckets, so the
/// index costs at most 2 bytes per 12-byte row.
RowIndex build_row_index(const std::vector<UnwindRow>& rows);

/// The row that applies at pc_offset, found as the BPF unwinder finds it (index, then bisection
/// of the bucket); the position in rows, or -1 before the first row. For tests.
int64_t find_row_with_index(const std::vector<UnwindRow>& rows, const RowIndex& index, uint64_t pc_offset);

}  // namespace scorch
