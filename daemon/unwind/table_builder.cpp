#include "unwind/table_builder.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "common/safe_file.h"
#include "common/unique_fd.h"
#include "symbolize/elf_limits.h"
#include "unwind/cfi_rules.h"
#include "unwind/fde_list.h"

namespace scorch {

namespace {

using unwind::CfaValue;
using unwind::FdeRange;
using unwind::SavedRegister;

struct ElfCloser {
  void operator()(Elf* elf) const { elf_end(elf); }
};
struct DwarfCloser {
  void operator()(Dwarf* dwarf) const { dwarf_end(dwarf); }
};
struct CfiCloser {
  void operator()(Dwarf_CFI* cfi) const { dwarf_cfi_end(cfi); }
};
struct FrameFree {
  void operator()(Dwarf_Frame* frame) const { std::free(frame); }
};
using ElfHandle = std::unique_ptr<Elf, ElfCloser>;
using DwarfHandle = std::unique_ptr<Dwarf, DwarfCloser>;
using CfiHandle = std::unique_ptr<Dwarf_CFI, CfiCloser>;
using FrameHandle = std::unique_ptr<Dwarf_Frame, FrameFree>;

/// The CFI a table is built from: libdw's reader and the raw section its FDEs are listed from.
/// Members are destroyed in reverse order, so the CFI goes before the Dwarf that may own it.
struct CfiSource {
  DwarfHandle dwarf;    // .debug_frame only: owns cfi
  CfiHandle owned_cfi;  // .eh_frame only
  Dwarf_CFI* cfi = nullptr;
  Elf_Data* data = nullptr;
  uint64_t section_addr = 0;
  CfiSection section = CfiSection::kEhFrame;
};

/// One row before packing: full-width pc and offsets.
struct RawRow {
  uint64_t pc = 0;
  CfaValue cfa;
  SavedRegister rbp;
};

// Marks the start of pcs no FDE covers.
RawRow no_info_row(uint64_t pc) { return RawRow{pc, CfaValue{CfaRule::kNoInfo, 0}, SavedRegister{RbpRule::kSame, 0}}; }

Error build_error(const std::string& name, std::string reason, std::string hint = {}) {
  return Error{"build unwind table for " + name, std::move(reason), 0, std::move(hint)};
}

bool init_libelf() {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  return ok;
}

// The section called name with contents in the file (a debuginfo file's .eh_frame is NOBITS), or nullptr.
Elf_Scn* find_section(Elf* elf, const char* name, GElf_Shdr* shdr) {
  size_t names_index = 0;
  if (!elf_limits::names_index(elf, &names_index)) {
    return nullptr;
  }
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    if (gelf_getshdr(scn, shdr) == nullptr || shdr->sh_type == SHT_NOBITS) {
      continue;
    }
    const char* section_name = elf_strptr(elf, names_index, shdr->sh_name);
    if (section_name != nullptr && std::strcmp(section_name, name) == 0) {
      return scn;
    }
  }
  return nullptr;
}

std::string build_id_hex(Elf* elf) {
  const void* bytes = nullptr;
  if (!elf_limits::notes_fit(elf)) return {};
  ssize_t size = dwelf_elf_gnu_build_id(elf, &bytes);
  if (size <= 0) {
    return {};
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(static_cast<size_t>(size) * 2);
  for (ssize_t i = 0; i < size; ++i) {
    unsigned char byte = static_cast<const unsigned char*>(bytes)[i];
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xf]);
  }
  return hex;
}

// What the call frame information of one file may take in memory: the traced program chooses
// its sections (the largest real .eh_frame here is a few MiB), and libdw reads every .debug_*
// section (inflating the compressed ones) as it opens the DWARF.
constexpr uint64_t kMaxCfiBytes = 256ull << 20;

// The bytes a section takes once read: its size, or for a compressed one (SHF_COMPRESSED, or a
// GNU .zdebug section: "ZLIB" and a big-endian size) the size it claims.
uint64_t section_bytes(Elf_Scn* scn, const GElf_Shdr& shdr, bool gnu_compressed = false) {
  if ((shdr.sh_flags & SHF_COMPRESSED) != 0) {
    GElf_Chdr chdr;
    return gelf_getchdr(scn, &chdr) != nullptr ? chdr.ch_size : UINT64_MAX;
  }
  if (!gnu_compressed) return shdr.sh_size;
  Elf_Data* raw = elf_rawdata(scn, nullptr);
  if (raw == nullptr || raw->d_buf == nullptr || raw->d_size < 12) return shdr.sh_size;
  const auto* bytes = static_cast<const unsigned char*>(raw->d_buf);
  if (std::memcmp(bytes, "ZLIB", 4) != 0) return shdr.sh_size;
  uint64_t size = 0;
  for (int i = 4; i < 12; ++i) size = size << 8 | bytes[i];
  return size;
}

