#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fixture_util.h"
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

std::vector<MapEntry> maps_of(pid_t pid) {
  auto maps = read_proc_maps(static_cast<uint32_t>(pid));
  EXPECT_TRUE(maps.ok()) << maps.error().message();
  return maps.ok() ? *maps : std::vector<MapEntry>{};
}

std::string symbolize_one(Symbolizer& symbolizer, pid_t pid, uint64_t ip) {
  std::vector<uint64_t> ips{ip};
  std::vector<std::string> names = symbolizer.symbolize_user(static_cast<uint32_t>(pid), ips);
  return names.size() == 1 ? names[0] : "<" + std::to_string(names.size()) + " names>";
}

class SymbolizeSymbolizer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(process_.start(fixture::path("fixture_uses_lib"))) << "fixture_uses_lib did not start";
  }

  fixture::UsesLibProcess process_;
};

TEST_F(SymbolizeSymbolizer, PieAndSharedLibraryFunctions) {
  // The oracle for the addresses is the process itself: it printed them.
  std::vector<MapEntry> maps = maps_of(process_.pid());
  const MapEntry* lib_map = find_mapping(maps, process_.lib_function());
  ASSERT_NE(lib_map, nullptr);
  EXPECT_TRUE(lib_map->path.ends_with("/libfixture.so")) << lib_map->path;
  const MapEntry* pie_map = find_mapping(maps, process_.pie_function());
  ASSERT_NE(pie_map, nullptr);
  EXPECT_TRUE(pie_map->path.ends_with("/fixture_uses_lib")) << pie_map->path;

  Symbolizer symbolizer;
  std::vector<uint64_t> ips{process_.pie_function(), process_.pie_function() + 1, process_.lib_function(),
                            process_.lib_function() + 1, 0x10};
  std::vector<std::string> names = symbolizer.symbolize_user(static_cast<uint32_t>(process_.pid()), ips);
  ASSERT_EQ(names.size(), ips.size());
  EXPECT_EQ(names[0], "fixture_pie_work");
  EXPECT_EQ(names[1], "fixture_pie_work");
  EXPECT_EQ(names[2], "fixture_lib_work");
  EXPECT_EQ(names[3], "fixture_lib_work");
  EXPECT_EQ(names[4], "[unknown]");
}

TEST_F(SymbolizeSymbolizer, LibcFunction) {
  std::vector<MapEntry> maps = maps_of(process_.pid());
  const MapEntry* libc_map = find_mapping(maps, process_.libc_function());
  ASSERT_NE(libc_map, nullptr);
  ASSERT_NE(libc_map->path.find("libc"), std::string::npos) << libc_map->path;

  // Every name nm gives (in .dynsym or .symtab) at printf's address is acceptable: printf has aliases.
  std::vector<fixture::NmSymbol> nm = fixture::nm_symbols(libc_map->path, "-D");
  for (const fixture::NmSymbol& sym : fixture::nm_symbols(libc_map->path)) nm.push_back(sym);
  uint64_t printf_vaddr = 0;
  for (const fixture::NmSymbol& sym : nm) {
    if (sym.name == "printf") printf_vaddr = sym.address;
  }
  ASSERT_NE(printf_vaddr, 0u) << "nm finds no printf in " << libc_map->path;
  std::set<std::string> aliases = fixture::names_by_address(nm)[printf_vaddr];

  Symbolizer symbolizer;
  std::string name = symbolize_one(symbolizer, process_.pid(), process_.libc_function());
  EXPECT_TRUE(aliases.count(name)) << "got " << name;
  name = symbolize_one(symbolizer, process_.pid(), process_.libc_function() + 1);
  EXPECT_TRUE(aliases.count(name)) << "got " << name;
}

TEST_F(SymbolizeSymbolizer, SpecialMappingsAndFallbackNames) {
  std::vector<MapEntry> maps = maps_of(process_.pid());
  Symbolizer symbolizer;
  bool saw_vdso = false;
  bool saw_anon = false;
  bool saw_header = false;
  for (const MapEntry& map : maps) {
    if (map.path == "[vdso]") {
      EXPECT_EQ(symbolize_one(symbolizer, process_.pid(), map.start + 0x10), "[vdso]");
      saw_vdso = true;
    } else if (map.path.empty()) {
      EXPECT_EQ(symbolize_one(symbolizer, process_.pid(), map.start), "[anon]");
      saw_anon = true;
    } else if (map.path.ends_with("/libfixture.so") && map.offset == 0) {
      // The ELF header: in the file, but in no function.
      EXPECT_EQ(symbolize_one(symbolizer, process_.pid(), map.start + 0x10), "libfixture.so+0x10");
      saw_header = true;
    }
  }
  EXPECT_TRUE(saw_vdso);
  EXPECT_TRUE(saw_anon);
  EXPECT_TRUE(saw_header);
}

