// A traced program chooses its own ELF files: section headers that claim huge symbol tables or
// compressed sections that would inflate to gigabytes are refused before the daemon spends the
// memory. The files here are real fixtures with one header field patched to such a claim.
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/unique_fd.h"
#include "fixture_util.h"
#include "symbolize/elf_symbols.h"
#include "unwind/table_builder.h"

namespace scorch {
namespace {

class ElfCaps : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/scorch-elf-caps-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_NE(elf_version(EV_CURRENT), EV_NONE);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string copy(const std::string& fixture) {
    std::string to = dir_ + "/" + fixture;
    std::filesystem::copy_file(fixture::path(fixture), to);
    return to;
  }

  // Where section name's header (or, with chdr, its compression header) sits in file.
  static off_t locate(const std::string& file, const std::string& name, bool chdr) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
    size_t shstrndx = 0;
    off_t where = -1;
    GElf_Ehdr ehdr;
    if (elf && gelf_getehdr(elf, &ehdr) && elf_getshdrstrndx(elf, &shstrndx) == 0) {
      Elf_Scn* scn = nullptr;
      while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        const char* n = gelf_getshdr(scn, &shdr) ? elf_strptr(elf, shstrndx, shdr.sh_name) : nullptr;
        if (n && name == n)
          where = chdr ? static_cast<off_t>(shdr.sh_offset)
                       : static_cast<off_t>(ehdr.e_shoff + elf_ndxscn(scn) * ehdr.e_shentsize);
      }
    }
    if (elf) elf_end(elf);
    return where;
  }
  static void patch_u64(const std::string& file, off_t at, uint64_t value) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(::pwrite(fd.get(), &value, sizeof(value), at), static_cast<ssize_t>(sizeof(value)));
  }

  std::string dir_;
};

TEST_F(ElfCaps, ASymbolTableClaimingMillionsOfEntriesIsRefused) {
  std::string file = copy("fixture_symbols");
  ASSERT_TRUE(ElfSymbols::load(file).ok()) << "the unpatched copy loads";
  off_t shdr = locate(file, ".symtab", false);
  ASSERT_GE(shdr, 0);
  // Elf64_Shdr: sh_size at 32; 24-byte entries: 9 million of them.
  patch_u64(file, shdr + 32, 9'000'000ull * 24);
  auto loaded = ElfSymbols::load(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().err, EFBIG);
  EXPECT_NE(loaded.error().reason.find("exceed the caps (8388608 entries"), std::string::npos) << loaded.error().reason;
}

TEST_F(ElfCaps, ACompressedDebugSectionClaimingGigabytesIsNotInflated) {
  // A file with only .debug_frame (libdw opens its DWARF, inflating compressed .debug_* sections).
  std::string file = copy("fixture_unwind_debug_frame");
  ASSERT_EQ(std::system(("objcopy --compress-debug-sections=zlib " + file).c_str()), 0);
  auto before = build_unwind_table(file);
  ASSERT_TRUE(before.ok()) << before.error().message();
  EXPECT_GT(before->rows.size(), 0u) << "the compressed copy still unwinds";
  off_t chdr = locate(file, ".debug_frame", true);
  ASSERT_GE(chdr, 0);
  // Elf64_Chdr: ch_type, ch_reserved, then ch_size at 8.
  patch_u64(file, chdr + 8, 4ull << 30);
  auto table = build_unwind_table(file);
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.error().reason.find("its .debug sections are larger than the 256 MiB cap"), std::string::npos)
      << table.error().message();
}

}  // namespace
}  // namespace scorch