// Whether the DWARF sections libdw reads as it opens the DWARF (each read into memory, the
// compressed ones inflated) fit the cap together.
bool debug_sections_fit(Elf* elf) {
  size_t shstrndx = 0;
  if (!elf_limits::names_index(elf, &shstrndx)) return false;
  uint64_t total = 0;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr || (std::strncmp(name, ".debug", 6) != 0 && std::strncmp(name, ".zdebug", 7) != 0)) continue;
    const uint64_t bytes = section_bytes(scn, shdr, name[1] == 'z');
    if (bytes > kMaxCfiBytes || (total += bytes) > kMaxCfiBytes) return false;
  }
  return true;
}

// .eh_frame when the file has one (what the running code is compiled with), else .debug_frame.
Result<CfiSource> open_cfi(Elf* elf, const std::string& name) {
  CfiSource source;
  GElf_Shdr shdr;
  if (Elf_Scn* scn = find_section(elf, ".eh_frame", &shdr); scn != nullptr) {
    GElf_Shdr hdr;
    Elf_Scn* hdr_scn = find_section(elf, ".eh_frame_hdr", &hdr);
    if (section_bytes(scn, shdr) > kMaxCfiBytes || (hdr_scn && section_bytes(hdr_scn, hdr) > kMaxCfiBytes))
      return build_error(name, ".eh_frame is larger than the " + std::to_string(kMaxCfiBytes >> 20) + " MiB cap");
    source.owned_cfi.reset(dwarf_getcfi_elf(elf));
    source.cfi = source.owned_cfi.get();
    source.data = elf_getdata(scn, nullptr);
    source.section_addr = shdr.sh_addr;
    source.section = CfiSection::kEhFrame;
    if (source.cfi == nullptr || source.data == nullptr) {
      return build_error(name, std::string("cannot read .eh_frame: ") + dwarf_errmsg(-1));
    }
    return source;
  }
  if (find_section(elf, ".debug_frame", &shdr) == nullptr) {
    return build_error(name, "no .eh_frame or .debug_frame section",
                       "without call frame information only frame pointers can unwind through this file");
  }
  if (!debug_sections_fit(elf))
    return build_error(name,
                       "its .debug sections are larger than the " + std::to_string(kMaxCfiBytes >> 20) + " MiB cap");
  source.dwarf.reset(dwarf_begin_elf(elf, DWARF_C_READ, nullptr));
  if (source.dwarf) {
    source.cfi = dwarf_getcfi(source.dwarf.get());
  }
  // Look the section up again: libdw may have decompressed it in place.
  Elf_Scn* scn = find_section(elf, ".debug_frame", &shdr);
  if (scn != nullptr && (shdr.sh_flags & SHF_COMPRESSED) != 0 && elf_compress(scn, 0, 0) < 0) {
    return build_error(name, std::string("cannot decompress .debug_frame: ") + elf_errmsg(-1));
  }
  source.data = scn != nullptr ? elf_getdata(scn, nullptr) : nullptr;
  source.section_addr = shdr.sh_addr;
  source.section = CfiSection::kDebugFrame;
  if (source.cfi == nullptr || source.data == nullptr) {
    return build_error(name, std::string("cannot read .debug_frame: ") + dwarf_errmsg(-1));
  }
  return source;
}

// Every PT_LOAD program header.
std::vector<SegmentHeader> load_segments(Elf* elf) {
  std::vector<SegmentHeader> segments;
  size_t count = 0;
  if (elf_getphdrnum(elf, &count) != 0) {
    return segments;
  }
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr && phdr.p_type == PT_LOAD) {
      segments.push_back(SegmentHeader{phdr.p_vaddr, phdr.p_memsz, phdr.p_offset, phdr.p_filesz, phdr.p_flags});
    }
  }
  return segments;
}

