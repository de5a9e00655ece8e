#include "unwind/row_index.h"

#include <algorithm>

namespace scorch {

RowIndex build_row_index(const std::vector<UnwindRow>& rows) {
  RowIndex index;
  if (rows.empty()) return index;
  uint64_t span = rows.back().pc_offset;
  uint64_t max_buckets = std::max<uint64_t>(1, rows.size() / 2) + 1;
  index.shift = 4;
  while ((span >> index.shift) + 1 > max_buckets) ++index.shift;
  uint64_t nbuckets = (span >> index.shift) + 1;
  index.buckets.resize(nbuckets);
  size_t r = 0;
  for (uint64_t b = 0; b < nbuckets; ++b) {
    uint64_t start = b << index.shift;
    while (r < rows.size() && rows[r].pc_offset < start) ++r;
    index.buckets[b] = static_cast<uint32_t>(r);
  }
  return index;
}

int64_t find_row_with_index(const std::vector<UnwindRow>& rows, const RowIndex& index, uint64_t pc_offset) {
  if (rows.empty() || index.buckets.empty()) return -1;
  uint64_t b = std::min<uint64_t>(pc_offset >> index.shift, index.buckets.size() - 1);
  uint32_t lo = index.buckets[b];
  uint32_t hi = b + 1 < index.buckets.size() ? index.buckets[b + 1] : static_cast<uint32_t>(rows.size());
  // Row lo - 1 starts before the bucket (row 0 at offset 0); find the first row past pc_offset.
  uint32_t l = lo ? lo : 1, h = hi;
  while (l < h) {
    uint32_t mid = l + (h - l) / 2;
    if (rows[mid].pc_offset <= pc_offset)
      l = mid + 1;
    else
      h = mid;
  }
  return static_cast<int64_t>(l) - 1;
}

}  // namespace scorch