TEST_F(SymbolizeSymbolizer, SharesElfCacheBetweenProcessesAndForgets) {
  fixture::UsesLibProcess second;
  ASSERT_TRUE(second.start(fixture::path("fixture_uses_lib")));
  Symbolizer symbolizer;
  uint64_t empty_bytes = symbolizer.cache_bytes();
  std::vector<uint64_t> first_ips{process_.pie_function(), process_.lib_function(), process_.libc_function()};
  std::vector<uint64_t> second_ips{second.pie_function(), second.lib_function(), second.libc_function()};
  std::vector<std::string> first = symbolizer.symbolize_user(static_cast<uint32_t>(process_.pid()), first_ips);
  EXPECT_EQ(symbolizer.cached_elf_files(), 3u);
  std::vector<std::string> other = symbolizer.symbolize_user(static_cast<uint32_t>(second.pid()), second_ips);
  EXPECT_EQ(symbolizer.cached_elf_files(), 3u);  // same files, loaded once
  EXPECT_EQ(first, other);
  EXPECT_EQ(symbolizer.cached_processes(), 2u);
  EXPECT_GT(symbolizer.cache_bytes(), empty_bytes);

  symbolizer.forget(static_cast<uint32_t>(second.pid()));
  EXPECT_EQ(symbolizer.cached_processes(), 1u);
  EXPECT_EQ(symbolizer.cached_elf_files(), 3u);
}

TEST_F(SymbolizeSymbolizer, CachesAreBounded) {
  SymbolizerOptions options;
  options.max_elf_files = 1;
  options.max_processes = 1;
  Symbolizer symbolizer(options);
  EXPECT_EQ(symbolize_one(symbolizer, process_.pid(), process_.pie_function()), "fixture_pie_work");
  EXPECT_EQ(symbolize_one(symbolizer, process_.pid(), process_.lib_function()), "fixture_lib_work");
  EXPECT_EQ(symbolize_one(symbolizer, process_.pid(), process_.pie_function()), "fixture_pie_work");
  EXPECT_EQ(symbolizer.cached_elf_files(), 1u);
  EXPECT_EQ(symbolize_one(symbolizer, ::getpid(), reinterpret_cast<uint64_t>(&::getpid)), "getpid");
  EXPECT_EQ(symbolizer.cached_processes(), 1u);
}

TEST_F(SymbolizeSymbolizer, ExitedProcessGivesUnknown) {
  Symbolizer symbolizer;
  pid_t pid = process_.pid();
  uint64_t ip = process_.pie_function();
  process_.stop();
  EXPECT_EQ(symbolize_one(symbolizer, pid, ip), "[unknown]");
}

