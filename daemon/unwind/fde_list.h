#pragma once
/// Lists the FDEs of a .eh_frame or .debug_frame section: the pc ranges libdw is then asked about.

#include <elfutils/libdw.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace scorch::unwind {

/// One FDE's pc range [begin, end) in the ELF's virtual addresses.
struct FdeRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// The FDEs of one CFI section in section order, and how many could not be read.
struct FdeList {
  std::vector<FdeRange> ranges;
  size_t undecodable = 0;  // unknown pointer encodings or augmentations, bad entries
};

/// Walks a little-endian 64-bit CFI section with dwarf_next_cfi and decodes each FDE's pc range with
/// its CIE's pointer encoding. eh_frame: .eh_frame format, else .debug_frame; section_addr: sh_addr,
/// for pc-relative pointers. An entry that cannot be read is counted and the walk goes on when it can.
FdeList list_fdes(const unsigned char* e_ident, Elf_Data* data, uint64_t section_addr, bool eh_frame);

}  // namespace scorch::unwind
