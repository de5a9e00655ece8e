#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <sstream>

#include "common/unique_fd.h"
#include "fixture_util.h"
#include "symbolize/elf_symbols.h"

namespace scorch {
namespace {

std::shared_ptr<const ElfSymbols> load_or_fail(const std::string& file) {
  auto elf = ElfSymbols::load(file);
  EXPECT_TRUE(elf.ok()) << elf.error().message();
  return elf.ok() ? *elf : nullptr;
}

// Every text symbol nm reports must be found at its address and inside its body.
void expect_nm_text_symbols_found(const std::string& file, const std::string& nm_flags) {
  SCOPED_TRACE(file + " " + nm_flags);
  auto elf = load_or_fail(file);
  ASSERT_NE(elf, nullptr);
  std::vector<fixture::NmSymbol> nm = fixture::nm_symbols(file, nm_flags);
  auto aliases = fixture::names_by_address(nm);
  size_t checked = 0;
  for (const fixture::NmSymbol& sym : nm) {
    if (sym.type != 'T' && sym.type != 't') {
      continue;
    }
    SCOPED_TRACE(sym.name);
    const Symbol* at = elf->lookup(sym.address);
    ASSERT_NE(at, nullptr);
    EXPECT_EQ(at->address, sym.address);
    EXPECT_TRUE(aliases[sym.address].count(at->name)) << "got " << at->name;
    if (sym.size != 0) {
      EXPECT_EQ(at->size, sym.size);
    }
    uint64_t inside = sym.size != 0 ? sym.address + sym.size / 2 : sym.address + 1;
    const Symbol* mid = elf->lookup(inside);
    ASSERT_NE(mid, nullptr);
    EXPECT_TRUE(aliases[sym.address].count(mid->name)) << "got " << mid->name;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

TEST(SymbolizeElfSymbols, PieMatchesNm) { expect_nm_text_symbols_found(fixture::path("fixture_symbols"), ""); }

TEST(SymbolizeElfSymbols, NoPieMatchesNm) { expect_nm_text_symbols_found(fixture::path("fixture_symbols_nopie"), ""); }

TEST(SymbolizeElfSymbols, SharedLibraryMatchesNm) { expect_nm_text_symbols_found(fixture::path("libfixture.so"), ""); }

TEST(SymbolizeElfSymbols, KnownFunctionsPresent) {
  auto elf = load_or_fail(fixture::path("fixture_symbols"));
  ASSERT_NE(elf, nullptr);
  std::set<std::string> names;
  for (const Symbol& sym : elf->symbols()) {
    names.insert(sym.name);
  }
  EXPECT_TRUE(names.count("fixture_alpha"));
  EXPECT_TRUE(names.count("fixture_beta"));
  EXPECT_TRUE(names.count("fixture_static_helper"));
  EXPECT_TRUE(names.count("fixture_exported"));
  EXPECT_TRUE(names.count("main"));
  EXPECT_FALSE(names.count("fixture_global"));  // an object, not a function
}

TEST(SymbolizeElfSymbols, SortedOneSymbolPerAddress) {
  // fixture_exported is in both .symtab and .dynsym: it must appear once.
  auto elf = load_or_fail(fixture::path("fixture_symbols"));
  ASSERT_NE(elf, nullptr);
  ASSERT_FALSE(elf->symbols().empty());
  for (size_t i = 1; i < elf->symbols().size(); ++i) {
    EXPECT_LT(elf->symbols()[i - 1].address, elf->symbols()[i].address);
  }
}

TEST(SymbolizeElfSymbols, StrippedUsesDynsym) {
  std::string file = fixture::path("fixture_symbols_stripped");
  auto elf = load_or_fail(file);
  ASSERT_NE(elf, nullptr);
  std::vector<fixture::NmSymbol> dynsym = fixture::nm_symbols(file, "-D");
  const fixture::NmSymbol* exported = nullptr;
  for (const fixture::NmSymbol& sym : dynsym) {
    if (sym.name == "fixture_exported") exported = &sym;
  }
  ASSERT_NE(exported, nullptr) << "fixture_exported not in .dynsym of " << file;
  const Symbol* at = elf->lookup(exported->address + 1);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->name, "fixture_exported");
  for (const Symbol& sym : elf->symbols()) {
    EXPECT_NE(sym.name, "fixture_static_helper");  // only in the stripped .symtab
  }
  expect_nm_text_symbols_found(file, "-D");
}

TEST(SymbolizeElfSymbols, BuildIdMatchesReadelf) {
  for (const char* name : {"fixture_symbols", "fixture_symbols_stripped", "libfixture.so"}) {
    std::string file = fixture::path(name);
    auto elf = load_or_fail(file);
    ASSERT_NE(elf, nullptr);
    std::string expected = fixture::readelf_build_id(file);
    ASSERT_FALSE(expected.empty()) << "readelf shows no build ID for " << file;
    EXPECT_EQ(elf->build_id(), expected) << file;
    EXPECT_EQ(elf->build_id().size(), 40u);  // gcc's default sha1
    // The notes-only reader (what the unwind loader keys its tables by) finds the same.
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    auto id = read_build_id_fd(fd.get(), file);
    ASSERT_TRUE(id) << id.error().message();
    EXPECT_EQ(*id, expected) << file;
  }
  UniqueFd not_elf(::open("/etc/os-release", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(not_elf.valid());
  EXPECT_FALSE(read_build_id_fd(not_elf.get(), "/etc/os-release"));
}

TEST(SymbolizeElfSymbols, FileOffsetToVaddr) {
  for (const char* name : {"fixture_symbols", "fixture_symbols_nopie", "libfixture.so"}) {
    SCOPED_TRACE(name);
    auto elf = load_or_fail(fixture::path(name));
    ASSERT_NE(elf, nullptr);
    ASSERT_FALSE(elf->segments().empty());
    bool saw_exec = false;
    for (const LoadSegment& seg : elf->segments()) {
      if (seg.filesz == 0) continue;
      EXPECT_EQ(elf->file_offset_to_vaddr(seg.offset), seg.vaddr);
      EXPECT_EQ(elf->file_offset_to_vaddr(seg.offset + seg.filesz - 1), seg.vaddr + seg.filesz - 1);
      saw_exec = saw_exec || (seg.flags & 1) != 0;  // PF_X
    }
    EXPECT_TRUE(saw_exec);
    EXPECT_EQ(elf->file_offset_to_vaddr(uint64_t{1} << 40), std::nullopt);
  }
}

TEST(SymbolizeElfSymbols, GapsAndOutOfRange) {
  auto elf = load_or_fail(fixture::path("fixture_symbols"));
  ASSERT_NE(elf, nullptr);
  EXPECT_EQ(elf->lookup(0), nullptr);
  EXPECT_EQ(elf->lookup(uint64_t{1} << 40), nullptr);
  const Symbol& first = elf->symbols().front();
  EXPECT_EQ(elf->lookup(first.address - 1), nullptr);
}

// Address of section name as `readelf -SW` prints it, or 0.
uint64_t section_address(const std::string& file, const std::string& name) {
  std::istringstream lines(fixture::run_command("readelf -SW '" + file + "'"));
  std::string line;
  while (std::getline(lines, line)) {
    size_t bracket = line.find(']');
    if (bracket == std::string::npos) continue;
    std::istringstream fields(line.substr(bracket + 1));
    std::string section, type, address;
    fields >> section >> type >> address;
    if (section == name) return std::stoull(address, nullptr, 16);
  }
  return 0;
}

TEST(SymbolizeElfSymbols, SizeZeroSymbolStopsAtSectionEnd) {
  // _init has size 0 in the symbol table; the PLT right after it must not be named _init.
  std::string file = fixture::path("fixture_symbols");
  auto elf = load_or_fail(file);
  ASSERT_NE(elf, nullptr);
  uint64_t plt = section_address(file, ".plt");
  ASSERT_NE(plt, 0u) << "no .plt in " << file;
  EXPECT_EQ(elf->lookup(plt), nullptr);
  uint64_t init = section_address(file, ".init");
  ASSERT_NE(init, 0u);
  ASSERT_NE(elf->lookup(init), nullptr);
  EXPECT_EQ(elf->lookup(init)->name, "_init");
}

TEST(SymbolizeElfSymbols, LoadFromFd) {
  std::string file = fixture::path("libfixture.so");
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto elf = ElfSymbols::load_fd(fd, "libfixture.so");
  ::close(fd);
  ASSERT_TRUE(elf.ok()) << elf.error().message();
  EXPECT_EQ((*elf)->path(), "libfixture.so");
  bool found = false;
  for (const Symbol& sym : (*elf)->symbols()) {
    found = found || sym.name == "fixture_lib_work";
  }
  EXPECT_TRUE(found);
  EXPECT_GT((*elf)->memory_bytes(), 0u);
}

TEST(SymbolizeElfSymbols, Errors) {
  auto missing = ElfSymbols::load("/nonexistent/file");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_EQ(missing.error().message(), "failed to load symbols from /nonexistent/file: No such file or directory");

  char text_file[] = "/tmp/scorch_not_elf_XXXXXX";
  int fd = ::mkstemp(text_file);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "just text, not an ELF file\n", 27), 27);
  ::close(fd);
  auto not_elf = ElfSymbols::load(text_file);
  ::unlink(text_file);
  ASSERT_FALSE(not_elf.ok());
  EXPECT_NE(not_elf.error().message().find("not an ELF file"), std::string::npos) << not_elf.error().message();
}

}  // namespace
}  // namespace scorch