// [vaddr, vaddr + memsz) of every executable segment.
std::vector<FdeRange> executable_ranges(const std::vector<SegmentHeader>& segments) {
  std::vector<FdeRange> ranges;
  for (const SegmentHeader& seg : segments) {
    if ((seg.flags & PF_X) != 0) {
      ranges.push_back(FdeRange{seg.vaddr, seg.vaddr + seg.memsz});
    }
  }
  return ranges;
}

// The FDEs to turn into rows, sorted: non-empty, inside executable code (this drops the pc-0 FDEs of
// discarded functions) and not overlapping an earlier one.
std::vector<FdeRange> usable_fdes(std::vector<FdeRange> fdes, const std::vector<FdeRange>& code,
                                  UnwindTableStats& stats) {
  std::stable_sort(fdes.begin(), fdes.end(), [](const FdeRange& a, const FdeRange& b) { return a.begin < b.begin; });
  std::vector<FdeRange> usable;
  for (const FdeRange& fde : fdes) {
    bool in_code = std::any_of(code.begin(), code.end(), [&](const FdeRange& segment) {
      return fde.begin >= segment.begin && fde.end <= segment.end;
    });
    bool overlaps = !usable.empty() && fde.begin < usable.back().end;
    if (fde.end <= fde.begin || !in_code || overlaps) {
      ++stats.skipped_fdes;
      continue;
    }
    usable.push_back(fde);
  }
  stats.fdes = usable.size();
  return usable;
}

// The rules of one CFI row, from libdw's view of it.
RawRow rules_of(Dwarf_Frame* frame, int return_address_register, uint64_t pc) {
  RawRow row;
  row.pc = pc;
  if (return_address_register != unwind::kDwarfReturnAddress) {
    return row;  // kUnsupported both
  }
  Dwarf_Op* cfa_ops = nullptr;
  size_t cfa_nops = 0;
  if (dwarf_frame_cfa(frame, &cfa_ops, &cfa_nops) != 0) {
    cfa_ops = nullptr;
    cfa_nops = 0;
  }
  // dwarf_frame_register writes a rule's ops into the array given when it has to make them up.
  Dwarf_Op ra_space[3], rbp_space[3];
  Dwarf_Op* ra_ops = nullptr;
  Dwarf_Op* rbp_ops = nullptr;
  size_t ra_nops = 0, rbp_nops = 0;
  const bool have_ra = dwarf_frame_register(frame, unwind::kDwarfReturnAddress, ra_space, &ra_ops, &ra_nops) == 0;
  const bool have_rbp = dwarf_frame_register(frame, unwind::kDwarfRbp, rbp_space, &rbp_ops, &rbp_nops) == 0;
  if (have_ra) {
    if (auto signal = unwind::signal_frame_from_ops(cfa_ops, cfa_nops, ra_ops, ra_nops, have_rbp ? rbp_ops : nullptr,
                                                    have_rbp ? rbp_nops : 0)) {
      row.cfa = signal->first;
      row.rbp = have_rbp ? signal->second : SavedRegister{};
      return row;
    }
  }
  row.cfa = unwind::cfa_from_ops(cfa_ops, cfa_nops);
  row.cfa =
      unwind::apply_return_address(row.cfa, have_ra ? unwind::register_from_ops(ra_ops, ra_nops) : SavedRegister{});
  if (have_rbp) row.rbp = unwind::register_from_ops(rbp_ops, rbp_nops);
  return row;
}

template <typename T>
bool fits(int64_t value) {
  return value >= std::numeric_limits<T>::min() && value <= std::numeric_limits<T>::max();
}

// Narrows raw to an UnwindRow (offsets that do not fit make the rule kUnsupported) and appends it,
// unless it has the same rules as the row before it. table.base_pc must be set and at most raw.pc.
void append_row(UnwindTable& table, const RawRow& raw) {
  UnwindRow row;
  row.pc_offset = static_cast<uint32_t>(raw.pc - table.base_pc);
  row.cfa = raw.cfa.rule;
  if (row.cfa == CfaRule::kRsp || row.cfa == CfaRule::kRbp || row.cfa == CfaRule::kPlt || row.cfa == CfaRule::kSignal) {
    if (fits<int32_t>(raw.cfa.offset)) {
      row.cfa_offset = static_cast<int32_t>(raw.cfa.offset);
    } else {
      row.cfa = CfaRule::kUnsupported;
      ++table.stats.offsets_too_large;
    }
  }
  row.rbp = raw.rbp.rule;
  if (row.rbp == RbpRule::kOffset) {
    if (fits<int16_t>(raw.rbp.offset)) {
      row.rbp_offset = static_cast<int16_t>(raw.rbp.offset);
    } else {
      row.rbp = RbpRule::kUnsupported;
      ++table.stats.offsets_too_large;
    }
  }
  if (!table.rows.empty()) {
    const UnwindRow& last = table.rows.back();
    if (last.cfa == row.cfa && last.cfa_offset == row.cfa_offset && last.rbp == row.rbp &&
        last.rbp_offset == row.rbp_offset) {
      return;
    }
  }
  table.rows.push_back(row);
}

