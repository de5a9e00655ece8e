#pragma once
/// Function and data symbols, load segments and build ID of one ELF file, for turning file offsets into names.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace scorch {

/// One function or data symbol: [address, address + size) in the ELF's virtual addresses.
struct Symbol {
  uint64_t address = 0;
  // From the ELF. A size-0 function gets the distance to the next function, within its section; a
  // size-0 data object keeps 0 and holds only its own address.
  uint64_t size = 0;
  std::string name;
};

/// One PT_LOAD program header.
struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t offset = 0;  // file offset
  uint64_t filesz = 0;
  uint32_t flags = 0;  // PF_R | PF_W | PF_X
};

/// The NT_GNU_BUILD_ID of the ELF file open at fd (lowercase hex; empty when it has none), read
/// from its notes alone: what a caller that needs no symbols pays. name is used in errors.
Result<std::string> read_build_id_fd(int fd, const std::string& name);

/// The symbol tables of one ELF file, immutable once loaded: functions (FUNC and IFUNC symbols of
/// .symtab and .dynsym) and, in a table of their own, data objects (OBJECT symbols of .symtab, or
/// of .dynsym when the file has no .symtab; TLS symbols are not objects at an address).
class ElfSymbols {
 public:
  /// Loads path; the error says "load symbols from <path>".
  static Result<std::shared_ptr<const ElfSymbols>> load(const std::string& path);
  /// Loads from an open fd (not taken over; it may be closed afterwards); name is used in errors and path().
  static Result<std::shared_ptr<const ElfSymbols>> load_fd(int fd, const std::string& name);

  /// base's segments and build id with the symbols of its separate debug file (same addresses)
  /// added: what a stripped binary is named with when its debug file is found.
  static std::shared_ptr<const ElfSymbols> with_debug_symbols(const ElfSymbols& base, const ElfSymbols& debug);

  /// The function with address <= elf_vaddr < address + size, or nullptr.
  const Symbol* lookup(uint64_t elf_vaddr) const;
  /// The data object with address <= elf_vaddr < address + size (== address for a size-0 one), or nullptr.
  const Symbol* lookup_object(uint64_t elf_vaddr) const;
  /// The ELF virtual address at file_offset, from the PT_LOAD segment whose file range holds it.
  std::optional<uint64_t> file_offset_to_vaddr(uint64_t file_offset) const;

  const std::string& path() const { return path_; }
  /// Lowercase hex of NT_GNU_BUILD_ID; empty when the file has none.
  const std::string& build_id() const { return build_id_; }
  /// Functions, sorted by address, one symbol per address.
  const std::vector<Symbol>& symbols() const { return symbols_; }
  /// Data objects, sorted by address, one symbol per address.
  const std::vector<Symbol>& objects() const { return objects_; }
  const std::vector<LoadSegment>& segments() const { return segments_; }
  /// The file name in .gnu_debuglink (a separate debug file), or empty.
  const std::string& debuglink() const { return debuglink_; }
  /// Where the symbols came from besides path() (a separate debug file), or empty.
  const std::string& debug_path() const { return debug_path_; }
  /// Rough heap footprint, for cache accounting.
  size_t memory_bytes() const;

 private:
  ElfSymbols() = default;

  std::string path_;
  std::string build_id_;
  std::string debug_path_;
  std::string debuglink_;
  std::vector<Symbol> symbols_;
  std::vector<Symbol> objects_;
  std::vector<LoadSegment> segments_;
};

}  // namespace scorch
