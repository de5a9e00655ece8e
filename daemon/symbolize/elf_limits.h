#pragma once
/// What reading one ELF file of a traced program may cost the daemon, checked before each read.
///
/// Files are opened with ELF_C_READ, never mmap'd: a program that truncates a file it maps (its
/// own library) while scorchd reads it would otherwise raise SIGBUS in the daemon. libelf then
/// reads each section it is asked for into memory, so every section is checked against a cap
/// before it is asked for; the traced program chooses these sizes.

#include <gelf.h>
#include <libelf.h>

#include <cstdint>

namespace scorch::elf_limits {

inline constexpr uint64_t kSectionCap = 256ull << 20;  // one section read into memory
inline constexpr uint64_t kNoteCap = 1ull << 20;       // a note section (build id)
inline constexpr uint64_t kNamesCap = 16ull << 20;     // the section names' string table

/// Whether section index's header says it fits max bytes (false when there is no such section).
inline bool section_fits(Elf* elf, size_t index, uint64_t max) {
  GElf_Shdr shdr;
  Elf_Scn* scn = elf_getscn(elf, index);
  return scn != nullptr && gelf_getshdr(scn, &shdr) != nullptr && (shdr.sh_type == SHT_NOBITS || shdr.sh_size <= max);
}

/// The section names' string table, when it fits: elf_strptr on a section name reads it whole.
inline bool names_index(Elf* elf, size_t* shstrndx) {
  return elf_getshdrstrndx(elf, shstrndx) == 0 && section_fits(elf, *shstrndx, kNamesCap);
}

/// A symbol table with shdr and its string table (sh_link) both fit.
inline bool table_fits(Elf* elf, const GElf_Shdr& shdr) {
  return shdr.sh_size <= kSectionCap && section_fits(elf, shdr.sh_link, kSectionCap);
}

/// Every note section and PT_NOTE segment fits (libdwelf's build id reader reads them all).
inline bool notes_fit(Elf* elf) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) return false;
    if (shdr.sh_type == SHT_NOTE && shdr.sh_size > kNoteCap) return false;
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return false;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) return false;
    if (phdr.p_type == PT_NOTE && phdr.p_filesz > kNoteCap) return false;
  }
  return true;
}

}  // namespace scorch::elf_limits
