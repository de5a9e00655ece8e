#include "unwind/fde_list.h"

#include <dwarf.h>

#include <cstring>
#include <unordered_map>

namespace scorch::unwind {

namespace {

constexpr int kUnknownEncoding = -1;

// Reads a little-endian T (the caller only passes x86-64 files), widened to 64 bits with T's
// signedness, and advances p.
template <typename T>
bool read_widened(const uint8_t*& p, const uint8_t* end, uint64_t* out) {
  T value{};
  if (static_cast<size_t>(end - p) < sizeof(T)) {
    return false;
  }
  std::memcpy(&value, p, sizeof(T));
  p += sizeof(T);
  *out = static_cast<uint64_t>(static_cast<int64_t>(value));
  return true;
}

// Reads a pointer in one of the fixed-size DW_EH_PE formats (the low four bits of encoding).
bool read_pointer_format(uint8_t encoding, const uint8_t*& p, const uint8_t* end, uint64_t* out) {
  switch (encoding & 0x0f) {
    case DW_EH_PE_absptr:
    case DW_EH_PE_udata8:
      return read_widened<uint64_t>(p, end, out);
    case DW_EH_PE_sdata8:
      return read_widened<int64_t>(p, end, out);
    case DW_EH_PE_udata4:
      return read_widened<uint32_t>(p, end, out);
    case DW_EH_PE_sdata4:
      return read_widened<int32_t>(p, end, out);
    case DW_EH_PE_udata2:
      return read_widened<uint16_t>(p, end, out);
    case DW_EH_PE_sdata2:
      return read_widened<int16_t>(p, end, out);
    default:
      return false;  // LEB128 pointers: no linker emits them for FDEs
  }
}

// Skips one encoded pointer (the personality routine's in a CIE's augmentation data).
bool skip_pointer(uint8_t encoding, const uint8_t*& p, const uint8_t* end) {
  uint8_t format = encoding & 0x0f;
  if (format == DW_EH_PE_uleb128 || format == DW_EH_PE_sleb128) {
    while (p < end && (*p & 0x80) != 0) {
      ++p;
    }
    if (p == end) {
      return false;
    }
    ++p;
    return true;
  }
  uint64_t ignored = 0;
  return read_pointer_format(encoding, p, end, &ignored);
}

// The pointer encoding of the FDEs that use cie ("R" in its augmentation), or kUnknownEncoding.
int fde_pointer_encoding(const Dwarf_CIE& cie) {
  const char* augmentation = cie.augmentation;
  if (augmentation[0] == '\0') {
    return DW_EH_PE_absptr;  // .debug_frame, and .eh_frame CIEs without augmentation
  }
  if (augmentation[0] != 'z') {
    return kUnknownEncoding;
  }
  const uint8_t* p = cie.augmentation_data;
  const uint8_t* end = p + cie.augmentation_data_size;
  for (const char* letter = augmentation + 1; *letter != '\0'; ++letter) {
    switch (*letter) {
      case 'R':
        return p < end ? *p : kUnknownEncoding;
      case 'L':  // the LSDA's encoding: one byte
        if (p == end) {
          return kUnknownEncoding;
        }
        ++p;
        break;
      case 'P': {  // the personality routine: its encoding, then the pointer
        if (p == end) {
          return kUnknownEncoding;
        }
        uint8_t encoding = *p++;
        if (!skip_pointer(encoding, p, end)) {
          return kUnknownEncoding;
        }
        break;
      }
      case 'S':  // signal frame
      case 'B':  // AArch64 B-key
        break;
      default:
        return kUnknownEncoding;
    }
  }
  return DW_EH_PE_absptr;
}

// Decodes an FDE's initial location and address range; false for encodings a linker does not use here.
bool decode_range(const Dwarf_FDE& fde, int encoding, const uint8_t* section, uint64_t section_addr, FdeRange* range) {
  if (encoding == kUnknownEncoding || (encoding & DW_EH_PE_indirect) != 0) {
    return false;
  }
  const uint8_t* p = fde.start;
  uint64_t field_addr = section_addr + static_cast<uint64_t>(p - section);
  uint64_t begin = 0;
  uint64_t length = 0;
  if (!read_pointer_format(static_cast<uint8_t>(encoding), p, fde.end, &begin) ||
      !read_pointer_format(static_cast<uint8_t>(encoding), p, fde.end, &length)) {
    return false;
  }
  switch (encoding & 0x70) {
    case DW_EH_PE_absptr:
      break;
    case DW_EH_PE_pcrel:
      begin += field_addr;
      break;
    default:
      return false;  // text-, data- and function-relative: not used by x86-64 linkers
  }
  range->begin = begin;
  range->end = begin + length;
  return true;
}

}  // namespace

FdeList list_fdes(const unsigned char* e_ident, Elf_Data* data, uint64_t section_addr, bool eh_frame) {
  FdeList list;
  const auto* section = static_cast<const uint8_t*>(data->d_buf);
  std::unordered_map<Dwarf_Off, int> encodings;  // by the CIE's section offset

  auto encoding_of = [&](Dwarf_Off cie_offset) {
    auto it = encodings.find(cie_offset);
    if (it != encodings.end()) {
      return it->second;
    }
    Dwarf_CFI_Entry entry;
    Dwarf_Off ignored = 0;
    int encoding = kUnknownEncoding;
    if (dwarf_next_cfi(e_ident, data, eh_frame, cie_offset, &ignored, &entry) == 0 && dwarf_cfi_cie_p(&entry)) {
      encoding = fde_pointer_encoding(entry.cie);
    }
    encodings.emplace(cie_offset, encoding);
    return encoding;
  };

  Dwarf_Off offset = 0;
  while (true) {
    Dwarf_CFI_Entry entry;
    Dwarf_Off next = offset;
    int rc = dwarf_next_cfi(e_ident, data, eh_frame, offset, &next, &entry);
    if (rc == 1) {
      break;  // end of the section, or a zero terminator
    }
    if (rc != 0) {
      ++list.undecodable;
      if (next <= offset || next == static_cast<Dwarf_Off>(-1)) {
        break;  // libdw could not find where the next entry starts
      }
      offset = next;
      continue;
    }
    offset = next;
    if (dwarf_cfi_cie_p(&entry)) {
      continue;
    }
    FdeRange range;
    if (decode_range(entry.fde, encoding_of(entry.fde.CIE_pointer), section, section_addr, &range)) {
      list.ranges.push_back(range);
    } else {
      ++list.undecodable;
    }
  }
  return list;
}

}  // namespace scorch::unwind
