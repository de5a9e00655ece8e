#include "symbolize/elf_symbols.h"

#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>

#include <lzma.h>
#include <tuple>

#include "common/safe_file.h"
#include "symbolize/elf_limits.h"

namespace scorch {

namespace {

/// Calls elf_end on destruction.
struct ElfCloser {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfHandle = std::unique_ptr<Elf, ElfCloser>;

/// A symbol as read from a table, before aliases at one address are merged.
struct RawSymbol {
  uint64_t address = 0;
  uint64_t size = 0;
  uint64_t section_end = 0;  // end address of the symbol's section, 0 when unknown
  int binding_rank = 0;      // 0 global, 1 weak, 2 local
  std::string name;
};

bool init_libelf() {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  return ok;
}

Error elf_error(const std::string& name) { return Error{"load symbols from " + name, elf_errmsg(-1), 0, {}}; }

size_t leading_underscores(const std::string& name) {
  size_t n = 0;
  while (n < name.size() && name[n] == '_') {
    ++n;
  }
  return n;
}

// Orders by address; among aliases the preferred name comes first: fewer leading underscores ("getpid"
// before "__getpid", though glibc makes the former weak), then global before weak before local, then
// shorter, then alphabetical.
bool raw_symbol_less(const RawSymbol& a, const RawSymbol& b) {
  // Most pairs differ in address: decided without scanning names (node has 185,000 symbols).
  if (a.address != b.address) return a.address < b.address;
  auto key = [](const RawSymbol& s) {
    return std::make_tuple(leading_underscores(s.name), s.binding_rank, s.name.size());
  };
  auto ka = key(a);
  auto kb = key(b);
  if (ka != kb) {
    return ka < kb;
  }
  return a.name < b.name;
}

int binding_rank(unsigned char info) {
  switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
      return 0;
    case STB_WEAK:
      return 1;
    default:
      return 2;
  }
}

// What one file's symbol tables may hold: the traced program chooses them, and every entry costs
// daemon memory (the largest real binaries here have a few hundred thousand functions).
constexpr size_t kMaxSymbolEntries = 8u << 20;
constexpr size_t kMaxNameBytes = 256u << 20;
constexpr size_t kMaxNameLength = 64u << 10;

/// Adds the table's function symbols to out and, when objects is given, its data objects to that;
/// false when the tables would exceed the caps above.
bool read_symbol_table(Elf* elf, Elf_Scn* scn, const GElf_Shdr& shdr, std::vector<RawSymbol>& out, size_t& entries,
                       size_t& name_bytes, std::vector<RawSymbol>* objects = nullptr) {
  if (shdr.sh_entsize == 0) {
    return true;
  }
  size_t count = shdr.sh_size / shdr.sh_entsize;
  entries += count;
  if (entries > kMaxSymbolEntries || !elf_limits::table_fits(elf, shdr)) return false;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr) {
    return true;
  }
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) {
      continue;
    }
    int type = GELF_ST_TYPE(sym.st_info);
    const bool object = type == STT_OBJECT && objects != nullptr;
    if (type != STT_FUNC && type != STT_GNU_IFUNC && !object) {
      continue;
    }
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) {
      continue;
    }
    if (object && (sym.st_shndx == SHN_ABS || sym.st_shndx == SHN_COMMON)) continue;  // not at a loaded address
    const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
    if (name == nullptr || name[0] == '\0') {
      continue;
    }
    size_t length = strnlen(name, kMaxNameLength + 1);
    if (length > kMaxNameLength) continue;
    // An object a program copied from a library (a copy relocation: stdout, environ) is named
    // "stdout@GLIBC_2.2.5" in its .symtab: the name without the version.
    if (const char* at = object ? static_cast<const char*>(std::memchr(name, '@', length)) : nullptr; at && at != name)
      length = static_cast<size_t>(at - name);
    if ((name_bytes += length) > kMaxNameBytes) return false;
    uint64_t section_end = 0;
    GElf_Shdr section;
    if (sym.st_shndx < SHN_LORESERVE && gelf_getshdr(elf_getscn(elf, sym.st_shndx), &section) != nullptr &&
        (section.sh_flags & SHF_ALLOC) != 0) {
      section_end = section.sh_addr + section.sh_size;
    }
    (object ? *objects : out)
        .push_back(
            RawSymbol{sym.st_value, sym.st_size, section_end, binding_rank(sym.st_info), std::string(name, length)});
  }
  return true;
}