// Appends one row per CFI row of fde: libdw evaluates the FDE at each row's start and says where it ends.
void add_fde_rows(Dwarf_CFI* cfi, const FdeRange& fde, UnwindTable& table) {
  uint64_t pc = fde.begin;
  while (pc < fde.end) {
    Dwarf_Frame* raw_frame = nullptr;
    if (dwarf_cfi_addrframe(cfi, pc, &raw_frame) != 0) {
      ++table.stats.bad_cfi_rows;
      append_row(table, RawRow{pc, {}, {}});  // the rest of the FDE is kUnsupported
      return;
    }
    FrameHandle frame(raw_frame);
    Dwarf_Addr start = 0;
    Dwarf_Addr end = 0;
    bool signal_frame = false;
    int return_address_register = dwarf_frame_info(frame.get(), &start, &end, &signal_frame);
    append_row(table, rules_of(frame.get(), return_address_register, pc));
    if (end <= pc) {
      return;  // cannot happen with sane CFI; never loop
    }
    pc = end;
  }
}

}  // namespace

Result<UnwindTable> build_unwind_table(const std::string& path) {
  auto fd = safe_file::open_trusted(path, safe_file::Rules{});
  if (!fd) return Error{"build unwind table for " + path, fd.error().reason, fd.error().err, {}};
  return build_unwind_table_fd(fd->get(), path);
}

Result<UnwindTable> build_unwind_table_fd(int fd, const std::string& name) {
  if (!init_libelf()) {
    return build_error(name, elf_errmsg(-1));
  }
  ElfHandle elf(elf_begin(fd, ELF_C_READ, nullptr));  // not mmap: see symbolize/elf_limits.h
  if (!elf) {
    return build_error(name, elf_errmsg(-1));
  }
  if (elf_kind(elf.get()) != ELF_K_ELF) {
    return build_error(name, "not an ELF file");
  }
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) {
    return build_error(name, elf_errmsg(-1));
  }
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB || ehdr.e_machine != EM_X86_64) {
    return build_error(name, "not an x86-64 ELF file (e_machine " + std::to_string(ehdr.e_machine) + ")");
  }

  auto source = open_cfi(elf.get(), name);
  if (!source) {
    return source.error();
  }

  UnwindTable table;
  table.build_id = build_id_hex(elf.get());
  table.section = source->section;
  table.segments = load_segments(elf.get());
  unwind::FdeList listed =
      unwind::list_fdes(ehdr.e_ident, source->data, source->section_addr, source->section == CfiSection::kEhFrame);
  table.stats.skipped_fdes = listed.undecodable;
  std::vector<FdeRange> fdes = usable_fdes(std::move(listed.ranges), executable_ranges(table.segments), table.stats);

  if (fdes.empty()) {
    return table;
  }
  table.base_pc = fdes.front().begin;
  if (fdes.back().end - table.base_pc > std::numeric_limits<uint32_t>::max()) {
    return build_error(name, "its code spans more than 4 GiB");
  }
  for (size_t i = 0; i < fdes.size(); ++i) {
    if (i > 0 && fdes[i - 1].end < fdes[i].begin) {
      append_row(table, no_info_row(fdes[i - 1].end));
    }
    add_fde_rows(source->cfi, fdes[i], table);
  }
  append_row(table, no_info_row(fdes.back().end));
  table.rows.shrink_to_fit();
  for (const UnwindRow& row : table.rows) {
    table.stats.unsupported_cfa += row.cfa == CfaRule::kUnsupported ? 1 : 0;
    table.stats.unsupported_rbp += row.rbp == RbpRule::kUnsupported ? 1 : 0;
  }
  return table;
}

}  // namespace scorch
