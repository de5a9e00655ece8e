// Data symbolization: ELF data objects (globals and statics, .data and .bss) named by address, in the
// symbol tables alone and in running fixture programs (PIE and not), their shared library included.
#include <pthread.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "fixture_util.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

std::shared_ptr<const ElfSymbols> load_or_fail(const std::string& file) {
  auto elf = ElfSymbols::load(file);
  EXPECT_TRUE(elf.ok()) << elf.error().message();
  return elf.ok() ? *elf : nullptr;
}

const Symbol* object_named(const ElfSymbols& elf, const std::string& name) {
  auto it = std::find_if(elf.objects().begin(), elf.objects().end(), [&](const Symbol& s) { return s.name == name; });
  return it == elf.objects().end() ? nullptr : &*it;
}

// "name+0x<offset>" as symbolize_data shows an address inside an object.
std::string plus(const std::string& name, uint64_t offset) {
  char hex[32];
  std::snprintf(hex, sizeof(hex), "+0x%llx", static_cast<unsigned long long>(offset));
  return name + hex;
}

// The address nm gives name in file, or 0.
uint64_t nm_address(const std::string& file, const std::string& name) {
  for (const fixture::NmSymbol& sym : fixture::nm_symbols(file)) {
    if (sym.name == name) return sym.address;
  }
  return 0;
}

TEST(SymbolizeElfObjects, SymtabObjectsInTheirOwnTable) {
  const std::string file = fixture::path("fixture_data_objects");
  auto elf = load_or_fail(file);
  ASSERT_NE(elf, nullptr);
  for (size_t i = 1; i < elf->objects().size(); ++i) {
    EXPECT_LT(elf->objects()[i - 1].address, elf->objects()[i].address);
  }
  struct Expected {
    const char* name;
    uint64_t size;
  };
  for (const Expected& e :
       {Expected{"fixture_data_table", 32 * sizeof(long)}, Expected{"fixture_data_counter", 4},
        Expected{"fixture_data_mutex", sizeof(pthread_mutex_t)}, Expected{"fixture_data_scratch", 64 * 1024}}) {
    SCOPED_TRACE(e.name);
    const Symbol* object = object_named(*elf, e.name);
    ASSERT_NE(object, nullptr);
    EXPECT_EQ(object->address, nm_address(file, e.name));
    EXPECT_EQ(object->size, e.size);
    EXPECT_EQ(elf->lookup_object(object->address), object);
    EXPECT_EQ(elf->lookup_object(object->address + e.size - 1), object);
    EXPECT_NE(elf->lookup_object(object->address + e.size), object);
    EXPECT_EQ(elf->lookup(object->address), nullptr) << "an object is no function";
  }
  EXPECT_EQ(object_named(*elf, "main"), nullptr) << "a function is no object";
  EXPECT_EQ(elf->lookup_object(0), nullptr);
  EXPECT_EQ(elf->lookup_object(uint64_t{1} << 40), nullptr);
}

TEST(SymbolizeElfObjects, DynsymObjectsWithoutSymtabAndDebugFileMerge) {
  const std::string file = fixture::path("libfixture.so");
  const std::string stripped = "/tmp/scorch_libfixture_stripped_" + std::to_string(::getpid()) + ".so";
  bool ok = false;
  fixture::run_command("objcopy --strip-all '" + file + "' '" + stripped + "' 2>&1", &ok);
  ASSERT_TRUE(ok) << "objcopy --strip-all failed";
  auto full = load_or_fail(file);
  auto dynamic = load_or_fail(stripped);
  std::filesystem::remove(stripped);
  ASSERT_NE(full, nullptr);
  ASSERT_NE(dynamic, nullptr);

  ASSERT_NE(object_named(*full, "fixture_lib_state"), nullptr);  // static: in .symtab only
  ASSERT_NE(object_named(*full, "fixture_lib_mutex"), nullptr);
  EXPECT_EQ(object_named(*dynamic, "fixture_lib_state"), nullptr);
  const Symbol* mutex = object_named(*dynamic, "fixture_lib_mutex");  // global: in .dynsym
  ASSERT_NE(mutex, nullptr);
  EXPECT_EQ(mutex->address, object_named(*full, "fixture_lib_mutex")->address);

  // A stripped file with its debug file: the debug file's objects too.
  auto merged = ElfSymbols::with_debug_symbols(*dynamic, *full);
  EXPECT_NE(object_named(*merged, "fixture_lib_state"), nullptr);
  EXPECT_NE(object_named(*merged, "fixture_lib_mutex"), nullptr);
  EXPECT_EQ(merged->objects().size(), full->objects().size());
  EXPECT_GT(full->memory_bytes(), dynamic->memory_bytes());
}