std::string to_hex(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0xf]);
  }
  return hex;
}

// The GNU build ID among the notes of data, or empty.
std::string find_build_id(Elf_Data* data) {
  if (data == nullptr || data->d_buf == nullptr) {
    return {};
  }
  const auto* base = static_cast<const unsigned char*>(data->d_buf);
  size_t offset = 0;
  GElf_Nhdr nhdr;
  size_t name_offset = 0;
  size_t desc_offset = 0;
  while (true) {
    size_t next = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset);
    if (next == 0) {
      return {};
    }
    if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 && std::memcmp(base + name_offset, "GNU", 4) == 0 &&
        nhdr.n_descsz > 0) {
      return to_hex(base + desc_offset, nhdr.n_descsz);
    }
    offset = next;
  }
}

// The GNU build ID of elf from its note sections or, without section headers, its PT_NOTE
// segments; empty when it has none.
std::string elf_build_id(Elf* elf) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE || shdr.sh_size > elf_limits::kNoteCap)
      continue;
    if (std::string id = find_build_id(elf_getdata(scn, nullptr)); !id.empty()) return id;
  }
  size_t phdr_count = 0;
  if (elf_getphdrnum(elf, &phdr_count) != 0) return {};
  for (size_t i = 0; i < phdr_count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_NOTE ||
        phdr.p_filesz > elf_limits::kNoteCap) {
      continue;
    }
    Elf_Type note_type = phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR;
    std::string id =
        find_build_id(elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset), phdr.p_filesz, note_type));
    if (!id.empty()) return id;
  }
  return {};
}

// Gives every size-0 symbol the range up to the next symbol, but not past the end of its section
// (so that the PLT after _init is not named _init).
void fill_missing_sizes(std::vector<RawSymbol>& symbols) {
  for (size_t i = 0; i < symbols.size(); ++i) {
    RawSymbol& sym = symbols[i];
    if (sym.size != 0) {
      continue;
    }
    uint64_t end = sym.section_end;
    if (i + 1 < symbols.size() && (end == 0 || symbols[i + 1].address < end)) {
      end = symbols[i + 1].address;
    }
    sym.size = end > sym.address ? end - sym.address : 1;  // at least the address itself
  }
}

/// MiniDebugInfo (.gnu_debugdata, as Fedora ships it): an xz-compressed ELF whose .symtab holds
/// the local functions the stripped file lost. Its symbols are added to out; false on any error.
// A compressed symbol table can claim any size: what it may grow to in memory.
constexpr size_t kMiniDebugInfoCap = 64u << 20;

bool read_mini_debuginfo(Elf_Data* data, std::vector<RawSymbol>& out) {
  if (data == nullptr || data->d_buf == nullptr || data->d_size == 0) return false;
  const auto* in = static_cast<const uint8_t*>(data->d_buf);
  std::vector<uint8_t> plain(std::clamp<size_t>(data->d_size * 8, 1 << 16, kMiniDebugInfoCap));
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint64_t memlimit = kMiniDebugInfoCap;  // the stream's header chooses the dictionary size
    size_t in_pos = 0, out_pos = 0;
    lzma_ret ret = lzma_stream_buffer_decode(&memlimit, 0, nullptr, in, &in_pos, data->d_size, plain.data(), &out_pos,
                                             plain.size());
    if (ret == LZMA_BUF_ERROR && plain.size() < kMiniDebugInfoCap) {  // the output did not fit: grow
      plain.resize(std::min(plain.size() * 4, kMiniDebugInfoCap));
      continue;
    }
    if (ret != LZMA_OK) return false;
    plain.resize(out_pos);
    ElfHandle inner(elf_memory(reinterpret_cast<char*>(plain.data()), plain.size()));
    if (!inner || elf_kind(inner.get()) != ELF_K_ELF) return false;
    Elf_Scn* scn = nullptr;
    size_t entries = 0, name_bytes = 0;
    while ((scn = elf_nextscn(inner.get(), scn)) != nullptr) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == SHT_SYMTAB &&
          !read_symbol_table(inner.get(), scn, shdr, out, entries, name_bytes))
        return false;
    }
    return true;  // names were copied out before the buffer goes
  }
  return false;
}

