#include "alloc/allocator.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <set>

#include "common/safe_file.h"
#include "common/unique_fd.h"
#include <linux/types.h>

#include "malloc.h"
#include "symbolize/elf_limits.h"
#include "symbolize/proc_maps.h"

namespace scorch {
namespace {

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

/// What read_allocator needs from one ELF file.
struct ElfFacts {
  std::map<std::string, uint64_t> functions;  // defined FUNC/IFUNC symbols by name -> vaddr
  std::vector<GElf_Phdr> loads;
  std::string rodata;  // .rodata, for version strings
};

Result<ElfFacts> read_elf(int fd, const std::string& name) {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  if (!ok) return Error{"read " + name, "libelf cannot be initialised", 0, {}};
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd, ELF_C_READ, nullptr));  // not mmap: see elf_limits.h
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return Error{"read " + name, "not an ELF file", ENOEXEC, {}};
  ElfFacts facts;
  size_t nph = 0;
  elf_getphdrnum(elf.get(), &nph);
  for (size_t i = 0; i < nph; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) facts.loads.push_back(ph);
  }
  size_t shstrndx = 0;
  const bool names = elf_limits::names_index(elf.get(), &shstrndx);
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf.get(), scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* sname = names ? elf_strptr(elf.get(), shstrndx, sh.sh_name) : nullptr;
    if (sname && std::strcmp(sname, ".rodata") == 0 && sh.sh_type == SHT_PROGBITS) {
      // Its first 8 MiB only, read as such: the version strings sit early.
      Elf_Data* d = elf_getdata_rawchunk(elf.get(), static_cast<int64_t>(sh.sh_offset),
                                         std::min<size_t>(sh.sh_size, 8u << 20), ELF_T_BYTE);
      if (d && d->d_buf) facts.rodata.assign(static_cast<const char*>(d->d_buf), d->d_size);
      continue;
    }
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    if (!elf_limits::table_fits(elf.get(), sh))
      return Error{"read " + name, "its symbol tables are larger than the cap", EFBIG, {}};
    Elf_Data* d = elf_getdata(scn, nullptr);
    if (!d || sh.sh_entsize == 0) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(d, static_cast<int>(i), &sym)) continue;
      int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
      if (bind != STB_GLOBAL && bind != STB_WEAK) continue;
      const char* sn = elf_strptr(elf.get(), sh.sh_link, sym.st_name);
      if (!sn || !*sn) continue;
      std::string s(sn);
      if (auto at = s.find('@'); at != std::string::npos) s.resize(at);
      facts.functions.emplace(std::move(s), sym.st_value);
    }
  }
  return facts;
}

std::optional<uint64_t> vaddr_to_offset(const ElfFacts& f, uint64_t vaddr) {
  for (const auto& ph : f.loads)
    if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz && (ph.p_flags & PF_X))
      return vaddr - ph.p_vaddr + ph.p_offset;
  return std::nullopt;
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct KindSpec {
  uint32_t kind;
  std::vector<const char*> names;
  uint16_t keep;    // argument registers the probe reads
  bool has_return;  // a return probe even when not tracking live blocks: the function may call
                    // or jump to another entry point (memalign -> malloc, glibc's realloc(NULL, n)
                    // -> malloc), and that inner call must not count twice. malloc and free
                    // call no other entry point, so the hottest calls pay no return probe.
};

const std::vector<KindSpec>& kind_specs() {
  const uint16_t di = reg_bit(kRdi), si = reg_bit(kRsi), dx = reg_bit(kRdx);
  static const std::vector<KindSpec> specs = {
      {SCORCH_ALLOC_MALLOC, {"malloc"}, di, false},
      {SCORCH_ALLOC_CALLOC, {"calloc"}, static_cast<uint16_t>(di | si), true},
      {SCORCH_ALLOC_REALLOC, {"realloc"}, static_cast<uint16_t>(di | si), true},
      {SCORCH_ALLOC_REALLOCARRAY, {"reallocarray"}, static_cast<uint16_t>(di | si | dx), true},
      {SCORCH_ALLOC_POSIX_MEMALIGN, {"posix_memalign"}, static_cast<uint16_t>(di | si | dx), true},
      {SCORCH_ALLOC_MEMALIGN, {"aligned_alloc", "memalign"}, static_cast<uint16_t>(di | si), true},
      {SCORCH_ALLOC_VALLOC, {"valloc", "pvalloc"}, di, true},
      {SCORCH_ALLOC_FREE, {"free"}, di, false},
  };
  return specs;
}

