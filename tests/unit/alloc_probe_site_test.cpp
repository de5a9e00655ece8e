// Probe sites in allocator prologues: the byte sequences are those of Debian 12's glibc 2.36,
// jemalloc 5.3 and tcmalloc 2.10 (objdump -d), so these tests need none of the libraries.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "alloc/allocator.h"
#include "alloc/x86_prologue.h"
#include "symbolize/proc_maps.h"

namespace scorch {
namespace {

constexpr uint16_t kDi = 1u << kRdi, kSi = 1u << kRsi, kDx = 1u << kRdx;

ProbeSite site(std::vector<uint8_t> code, uint16_t keep) { return choose_probe_site(code, keep); }

TEST(ProbeSite, PushAtEntryIsTakenAsIs) {
  // glibc malloc: push %r12; push %rbp
  ProbeSite s = site({0x41, 0x54, 0x55, 0x53}, kDi);
  EXPECT_EQ(s.offset, 0u);
  EXPECT_TRUE(s.emulated);
  EXPECT_EQ(s.insn, "push");
  EXPECT_EQ(s.sp_words, 0u);
}

TEST(ProbeSite, GlibcFreeSkipsTheTestAndSitsOnTheBranch) {
  // test %rdi,%rdi; je ...; push %rbp
  ProbeSite s = site({0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0x00, 0x00, 0x00, 0x55}, kDi);
  EXPECT_EQ(s.offset, 3u);
  EXPECT_TRUE(s.emulated);
  EXPECT_EQ(s.insn, "jcc");
}

TEST(ProbeSite, RipRelativeCompareIsSkipped) {
  // glibc posix_memalign: cmpb $0x0,0x140201(%rip); push %r12
  ProbeSite s = site({0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, 0x41, 0x54}, kDi | kSi | kDx);
  EXPECT_EQ(s.offset, 7u);
  EXPECT_EQ(s.insn, "push");
}

TEST(ProbeSite, JemallocFreeSkipsNineInstructions) {
  std::vector<uint8_t> code = {0x48, 0x89, 0xf8,                                // mov %rdi,%rax
                               0x48, 0x8b, 0x15, 0x0e, 0x53, 0x0a, 0x00,        // mov rip(%rip),%rdx
                               0x48, 0x89, 0xf9,                                // mov %rdi,%rcx
                               0x48, 0xc1, 0xe8, 0x1a,                          // shr $0x1a,%rax
                               0x48, 0x81, 0xe1, 0x00, 0x00, 0x00, 0xc0,        // and $imm32,%rcx
                               0x25, 0xf0, 0x00, 0x00, 0x00,                    // and $0xf0,%eax
                               0x64, 0x48, 0x03, 0x04, 0x25, 0,    0,    0, 0,  // add %fs:0x0,%rax
                               0x48, 0x01, 0xd0,                                // add %rdx,%rax
                               0x48, 0x3b, 0x88, 0xb0, 0x01, 0x00, 0x00,        // cmp 0x1b0(%rax),%rcx
                               0x0f, 0x85, 0x8a, 0x00, 0x00, 0x00};             // jne
  ProbeSite s = site(code, kDi);
  EXPECT_EQ(s.offset, 48u);
  EXPECT_EQ(s.insn, "jcc");
}

TEST(ProbeSite, AnArgumentOverwrittenBeforeTheBranchKeepsTheEntry) {
  // mov %rsi,%rdi (writes the argument the probe reads); jne
  ProbeSite s = site({0x48, 0x89, 0xf7, 0x75, 0x02}, kDi);
  EXPECT_EQ(s.offset, 0u);
  EXPECT_FALSE(s.emulated);
  // For a function that reads only rsi, writing rdi is harmless: the branch is taken.
  s = site({0x48, 0x89, 0xf7, 0x75, 0x02}, kSi);
  EXPECT_EQ(s.offset, 3u);
}

TEST(ProbeSite, StackReservationIsCountedAndRbpWritesStop) {
  // sub $0x18,%rsp; je
  ProbeSite s = site({0x48, 0x83, 0xec, 0x18, 0x74, 0x05}, kDi);
  EXPECT_EQ(s.offset, 4u);
  EXPECT_EQ(s.sp_words, 3u);
  // mov %rsp,%rbp: rbp is the caller's frame pointer until pushed
  s = site({0x48, 0x89, 0xe5, 0x74, 0x05}, kDi);
  EXPECT_EQ(s.offset, 0u);
  EXPECT_FALSE(s.emulated);
}

TEST(ProbeSite, EndbrAndNopsAreSkipped) {
  ProbeSite s = site({0xf3, 0x0f, 0x1e, 0xfa, 0x66, 0x90, 0x0f, 0x1f, 0x40, 0x00, 0x53}, kDi);
  EXPECT_EQ(s.offset, 10u);
  EXPECT_EQ(s.insn, "push");
}

TEST(ProbeSite, UnknownOrTruncatedCodeFallsBackToTheEntry) {
  ProbeSite s = site({0x0f, 0x0b}, kDi);  // ud2
  EXPECT_EQ(s.offset, 0u);
  EXPECT_FALSE(s.emulated);
  s = site({0x48, 0x85}, kDi);  // cut in the middle of an instruction
  EXPECT_FALSE(s.emulated);
  s = site({}, kDi);
  EXPECT_FALSE(s.emulated);
}

// The allocator of this very machine's libc, read from the file: every glibc entry point found,
// reallocarray left to realloc, each site on an emulated instruction.
TEST(Allocator, ReadsGlibcFromTheFile) {
  const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
  auto a = read_allocator(libc, libc, false);
  if (!a && a.error().err == ENOENT) GTEST_SKIP() << "no " << libc;
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->name, "glibc");
  EXPECT_FALSE(a->version.empty());
  std::vector<std::string> names;
  for (const auto& f : a->functions) {
    names.push_back(f.name);
    EXPECT_TRUE(f.site.emulated) << f.name << " at +" << f.site.offset;
  }
  for (const char* want : {"malloc", "calloc", "realloc", "free", "posix_memalign"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  EXPECT_EQ(std::find(names.begin(), names.end(), "reallocarray"), names.end());
  EXPECT_NE(a->describe().find("glibc 2."), std::string::npos) << a->describe();
}

// Versions come from the traced program's own .rodata: plain scanning, whatever that holds (a
// recursive regex over a megabyte-long run of digits would overflow the daemon's stack).
TEST(Allocator, VersionsAreFoundInReadOnlyData) {
  using namespace std::string_literals;
  EXPECT_EQ(allocator_version("glibc", "GNU C Library (Debian GLIBC 2.36-9+deb12u4) stable release version 2.36.\n"s),
            "2.36");
  EXPECT_EQ(allocator_version("jemalloc",
                              "x\0"
                              "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c\0"s),
            "5.3.0");
  EXPECT_EQ(allocator_version("jemalloc", "1.2-3-g12345678 and 4.5.6-7-gabc"s), "") << "too few parts or hex digits";
  EXPECT_EQ(allocator_version("tcmalloc", "gperftools 2.10\0"s), "2.10");
  EXPECT_EQ(allocator_version("tcmalloc", "gperftools 2.9.1\0"s), "2.9.1");
  EXPECT_EQ(allocator_version("mimalloc", "release version 1.2"s), "");
  const std::string hostile = "release version " + std::string(8u << 20, '7') + " gperftools " +
                              std::string(8u << 20, '1') + ". " + std::string(8u << 20, '9') + "-1-g0123456789";
  EXPECT_EQ(allocator_version("glibc", hostile), "");
  EXPECT_EQ(allocator_version("tcmalloc", hostile), "");
  EXPECT_EQ(allocator_version("jemalloc", hostile), "");
}

// The probes of this very process go on the inode it maps, through a descriptor the daemon holds
// (/proc/self/fd/N), not on a path that could name another file by the time they attach.
TEST(Allocator, ProbesAttachToTheMappedInode) {
  auto a = find_allocator(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(a.ok()) << a.error().message();
  // In the sanitized build ASan's runtime interposes malloc, and is rightly found as the allocator.
  EXPECT_TRUE(SCORCH_SANITIZED ? a->name.rfind("libasan", 0) == 0 : a->name == "glibc") << a->name;
  ASSERT_EQ(a->attach_path.rfind("/proc/self/fd/", 0), 0u) << a->attach_path;
  ASSERT_TRUE(a->file_fd && a->file_fd->valid());
  EXPECT_EQ(a->attach_path, "/proc/self/fd/" + std::to_string(a->file_fd->get()));
  struct stat via {};
  ASSERT_EQ(::stat(a->attach_path.c_str(), &via), 0);
  auto maps = read_proc_maps(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(maps.ok());
  bool found = false;
  for (const auto& m : *maps)
    if (m.path == a->file && m.executable())
      found = found || (m.inode == via.st_ino && m.dev_major == major(via.st_dev));
  EXPECT_TRUE(found) << a->file << " is not the inode behind " << a->attach_path;
}

TEST(Allocator, FileWithoutMallocIsRefused) {
  auto a = read_allocator("/bin/true", "/bin/true", true);
  EXPECT_FALSE(a.ok());
}

}  // namespace
}  // namespace scorch
