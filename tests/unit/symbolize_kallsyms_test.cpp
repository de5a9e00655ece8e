#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "symbolize/kallsyms.h"

namespace scorch {
namespace {

// Deliberately unsorted, with data symbols, aliases, markers and module symbols.
constexpr const char* kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81000000 T _text\n"
    "ffffffff81001000 t early_helper\n"
    "ffffffff81002000 T schedule\n"
    "ffffffff81002100 W weak_thing\n"
    "ffffffff82000000 D some_data\n"
    "ffffffff81003000 T _etext\n"
    "ffffffff82100000 T _sinittext\n"
    "ffffffff82100400 t init_only\n"
    "ffffffff82200000 T _einittext\n"
    "ffffffffc0a01000 t ext4_thing\t[ext4]\n"
    "ffffffffc0a00000 T ext4_file_write_iter\t[ext4]\n"
    "ffffffffc0b00000 t bpf_prog_6deef7357e7b4530_sd_fw_ingress\t[bpf]\n"
    "ffffffff83000000 b bss_thing\n"
    "not a line\n";

TEST(SymbolizeKallsyms, KeepsOnlyTextSymbolsSorted) {
  KernelSymbols syms = KernelSymbols::parse(kKallsyms);
  EXPECT_FALSE(syms.addresses_hidden());
  for (size_t i = 1; i < syms.symbols().size(); ++i) {
    EXPECT_LT(syms.symbols()[i - 1].address, syms.symbols()[i].address);
  }
  for (const KernelSymbol& sym : syms.symbols()) {
    EXPECT_NE(sym.name, "some_data");
    EXPECT_NE(sym.name, "bss_thing");
  }
  // _stext/_text are aliases: one kept.
  EXPECT_EQ(syms.symbols().size(), 11u);
}

TEST(SymbolizeKallsyms, LookupNearestLowerSymbol) {
  KernelSymbols syms = KernelSymbols::parse(kKallsyms);
  EXPECT_EQ(syms.lookup(0xffffffff81002000), "schedule");
  EXPECT_EQ(syms.lookup(0xffffffff81002001), "schedule");
  EXPECT_EQ(syms.lookup(0xffffffff810020ff), "schedule");
  EXPECT_EQ(syms.lookup(0xffffffff81002100), "weak_thing");
  EXPECT_EQ(syms.lookup(0xffffffff81001234), "early_helper");
  EXPECT_EQ(syms.lookup(0xffffffff82100404), "init_only");
  EXPECT_EQ(syms.lookup(0xffffffff81000010), "_text");
}

TEST(SymbolizeKallsyms, OutsideKernelText) {
  KernelSymbols syms = KernelSymbols::parse(kKallsyms);
  EXPECT_EQ(syms.lookup(0), std::nullopt);
  EXPECT_EQ(syms.lookup(0x1000), std::nullopt);              // below the first symbol
  EXPECT_EQ(syms.lookup(0xffffffff81003000), std::nullopt);  // at _etext
  EXPECT_EQ(syms.lookup(0xffffffff81500000), std::nullopt);  // data between _etext and init text
  EXPECT_EQ(syms.lookup(0xffffffff90000000), std::nullopt);  // past _einittext, before modules
}

TEST(SymbolizeKallsyms, ModuleSymbols) {
  KernelSymbols syms = KernelSymbols::parse(kKallsyms);
  EXPECT_EQ(syms.lookup(0xffffffffc0a00010), "ext4_file_write_iter");
  EXPECT_EQ(syms.lookup(0xffffffffc0a01010), "ext4_thing");
  std::optional<KernelSymbol> sym = syms.lookup_symbol(0xffffffffc0a01010);
  ASSERT_TRUE(sym.has_value());
  EXPECT_EQ(sym->module, "ext4");
  std::optional<KernelSymbol> prog = syms.lookup_symbol(0xffffffffc0b00040);
  ASSERT_TRUE(prog.has_value());
  EXPECT_EQ(prog->name, "bpf_prog_6deef7357e7b4530_sd_fw_ingress");
  EXPECT_EQ(prog->module, "bpf");
  EXPECT_EQ(syms.lookup_symbol(0xffffffff81002000)->module, "");
}

TEST(SymbolizeKallsyms, ZeroAddressesMeanHidden) {
  KernelSymbols syms = KernelSymbols::parse(
      "0000000000000000 T _text\n"
      "0000000000000000 T schedule\n"
      "0000000000000000 t ext4_thing\t[ext4]\n");
  EXPECT_TRUE(syms.addresses_hidden());
  EXPECT_TRUE(syms.empty());
  EXPECT_EQ(syms.lookup(0xffffffff81002000), std::nullopt);
}

TEST(SymbolizeKallsyms, EmptyText) {
  KernelSymbols syms = KernelSymbols::parse("");
  EXPECT_TRUE(syms.empty());
  EXPECT_FALSE(syms.addresses_hidden());
  EXPECT_EQ(syms.lookup(0xffffffff81002000), std::nullopt);
}

TEST(SymbolizeKallsyms, RanksAliasesAtOneAddress) {
  KernelSymbols syms = KernelSymbols::parse(
      "ffffffff81005000 T beta\n"
      "ffffffff81001000 t local\n"
      "ffffffff81001000 T __glob\n"
      "ffffffff81002000 T __a\n"
      "ffffffff81002000 T _bbbbbb\n"
      "ffffffff81003000 W longer_name\n"
      "ffffffff81003000 T short\n"
      "ffffffff81004000 T beta\n"
      "ffffffff81004000 T alfa\n"
      "ffffffff81005000 T ___\n"
      "ffffffff81005000 T ____x\n");
  EXPECT_EQ(syms.lookup(0xffffffff81001000), "__glob");   // global before local
  EXPECT_EQ(syms.lookup(0xffffffff81002000), "_bbbbbb");  // fewer leading underscores
  EXPECT_EQ(syms.lookup(0xffffffff81003000), "short");    // shorter
  EXPECT_EQ(syms.lookup(0xffffffff81004000), "alfa");     // then by name
  EXPECT_EQ(syms.lookup(0xffffffff81005000), "beta");     // all underscores ranks last
  EXPECT_EQ(syms.symbols().size(), 5u);
}

TEST(SymbolizeKallsyms, InterleavedModulesAndLastLineWithoutNewline) {
  KernelSymbols syms = KernelSymbols::parse(
      "ffffffffc0001000 t a_one\t[mod_a]\n"
      "ffffffffc0002000 t b_one\t[mod_b]\n"
      "ffffffffc0003000 t a_two\t[mod_a]\n"
      "ffffffffc0004000 t bare\tnobrackets\n"
      "ffffffffc0005000 T last\t[mod_b]");
  ASSERT_EQ(syms.symbols().size(), 5u);
  EXPECT_EQ(syms.symbols()[0].module, "mod_a");
  EXPECT_EQ(syms.symbols()[1].module, "mod_b");
  EXPECT_EQ(syms.symbols()[2].module, "mod_a");
  EXPECT_EQ(syms.symbols()[3].module, "nobrackets");
  EXPECT_EQ(syms.symbols()[4].name, "last");
  EXPECT_EQ(syms.symbols().back().module, "mod_b");
}

TEST(SymbolizeKallsyms, LoadMatchesParseAcrossReadBoundaries) {
  // Well over one 64 KiB read, so lines are split between reads.
  std::string text;
  for (int i = 0; i < 6000; ++i) {
    char line[128];
    std::snprintf(line, sizeof(line), "ffffffff%08x %c symbol_number_%d%s\n", 0x81000000 + (i / 2) * 16,
                  i % 3 == 0 ? 't' : 'T', i, i % 5 == 0 ? "\t[some_module]" : "");
    text += line;
  }
  std::string file = "/tmp/scorch_kallsyms_test_" + std::to_string(::getpid());
  {
    std::ofstream out(file);
    out << text;
  }
  auto loaded = KernelSymbols::load(file);
  std::filesystem::remove(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  KernelSymbols parsed = KernelSymbols::parse(text);
  ASSERT_EQ(loaded->symbols().size(), 3000u);
  ASSERT_EQ(loaded->symbols().size(), parsed.symbols().size());
  for (size_t i = 0; i < parsed.symbols().size(); ++i) {
    EXPECT_EQ(loaded->symbols()[i].address, parsed.symbols()[i].address);
    EXPECT_EQ(loaded->symbols()[i].name, parsed.symbols()[i].name);
    EXPECT_EQ(loaded->symbols()[i].module, parsed.symbols()[i].module);
  }
  EXPECT_EQ(loaded->memory_bytes(), parsed.memory_bytes());
}

TEST(SymbolizeKallsyms, HiddenAddressesAreAnErrorWithHint) {
  std::string file = "/tmp/scorch_kallsyms_hidden_" + std::to_string(::getpid());
  {
    std::ofstream out(file);
    out << "0000000000000000 T _text\n0000000000000000 T schedule\n";
  }
  auto loaded = KernelSymbols::load(file);
  std::filesystem::remove(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().reason.find("kptr_restrict"), std::string::npos);
  EXPECT_FALSE(loaded.error().hint.empty());
}

TEST(SymbolizeKallsyms, MissingFileIsAnError) {
  auto syms = KernelSymbols::load("/nonexistent/kallsyms");
  ASSERT_FALSE(syms.ok());
  EXPECT_EQ(syms.error().message(),
            "failed to read kernel symbols from /nonexistent/kallsyms: No such file or directory");
}

TEST(SymbolizeKallsyms, RealKallsymsFindsSchedule) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: /proc/kallsyms shows zero addresses to other users";
  }
  auto syms = KernelSymbols::load();
  if (!syms.ok() && syms.error().reason.find("kptr_restrict") != std::string::npos) {
    GTEST_SKIP() << syms.error().message();
  }
  ASSERT_TRUE(syms.ok()) << syms.error().message();

  // The oracle: the address the file itself lists for schedule.
  std::ifstream file("/proc/kallsyms");
  std::string line;
  uint64_t schedule = 0;
  while (std::getline(file, line)) {
    if (line.size() > 11 && line.ends_with(" schedule") && (line[line.size() - 10] == 'T')) {
      schedule = std::stoull(line.substr(0, line.find(' ')), nullptr, 16);
      break;
    }
  }
  ASSERT_NE(schedule, 0u) << "no 'T schedule' line in /proc/kallsyms";
  EXPECT_EQ(syms->lookup(schedule), "schedule");
  EXPECT_EQ(syms->lookup(schedule + 1), "schedule");
  // At least 16 bytes per entry plus the names; well under the old ~80 bytes per symbol.
  size_t name_bytes = 0;
  for (const KernelSymbol& sym : syms->symbols()) {
    name_bytes += sym.name.size();
  }
  EXPECT_GE(syms->memory_bytes(), syms->symbols().size() * 16 + name_bytes);
  EXPECT_LT(syms->memory_bytes(), syms->symbols().size() * 24 + name_bytes + 64 * 1024);
}

}  // namespace
}  // namespace scorch
