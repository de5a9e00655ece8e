#include "unwind/segment_map.h"

#include <elf.h>

namespace scorch {

std::optional<uint64_t> mapping_start_vaddr(std::span<const SegmentHeader> segments, uint64_t map_offset,
                                            uint64_t map_size, bool executable, uint64_t page_size) {
  if (page_size == 0 || (page_size & (page_size - 1)) != 0) return std::nullopt;
  const uint64_t page_mask = page_size - 1;
  std::optional<uint64_t> found;
  bool found_fits = false;
  for (const SegmentHeader& seg : segments) {
    if (executable && (seg.flags & PF_X) == 0) continue;
    // The loader can map a segment only if its vaddr and offset agree modulo the page size.
    if ((seg.vaddr & page_mask) != (seg.offset & page_mask)) continue;
    const uint64_t first = seg.offset & ~page_mask;
    const uint64_t end = seg.offset + seg.filesz;
    if (map_offset < first || map_offset >= end) continue;
    const uint64_t vaddr = seg.vaddr - (seg.offset - map_offset);  // also right past p_offset (a split mapping)
    // Two segments of the same kind may share a page; the one whose rounded end the mapping
    // reaches is the one it was made for.
    const uint64_t mapped_end = (seg.vaddr + seg.filesz + page_mask) & ~page_mask;
    const bool fits = vaddr + map_size == mapped_end;
    if (!found || (fits && !found_fits)) {
      found = vaddr;
      found_fits = fits;
    }
  }
  return found;
}

}  // namespace scorch