std::string classify(const std::string& file, const ElfFacts& f) {
  std::string b = base_name(file);
  auto has = [&](const char* s) { return f.functions.count(s) > 0; };
  if (b.find("jemalloc") != std::string::npos || has("mallocx")) return "jemalloc";
  if (b.find("tcmalloc") != std::string::npos || has("tc_malloc")) return "tcmalloc";
  if (b.find("mimalloc") != std::string::npos || has("mi_malloc")) return "mimalloc";
  if (b.rfind("libc.so", 0) == 0 || has("__libc_malloc")) return "glibc";
  return b;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

size_t run_of(std::string_view s, size_t pos, bool (*is)(char)) {
  size_t n = 0;
  while (pos + n < s.size() && is(s[pos + n])) ++n;
  return n;
}

// "N.N" (min_parts 2) up to "N.N.N" (max_parts 3) right after the first prefix followed by one.
// Hand-written rather than <regex>: the text is the traced program's, and libstdc++'s regex
// recurses once per character matched.
std::string dotted_after(std::string_view text, std::string_view prefix, int min_parts, int max_parts) {
  for (size_t at = text.find(prefix); at != std::string_view::npos; at = text.find(prefix, at + 1)) {
    size_t begin = at + prefix.size(), end = begin;
    int parts = 0;
    while (parts < max_parts) {
      size_t start = parts == 0 ? end : end + 1;
      if (parts > 0 && (end >= text.size() || text[end] != '.')) break;
      size_t n = run_of(text, start, is_digit);
      if (n == 0) break;
      end = start + n;
      ++parts;
    }
    if (parts >= min_parts) return std::string(text.substr(begin, end - begin));
  }
  return {};
}

// jemalloc's version string: "X.Y.Z-N-g<8 to 40 hex digits>", e.g. "5.3.0-0-g54eaed1d8b56".
std::string jemalloc_version(std::string_view text) {
  for (size_t g = text.find("-g"); g != std::string_view::npos; g = text.find("-g", g + 1)) {
    if (run_of(text, g + 2, is_hex) < 8) continue;
    size_t p = g;  // walk back over "-N" and then "X.Y.Z"
    auto digits_back = [&] {
      size_t n = 0;
      while (p > 0 && is_digit(text[p - 1])) --p, ++n;
      return n;
    };
    if (digits_back() == 0 || p == 0 || text[p - 1] != '-') continue;
    size_t end = --p;
    bool ok = digits_back() > 0;
    for (int dot = 0; ok && dot < 2; ++dot) ok = p > 0 && text[--p] == '.' && digits_back() > 0;
    if (ok) return std::string(text.substr(p, end - p));
  }
  return {};
}

}  // namespace

std::string allocator_version(const std::string& name, std::string_view rodata) {
  if (name == "glibc") return dotted_after(rodata, "release version ", 2, 2);
  if (name == "jemalloc") return jemalloc_version(rodata);
  if (name == "tcmalloc") return dotted_after(rodata, "gperftools ", 2, 3);
  return {};
}

std::string Allocator::describe() const {
  std::string s = name;
  if (!version.empty()) s += " " + version;
  s += in_executable ? " (linked into " + base_name(file) + ")" : " (" + base_name(file) + ")";
  return s;
}

std::string Allocator::probe_sites() const {
  std::string s;
  for (const auto& f : functions) {
    if (!s.empty()) s += ", ";
    s += f.name + "+" + std::to_string(f.site.offset) + " " + f.site.insn;
  }
  return s;
}

Result<Allocator> read_allocator(const std::string& file, const std::string& attach_path, bool in_executable) {
  auto fd = safe_file::open_trusted(attach_path, safe_file::Rules{});
  if (!fd) return Error{"open " + file, fd.error().reason, fd.error().err, {}};
  return read_allocator_fd(file, std::make_shared<const UniqueFd>(std::move(fd).value()), in_executable);
}