/// Runs a fixture_data_objects build and names its objects by the addresses it printed.
class SymbolizeData : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(process_.start(fixture::path(GetParam()))) << GetParam() << " did not start";
    for (const char* key : {"table", "table_size", "counter", "mutex", "mutex_size", "scratch", "scratch_size",
                            "lib_state", "lib_mutex", "stdout_copy", "heap", "stack"}) {
      ASSERT_NE(process_.value(key), 0u) << GetParam() << " printed no " << key;
    }
  }

  std::string name(uint64_t addr) { return symbolizer_.symbolize_data(static_cast<uint32_t>(process_.pid()), addr); }
  uint64_t value(const char* key) const { return process_.value(key); }

  fixture::ReadyProcess process_;
  Symbolizer symbolizer_;
};

TEST_P(SymbolizeData, ProgramObjectsInDataAndBss) {
  const uint64_t table = value("table");
  EXPECT_EQ(name(table), "fixture_data_table");
  EXPECT_EQ(name(table + 8), "fixture_data_table+0x8");
  EXPECT_EQ(name(table + value("table_size") - 1), plus("fixture_data_table", value("table_size") - 1));
  EXPECT_EQ(name(value("counter")), "fixture_data_counter");  // a static
  EXPECT_EQ(name(value("counter") + 2), "fixture_data_counter+0x2");
  EXPECT_EQ(name(value("mutex")), "fixture_data_mutex");
  EXPECT_EQ(name(value("mutex") + 16), "fixture_data_mutex+0x10");
  EXPECT_EQ(name(value("mutex") + value("mutex_size") - 1), plus("fixture_data_mutex", value("mutex_size") - 1));
}

TEST_P(SymbolizeData, BssPastTheFileMapping) {
  const uint64_t scratch = value("scratch");
  const uint64_t last = scratch + value("scratch_size") - 1;
  // The test's premise: the end of the 64 KiB .bss array lies in the anonymous mapping after the file's.
  auto maps = read_proc_maps(static_cast<uint32_t>(process_.pid()));
  ASSERT_TRUE(maps.ok()) << maps.error().message();
  const MapEntry* tail = find_mapping(*maps, last);
  ASSERT_NE(tail, nullptr);
  EXPECT_FALSE(tail->file_backed()) << "the end of fixture_data_scratch is mapped from " << tail->path;

  EXPECT_EQ(name(scratch), "fixture_data_scratch");
  EXPECT_EQ(name(scratch + 0x8000), "fixture_data_scratch+0x8000");
  EXPECT_EQ(name(last), plus("fixture_data_scratch", value("scratch_size") - 1));
  EXPECT_FALSE(name(last + 1).starts_with("fixture_data_scratch")) << name(last + 1);
}

TEST_P(SymbolizeData, SharedLibraryObjects) {
  EXPECT_EQ(name(value("lib_state")), "fixture_lib_state");  // a static in .data
  EXPECT_EQ(name(value("lib_state") + 1), "fixture_lib_state+0x1");
  EXPECT_EQ(name(value("lib_mutex")), "fixture_lib_mutex");  // a global in .bss
  EXPECT_EQ(name(value("lib_mutex") + 8), "fixture_lib_mutex+0x8");
}

TEST_P(SymbolizeData, CopiedLibraryObjectWithoutVersion) {
  // The program's own copy of libc's stdout: named in its .symtab with "@GLIBC_2.2.5", shown without.
  EXPECT_EQ(name(value("stdout_copy")), "stdout");
}

TEST_P(SymbolizeData, OutsideEveryObject) {
  EXPECT_EQ(name(value("heap")), "");
  EXPECT_EQ(name(value("heap") + 8), "");
  EXPECT_EQ(name(value("stack")), "");
  EXPECT_EQ(name(0x10), "");
  EXPECT_EQ(symbolizer_.symbolize_data(0x7ffffff0u, value("table")), "") << "no such process";
}

TEST_P(SymbolizeData, NamedAfterExitOncePreparedAndCached) {
  const uint64_t before = symbolizer_.cache_bytes();
  ASSERT_TRUE(symbolizer_.prepare(static_cast<uint32_t>(process_.pid())));
  EXPECT_GT(symbolizer_.cache_bytes(), before);
  const pid_t pid = process_.pid();
  process_.stop();
  EXPECT_EQ(symbolizer_.symbolize_data(static_cast<uint32_t>(pid), value("mutex")), "fixture_data_mutex");
  EXPECT_EQ(symbolizer_.symbolize_data(static_cast<uint32_t>(pid), value("scratch") + 0x100),
            "fixture_data_scratch+0x100");
  EXPECT_EQ(symbolizer_.symbolize_data(static_cast<uint32_t>(pid), value("lib_mutex")), "fixture_lib_mutex");
}

INSTANTIATE_TEST_SUITE_P(Programs, SymbolizeData,
                         ::testing::Values("fixture_data_objects", "fixture_data_objects_nopie"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.index == 0 ? "Pie" : "NoPie");
                         });

}  // namespace
}  // namespace scorch
