#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
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
  EXPECT_EQ(syms.lookup(0x1000), std::nullopt);               // below the first symbol
  EXPECT_EQ(syms.lookup(0xffffffff81003000), std::nullopt);   // at _etext
  EXPECT_EQ(syms.lookup(0xffffffff81500000), std::nullopt);   // data between _etext and init text
  EXPECT_EQ(syms.lookup(0xffffffff90000000), std::nullopt);   // past _einittext, before modules
}

TEST(SymbolizeKallsyms, ModuleSymbols) {
  KernelSymbols syms = KernelSymbols::parse(kKallsyms);
  EXPECT_EQ(syms.lookup(0xffffffffc0a00010), "ext4_file_write_iter");
  EXPECT_EQ(syms.lookup(0xffffffffc0a01010), "ext4_thing");
  const KernelSymbol* sym = syms.lookup_symbol(0xffffffffc0a01010);
  ASSERT_NE(sym, nullptr);
  EXPECT_EQ(sym->module, "ext4");
  const KernelSymbol* prog = syms.lookup_symbol(0xffffffffc0b00040);
  ASSERT_NE(prog, nullptr);
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

TEST(SymbolizeKallsyms, MissingFileIsAnError) {
  auto syms = KernelSymbols::load("/nonexistent/kallsyms");
  ASSERT_FALSE(syms.ok());
  EXPECT_EQ(syms.error().message(), "failed to read kernel symbols from /nonexistent/kallsyms: No such file or directory");
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
  EXPECT_GT(syms->memory_bytes(), syms->symbols().size() * sizeof(KernelSymbol));
}

}  // namespace
}  // namespace scorch