Result<Allocator> read_allocator_fd(const std::string& file, std::shared_ptr<const UniqueFd> fd_ptr,
                                    bool in_executable) {
  const UniqueFd& fd = *fd_ptr;
  auto facts = read_elf(fd.get(), file);
  if (!facts) return facts.error();
  Allocator a;
  a.file = file;
  // The probes go on this very inode: the kernel resolves the path again at every attach (duty
  // windows attach again and again), and a path in the process's mount namespace could by then
  // lead to another file.
  a.attach_path = "/proc/self/fd/" + std::to_string(fd.get());
  a.file_fd = std::move(fd_ptr);
  a.in_executable = in_executable;
  a.name = classify(file, *facts);
  a.version = allocator_version(a.name, facts->rodata);
  std::set<uint64_t> seen;
  for (const auto& spec : kind_specs()) {
    for (const char* fname : spec.names) {
      auto it = facts->functions.find(fname);
      if (it == facts->functions.end()) continue;
      if (spec.kind == SCORCH_ALLOC_REALLOCARRAY && a.name == "glibc") {
        // glibc's reallocarray multiplies and tail-calls realloc through its PLT: the realloc
        // probe sees every call already, with the product as its size.
        a.notes.push_back("reallocarray: counted at realloc (glibc forwards it there)");
        continue;
      }
      auto off = vaddr_to_offset(*facts, it->second);
      if (!off) continue;
      if (!seen.insert(*off).second) {
        for (auto& f : a.functions)
          if (f.file_offset == *off) f.name += "/" + std::string(fname);
        continue;
      }
      std::array<uint8_t, 128> code{};
      ssize_t got = ::pread(fd.get(), code.data(), code.size(), static_cast<off_t>(*off));
      if (got <= 0) continue;
      AllocFunction fn;
      fn.kind = spec.kind;
      fn.name = fname;
      fn.file_offset = *off;
      fn.site = choose_probe_site(std::span<const uint8_t>(code.data(), static_cast<size_t>(got)), spec.keep);
      fn.has_return = spec.has_return;
      fn.return_site = fn.site.sp_words == 0 ? fn.site : ProbeSite{0, 0, false, "single-stepped"};
      a.functions.push_back(std::move(fn));
    }
  }
  bool has_malloc = std::any_of(a.functions.begin(), a.functions.end(),
                                [](const AllocFunction& f) { return f.kind == SCORCH_ALLOC_MALLOC; });
  if (!has_malloc) return Error{"find malloc in " + file, "the file defines no malloc symbol", ENOENT, {}};
  return a;
}

Result<Allocator> find_allocator(uint32_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  auto maps = read_proc_maps(pid);
  if (!maps) return Error{"trace allocations of PID " + std::to_string(pid), "no such process", ESRCH, {}};
  char exe_buf[4096];
  ssize_t n = ::readlink((proc + "/exe").c_str(), exe_buf, sizeof(exe_buf) - 1);
  std::string exe = n > 0 ? std::string(exe_buf, static_cast<size_t>(n)) : std::string();
  if (exe.ends_with(" (deleted)")) exe.resize(exe.size() - 10);

  // Distinct files with executable code, the executable first.
  struct Candidate {
    std::string file;
    const MapEntry* mapping;
    bool is_exe;
  };
  std::vector<Candidate> files;
  std::set<std::string> seen;
  for (const auto& m : *maps) {
    if (!m.executable() || !m.file_backed() || !seen.insert(m.path).second) continue;
    files.push_back(Candidate{m.path, &m, m.path == exe});
  }
  auto creds = safe_file::read_credentials(pid);
  if (!creds) return Error{"trace allocations of PID " + std::to_string(pid), "no such process", ESRCH, {}};
  std::stable_partition(files.begin(), files.end(), [](const Candidate& c) { return c.is_exe; });

  std::optional<Allocator> chosen, libc;
  std::vector<std::string> others;
  for (const auto& c : files) {
    std::string b = base_name(c.file);
    if (b.rfind("ld-linux", 0) == 0 || b.rfind("ld-", 0) == 0) continue;  // the loader's own minimal malloc
    // The very file mapped (map_files), read as far as the process itself could read it.
    auto opened = open_mapped_file(pid, *c.mapping, &*creds);
    if (!opened) continue;
    auto a = read_allocator_fd(c.file, std::make_shared<const UniqueFd>(std::move(opened->fd)), c.is_exe);
    if (!a) continue;
    if (a->name == "glibc" && !c.is_exe) {
      if (!libc) libc = std::move(*a);
      continue;
    }
    if (!chosen)
      chosen = std::move(*a);
    else
      others.push_back(a->describe());
  }
  if (!chosen) chosen = std::move(libc);
  if (!chosen)
    return Error{"find the allocator of PID " + std::to_string(pid),
                 "no mapped file defines malloc (a static binary without a symbol table?)", ENOENT,
                 "a stripped static binary hides its malloc; build with symbols, or link the C library dynamically"};
  for (const auto& o : others) chosen->notes.push_back("also mapped, not probed: " + o);
  return std::move(*chosen);
}

}  // namespace scorch
