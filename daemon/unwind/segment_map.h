#pragma once
/// Where a process's mapping of an ELF file lies in the file's virtual addresses, from its program
/// headers: the link between a runtime pc and a row of the file's unwind table.

#include <cstdint>
#include <optional>
#include <span>

namespace scorch {

/// One PT_LOAD program header.
struct SegmentHeader {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t offset = 0;  // in the file
  uint64_t filesz = 0;
  uint32_t flags = 0;  // PF_R | PF_W | PF_X

  bool operator==(const SegmentHeader&) const = default;
};

/// The ELF virtual address at the first byte of a mapping of the file that starts at file offset
/// map_offset and is map_size bytes long, or nullopt when no PT_LOAD segment (executable ones only
/// when executable) covers it. The loader maps a segment from its offset and vaddr rounded down to
/// a page, so that page-aligned offset may lie before the segment's own: LLD leaves the executable
/// segment's p_vaddr 0x1000 past its p_offset, with p_offset mid-page, which makes that mapping's
/// offset also fall inside the read-only segment before it. Hence: the segment of the right kind
/// whose page-rounded file range holds map_offset, and vaddr = p_vaddr - (p_offset - map_offset).
std::optional<uint64_t> mapping_start_vaddr(std::span<const SegmentHeader> segments, uint64_t map_offset,
                                            uint64_t map_size, bool executable, uint64_t page_size = 4096);

}  // namespace scorch