/// raw sorted with one symbol per address (the preferred alias, with the first non-zero size among
/// the aliases), as Symbols; size-0 ones are given sizes by fill when it is set (functions).
std::vector<Symbol> merge_aliases(std::vector<RawSymbol>& raw, bool fill) {
  std::sort(raw.begin(), raw.end(), raw_symbol_less);
  std::vector<RawSymbol> merged;
  for (RawSymbol& r : raw) {
    if (!merged.empty() && merged.back().address == r.address) {
      if (merged.back().size == 0) {
        merged.back().size = r.size;
      }
      continue;
    }
    merged.push_back(std::move(r));
  }
  if (fill) fill_missing_sizes(merged);
  std::vector<Symbol> symbols;
  symbols.reserve(merged.size());
  for (RawSymbol& r : merged) {
    symbols.push_back(Symbol{r.address, r.size, std::move(r.name)});
  }
  return symbols;
}

/// Merges two tables sorted by address with one symbol per address; over's symbol wins where both have one.
std::vector<Symbol> merge_tables(const std::vector<Symbol>& base, const std::vector<Symbol>& over) {
  std::vector<Symbol> out;
  out.reserve(base.size() + over.size());
  size_t i = 0, j = 0;
  while (i < base.size() || j < over.size()) {
    if (j == over.size() || (i < base.size() && base[i].address < over[j].address)) {
      out.push_back(base[i++]);
    } else {
      if (i < base.size() && base[i].address == over[j].address) ++i;
      out.push_back(over[j++]);
    }
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const ElfSymbols>> ElfSymbols::load(const std::string& path) {
  auto fd = safe_file::open_trusted(path, safe_file::Rules{});
  if (!fd) {
    return Error{"load symbols from " + path, fd.error().reason, fd.error().err, {}};
  }
  return load_fd(fd->get(), path);
}

// The ELF file open at fd, read with read() (not mmap: see elf_limits.h); errors say what (e.g.
// "load symbols from") name.
Result<ElfHandle> open_elf(int fd, const std::string& what, const std::string& name) {
  if (!init_libelf()) return Error{what + " " + name, elf_errmsg(-1), 0, {}};
  ElfHandle elf(elf_begin(fd, ELF_C_READ, nullptr));
  if (!elf) return Error{what + " " + name, elf_errmsg(-1), 0, {}};
  if (elf_kind(elf.get()) != ELF_K_ELF) return Error{what + " " + name, "not an ELF file", 0, {}};
  return elf;
}

Result<std::string> read_build_id_fd(int fd, const std::string& name) {
  auto elf = open_elf(fd, "read the build id of", name);
  if (!elf) return elf.error();
  return elf_build_id(elf->get());
}

Result<std::shared_ptr<const ElfSymbols>> ElfSymbols::load_fd(int fd, const std::string& name) {
  auto opened = open_elf(fd, "load symbols from", name);
  if (!opened) return opened.error();
  ElfHandle elf = std::move(*opened);

  std::shared_ptr<ElfSymbols> result(new ElfSymbols());
  result->path_ = name;

  size_t phdr_count = 0;
  if (elf_getphdrnum(elf.get(), &phdr_count) != 0) {
    return elf_error(name);
  }
  for (size_t i = 0; i < phdr_count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_LOAD) {
      continue;
    }
    result->segments_.push_back(LoadSegment{phdr.p_vaddr, phdr.p_memsz, phdr.p_offset, phdr.p_filesz, phdr.p_flags});
  }

  std::vector<RawSymbol> raw;
  // Data objects of .symtab, and of .dynsym for a file without .symtab (a subset of it otherwise).
  std::vector<RawSymbol> symtab_objects, dynsym_objects;
  bool has_symtab = false;
  size_t entries = 0, name_bytes = 0;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf.get(), scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) {
      continue;
    }
    if (shdr.sh_type == SHT_SYMTAB || shdr.sh_type == SHT_DYNSYM) {
      has_symtab = has_symtab || shdr.sh_type == SHT_SYMTAB;
      if (!read_symbol_table(elf.get(), scn, shdr, raw, entries, name_bytes,
                             shdr.sh_type == SHT_SYMTAB ? &symtab_objects : &dynsym_objects))
        return Error{"load symbols from " + name,
                     "its symbol tables exceed the caps (" + std::to_string(kMaxSymbolEntries) + " entries, " +
                         std::to_string(kMaxNameBytes >> 20) + " MiB of names)",
                     EFBIG,
                     {}};
    } else if (shdr.sh_type == SHT_PROGBITS) {
      size_t shstrndx = 0;
      const char* name =
          elf_limits::names_index(elf.get(), &shstrndx) ? elf_strptr(elf.get(), shstrndx, shdr.sh_name) : nullptr;
      if (name && std::string_view(name) == ".gnu_debugdata" && shdr.sh_size <= kMiniDebugInfoCap)
        read_mini_debuginfo(elf_getdata(scn, nullptr), raw);
      Elf_Data* data = name && std::string_view(name) == ".gnu_debuglink" && shdr.sh_size <= 4096
                           ? elf_getdata(scn, nullptr)
                           : nullptr;
      if (data && data->d_buf && data->d_size > 4) {
        // A NUL-terminated file name, padded to 4 bytes, then a CRC32 (not checked: the build id is).
        const char* file = static_cast<const char*>(data->d_buf);
        result->debuglink_.assign(file, strnlen(file, data->d_size - 4));
      }
    }
  }
  result->build_id_ = elf_build_id(elf.get());

  result->symbols_ = merge_aliases(raw, true);
  result->objects_ = merge_aliases(has_symtab ? symtab_objects : dynsym_objects, false);
  return std::shared_ptr<const ElfSymbols>(std::move(result));
}

