// MiniDebugInfo: a stripped file whose .gnu_debugdata (an xz-compressed ELF holding .symtab, as
// Fedora's find-debuginfo makes it) brings back the names .dynsym lacks.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "fixture_util.h"
#include "symbolize/elf_symbols.h"

namespace scorch {
namespace {

TEST(SymbolizeMiniDebugInfo, StrippedFileIsNamedFromGnuDebugdata) {
  char tmpl[] = "/tmp/scorch-minidebug.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, bin = dir + "/bin", plain = dir + "/plain";
  // The recipe of find-debuginfo.sh: keep the function symbols of the debug file, xz it, embed it.
  bool ok = false;
  fixture::run_command(
      "set -e; cd " + dir + "; cp '" + fixture::path("fixture_symbols") + "' bin;" +
          " objcopy --only-keep-debug bin dbg;"
          " nm bin --format=posix --defined-only | awk '$2 == \"T\" || $2 == \"t\" {print $1}' > funcs;"
          " objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=funcs dbg mini;"
          " xz -k mini; strip --strip-all bin; cp bin plain;"
          " objcopy --add-section .gnu_debugdata=mini.xz bin",
      &ok);
  ASSERT_TRUE(ok) << "could not build the MiniDebugInfo fixture in " << dir;

  auto expect_name = [](const ElfSymbols& elf, const std::string& name, bool present) {
    auto truth = fixture::nm_symbols(fixture::path("fixture_symbols"));
    for (const auto& sym : truth) {
      if (sym.name != name) continue;
      const Symbol* found = elf.lookup(sym.address);
      if (present) {
        ASSERT_NE(found, nullptr) << name;
        EXPECT_EQ(found->name, name);
      } else {
        EXPECT_TRUE(found == nullptr || found->name != name) << name << " should be gone from the plain strip";
      }
      return;
    }
    ADD_FAILURE() << name << " not in the oracle";
  };
  auto stripped = ElfSymbols::load(plain);
  ASSERT_TRUE(stripped) << stripped.error().message();
  expect_name(**stripped, "fixture_static_helper", false);  // the premise: strip removed it

  auto mini = ElfSymbols::load(bin);
  ASSERT_TRUE(mini) << mini.error().message();
  expect_name(**mini, "fixture_static_helper", true);
  expect_name(**mini, "fixture_alpha", true);
  expect_name(**mini, "fixture_beta", true);
  fixture::run_command("rm -rf " + dir);
}

}  // namespace
}  // namespace scorch