TEST(SymbolizeSymbolizerDeleted, DeletedBinaryStillNamed) {
  // A copy of the program that is unlinked while it runs: only /proc/PID/map_files still reaches it.
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: opening /proc/PID/map_files/* takes CAP_SYS_ADMIN";
  }
  std::string copy = "/tmp/scorch_fixture_deleted_" + std::to_string(::getpid());
  std::filesystem::copy_file(fixture::path("fixture_uses_lib"), copy,
                             std::filesystem::copy_options::overwrite_existing);
  fixture::UsesLibProcess process;
  bool started = process.start(copy);
  std::filesystem::remove(copy);
  ASSERT_TRUE(started);
  std::vector<MapEntry> maps = maps_of(process.pid());
  const MapEntry* map = find_mapping(maps, process.pie_function());
  ASSERT_NE(map, nullptr);
  EXPECT_TRUE(map->deleted);
  Symbolizer symbolizer;
  EXPECT_EQ(symbolize_one(symbolizer, process.pid(), process.pie_function() + 1), "fixture_pie_work");
}

TEST(SymbolizeSymbolizerSelf, RereadsMapsForNewMappings) {
  Symbolizer symbolizer;
  pid_t self = ::getpid();
  EXPECT_EQ(symbolize_one(symbolizer, self, reinterpret_cast<uint64_t>(&::getpid)), "getpid");
  // A mapping made after the maps were cached is found by re-reading them.
  size_t size = 4096;
  void* code = ::mmap(nullptr, size, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(code, MAP_FAILED);
  EXPECT_EQ(symbolize_one(symbolizer, self, reinterpret_cast<uint64_t>(code) + 8), "[anon]");
  ::munmap(code, size);
}

// The perf map of this very process (anonymous executable memory, as a JIT's): read within its
// caps, and a FIFO or an oversized file in its place is not read, with a note saying why.
TEST(SymbolizeSymbolizerSelf, PerfMapIsReadWithinItsCapsOrNotedWhyNot) {
  const pid_t self = ::getpid();
  const size_t size = 4096;
  void* code = ::mmap(nullptr, size, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(code, MAP_FAILED);
  const auto base = reinterpret_cast<uint64_t>(code);
  const std::string file = "/tmp/perf-" + std::to_string(self) + ".map";
  const std::string prefix = "perf map " + file + " of PID " + std::to_string(self);
  ::unlink(file.c_str());
  {
    std::ofstream out(file);
    for (int i = 0; i < 10; ++i) out << std::hex << base + i * 16 << " 10 jit_" << std::dec << i << "\n";
  }
  SymbolizerOptions options;
  options.max_perf_map_entries = 5;
  {
    Symbolizer symbolizer(options);
    EXPECT_EQ(symbolize_one(symbolizer, self, base + 2 * 16 + 1), "jit_2");
    EXPECT_EQ(symbolize_one(symbolizer, self, base + 7 * 16 + 1), "[anon]") << "past the daemon's cap";
    EXPECT_EQ(symbolizer.file_notes(static_cast<uint32_t>(self)),
              std::vector<std::string>{prefix + ": only its first 5 entries read (the perf maps of all traced "
                                                "processes are capped at 5)"});
  }
  ::unlink(file.c_str());
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  {
    Symbolizer symbolizer;
    EXPECT_EQ(symbolize_one(symbolizer, self, base + 1), "[anon]");
    EXPECT_EQ(symbolizer.file_notes(static_cast<uint32_t>(self)),
              std::vector<std::string>{prefix + " not read: not a regular file (a FIFO)"});
  }
  ::unlink(file.c_str());
  {
    std::ofstream out(file);
    out << std::hex << base << " 10 jit_sparse\n";
  }
  ASSERT_EQ(::truncate(file.c_str(), 1ll << 30), 0);
  {
    Symbolizer symbolizer;
    EXPECT_EQ(symbolize_one(symbolizer, self, base + 1), "[anon]");
    EXPECT_EQ(symbolizer.file_notes(static_cast<uint32_t>(self)),
              std::vector<std::string>{prefix + " not read: larger than the 64 MiB cap (1 GiB)"});
  }
  ::unlink(file.c_str());
  ::munmap(code, size);
}

TEST(SymbolizeSymbolizerSelf, NoSuchProcess) {
  Symbolizer symbolizer;
  std::vector<uint64_t> ips{0x1000, 0x401000};
  std::vector<std::string> names = symbolizer.symbolize_user(0x7ffffff0u, ips);
  EXPECT_EQ(names, (std::vector<std::string>{"[unknown]", "[unknown]"}));
  EXPECT_TRUE(symbolizer.symbolize_user(0x7ffffff0u, {}).empty());
}

TEST(SymbolizeSymbolizerKernel, FromKallsymsText) {
  std::string file = "/tmp/scorch_kallsyms_" + std::to_string(::getpid());
  {
    std::ofstream out(file);
    out << "ffffffff81000000 T _text\n"
           "ffffffff81002000 T schedule\n"
           "ffffffff81003000 T _etext\n"
           "ffffffffc0a00000 t ext4_thing\t[ext4]\n";
  }
  SymbolizerOptions options;
  options.kallsyms_path = file;
  Symbolizer symbolizer(options);
  EXPECT_EQ(symbolizer.symbolize_kernel(0xffffffff81002004), "schedule");
  EXPECT_EQ(symbolizer.symbolize_kernel(0xffffffffc0a00010), "ext4_thing");
  EXPECT_EQ(symbolizer.symbolize_kernel(0xffffffff81004000), "[unknown]");
  EXPECT_EQ(symbolizer.symbolize_kernel(0), "[unknown]");
  EXPECT_FALSE(symbolizer.kernel_error().has_value());
  std::filesystem::remove(file);
}

TEST(SymbolizeSymbolizerKernel, MissingKallsyms) {
  SymbolizerOptions options;
  options.kallsyms_path = "/nonexistent/kallsyms";
  Symbolizer symbolizer(options);
  EXPECT_EQ(symbolizer.symbolize_kernel(0xffffffff81002004), "[unknown]");
  ASSERT_TRUE(symbolizer.kernel_error().has_value());
  EXPECT_EQ(symbolizer.kernel_error()->err, ENOENT);
  symbolizer.refresh_kernel();
  EXPECT_FALSE(symbolizer.kernel_error().has_value());
}

TEST(SymbolizeSymbolizerKernel, RealSchedule) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: /proc/kallsyms shows zero addresses to other users";
  }
  auto kernel = KernelSymbols::load();
  if (!kernel.ok()) {
    GTEST_SKIP() << kernel.error().message();
  }
  uint64_t schedule = 0;
  for (const KernelSymbol& sym : kernel->symbols()) {
    if (sym.name == "schedule" && sym.module.empty()) schedule = sym.address;
  }
  ASSERT_NE(schedule, 0u);
  Symbolizer symbolizer;
  EXPECT_EQ(symbolizer.symbolize_kernel(schedule + 1), "schedule");
}

TEST(SymbolizeDisplayName, PassesNamesThrough) {
  EXPECT_EQ(display_name("fixture_alpha"), "fixture_alpha");
  EXPECT_EQ(display_name("_ZN6scorch10SymbolizerC2Ev"), "scorch::Symbolizer::Symbolizer");
}

}  // namespace
}  // namespace scorch