const Symbol* ElfSymbols::lookup(uint64_t elf_vaddr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), elf_vaddr,
                             [](uint64_t v, const Symbol& s) { return v < s.address; });
  if (it == symbols_.begin()) {
    return nullptr;
  }
  --it;
  if (elf_vaddr - it->address < it->size) {
    return &*it;
  }
  return nullptr;
}

const Symbol* ElfSymbols::lookup_object(uint64_t elf_vaddr) const {
  auto it = std::upper_bound(objects_.begin(), objects_.end(), elf_vaddr,
                             [](uint64_t v, const Symbol& s) { return v < s.address; });
  if (it == objects_.begin()) return nullptr;
  --it;
  return elf_vaddr - it->address < std::max<uint64_t>(it->size, 1) ? &*it : nullptr;
}

std::optional<uint64_t> ElfSymbols::file_offset_to_vaddr(uint64_t file_offset) const {
  for (const LoadSegment& seg : segments_) {
    if (file_offset >= seg.offset && file_offset - seg.offset < seg.filesz) {
      return file_offset - seg.offset + seg.vaddr;
    }
  }
  return std::nullopt;
}

std::shared_ptr<const ElfSymbols> ElfSymbols::with_debug_symbols(const ElfSymbols& base, const ElfSymbols& debug) {
  std::shared_ptr<ElfSymbols> out(new ElfSymbols());
  out->path_ = base.path_;
  out->build_id_ = base.build_id_;
  out->debug_path_ = debug.path_;
  out->segments_ = base.segments_;
  // Both are sorted by address with one symbol per address; the debug file's (the full .symtab)
  // win where both have one.
  out->symbols_ = merge_tables(base.symbols_, debug.symbols_);
  out->objects_ = merge_tables(base.objects_, debug.objects_);
  return out;
}

size_t ElfSymbols::memory_bytes() const {
  size_t bytes = sizeof(*this) + path_.capacity() + build_id_.capacity();
  bytes += (symbols_.capacity() + objects_.capacity()) * sizeof(Symbol) + segments_.capacity() * sizeof(LoadSegment);
  for (const std::vector<Symbol>* table : {&symbols_, &objects_}) {
    for (const Symbol& sym : *table) {
      if (sym.name.size() >= sizeof(std::string)) {  // longer than the small-string buffer
        bytes += sym.name.capacity() + 1;
      }
    }
  }
  return bytes;
}

}  // namespace scorch
