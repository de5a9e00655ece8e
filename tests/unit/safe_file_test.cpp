// safe_file: files opened on behalf of a traced process stay inside its root, are regular files on
// real file systems, within their cap, and readable by the process's own credentials. A temporary
// directory plays the process's root; nothing here needs root except where it says so.
#include "common/safe_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "symbolize/elf_symbols.h"
#include "symbolize/perf_map.h"

namespace scorch {
namespace {

namespace fs = std::filesystem;
using safe_file::Rules;

class SafeFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/scorch-safe-file-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/root";
    fs::create_directories(root_ + "/tmp");
    root_fd_.reset(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
    slash_fd_.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(slash_fd_.valid());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  static void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }
  // Opens path inside the test's root and reads it all.
  Result<std::string> read_in_root(const std::string& path, const Rules& rules = {}) {
    auto fd = safe_file::open_in_root(root_fd_.get(), path, rules, path);
    if (!fd) return fd.error();
    return safe_file::read_capped(fd->get(), rules.max_size, path);
  }
  // The credentials of this test process, as /proc/self/status gives them.
  static safe_file::Credentials mine() {
    auto c = safe_file::read_credentials(static_cast<uint32_t>(::getpid()));
    EXPECT_TRUE(c.ok()) << c.error().message();
    return c ? *c : safe_file::Credentials{};
  }

  std::string base_, root_;
  UniqueFd root_fd_, slash_fd_;
};

TEST_F(SafeFile, AnAbsoluteSymlinkResolvesInsideTheRoot) {
  // base/secret lies outside the root; a link to its absolute path must not reach it.
  write(base_ + "/secret", "OUTSIDE-SECRET\n");
  fs::create_symlink(base_ + "/secret", root_ + "/tmp/link");
  auto refused = read_in_root("/tmp/link");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().err, ENOENT) << refused.error().message();
  // The same absolute path inside the root is what the link names.
  write(root_ + base_ + "/secret", "inside\n");
  auto inside = read_in_root("/tmp/link");
  ASSERT_TRUE(inside.ok()) << inside.error().message();
  EXPECT_EQ(*inside, "inside\n");
}

TEST_F(SafeFile, DotDotCannotLeaveTheRoot) {
  write(base_ + "/secret", "OUTSIDE-SECRET\n");
  fs::create_symlink("../../../../../../secret", root_ + "/tmp/up");
  EXPECT_EQ(read_in_root("/tmp/up").error().err, ENOENT);
  EXPECT_EQ(read_in_root("../secret").error().err, ENOENT);
  EXPECT_EQ(read_in_root("/tmp/../../secret").error().err, ENOENT);
  write(root_ + "/secret", "root's own\n");
  auto clamped = read_in_root("/tmp/up");
  ASSERT_TRUE(clamped.ok()) << clamped.error().message();
  EXPECT_EQ(*clamped, "root's own\n");
}

TEST_F(SafeFile, MagicLinksAreNotFollowed) {
  // /proc/self/root is a magic link: it would jump to whatever root that process has.
  auto r = safe_file::open_in_root(slash_fd_.get(), "/proc/self/root/etc/hostname", Rules{}, "magic");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, ELOOP) << r.error().message();
  EXPECT_NE(r.error().reason.find("magic link"), std::string::npos) << r.error().reason;
}

TEST_F(SafeFile, AFifoIsRefusedWithoutBlocking) {
  const std::string fifo = root_ + "/tmp/perf-1.map";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // No writer ever comes: a plain open for reading would wait forever.
  auto start = std::chrono::steady_clock::now();
  auto r = read_in_root("/tmp/perf-1.map");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "not a regular file (a FIFO)");
  EXPECT_LT(took, std::chrono::seconds(1));
  auto elf = ElfSymbols::load(fifo);
  ASSERT_FALSE(elf.ok());
  EXPECT_NE(elf.error().reason.find("a FIFO"), std::string::npos) << elf.error().message();
}

TEST_F(SafeFile, DevicesAreRefused) {
  // A link to /dev/zero inside the root names the root's /dev/zero, which is not there.
  fs::create_symlink("/dev/zero", root_ + "/tmp/zero");
  EXPECT_EQ(read_in_root("/tmp/zero").error().err, ENOENT);
  // The real one (the host's root as the root) is never opened for reading: no driver runs.
  auto r = safe_file::open_in_root(slash_fd_.get(), "/dev/zero", Rules{}, "/dev/zero");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "not a regular file (a character device)");
  EXPECT_EQ(safe_file::open_trusted("/dev/null", Rules{}).error().reason, "not a regular file (a character device)");
  EXPECT_EQ(safe_file::open_trusted("/tmp", Rules{}).error().reason, "not a regular file (a directory)");
}

TEST_F(SafeFile, ProcfsFilesAreRefusedUnlessAllowed) {
  // /proc/kmsg blocks its reader until the kernel logs; it is a "regular" file on procfs.
  auto start = std::chrono::steady_clock::now();
  auto kmsg = safe_file::open_in_root(slash_fd_.get(), "/proc/kmsg", Rules{}, "/proc/kmsg");
  ASSERT_FALSE(kmsg.ok());
  EXPECT_NE(kmsg.error().reason.find("a file on procfs"), std::string::npos) << kmsg.error().reason;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_FALSE(safe_file::open_trusted("/proc/self/status", Rules{}).ok());
  Rules proc;
  proc.procfs_ok = true;
  proc.max_size = safe_file::kProcSmallCap;
  auto status = safe_file::open_trusted("/proc/self/status", proc);
  ASSERT_TRUE(status.ok()) << status.error().message();
  auto text = safe_file::read_capped(status->get(), proc.max_size, "status");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("Uid:"), std::string::npos);
}

TEST_F(SafeFile, ASparseFileOverTheCapIsRefusedBeforeAnyRead) {
  const std::string big = root_ + "/tmp/perf-2.map";
  {
    UniqueFd fd(::open(big.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::ftruncate(fd.get(), 1ll << 30), 0);
  }
  struct stat st {};
  ASSERT_EQ(::stat(big.c_str(), &st), 0);
  EXPECT_LT(st.st_blocks, 1024) << "the test file should be sparse";
  Rules rules;
  rules.max_size = safe_file::kPerfMapCap;
  auto r = read_in_root("/tmp/perf-2.map", rules);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, EFBIG);
  EXPECT_EQ(r.error().reason, "larger than the 64 MiB cap (1 GiB)");
}

TEST_F(SafeFile, ReadsStopAtTheCap) {
  write(root_ + "/tmp/hundred", std::string(100, 'x'));
  Rules rules;
  rules.max_size = 100;
  auto exact = read_in_root("/tmp/hundred", rules);
  ASSERT_TRUE(exact.ok()) << exact.error().message();
  EXPECT_EQ(exact->size(), 100u);
  // A file that grew after the check is cut at the cap: read_capped sees more than it may take.
  auto fd = safe_file::open_in_root(root_fd_.get(), "/tmp/hundred", rules, "hundred");
  ASSERT_TRUE(fd.ok());
  auto over = safe_file::read_capped(fd->get(), 99, "hundred");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().reason, "larger than the 99 bytes cap");
}

TEST_F(SafeFile, APerfMapMustBeOwnedByTheProcesssUser) {
  write(root_ + "/tmp/perf-3.map", "1000 10 mine\n");
  safe_file::Credentials me = mine();
  Rules rules;
  rules.max_size = safe_file::kPerfMapCap;
  rules.owned_by_reader = true;
  rules.reader = &me;
  EXPECT_TRUE(read_in_root("/tmp/perf-3.map", rules).ok());
  // The same file for a process of another user (not root): refused, and says whose it is.
  safe_file::Credentials other = me;
  for (uint32_t& u : other.uid) u = me.fsuid() + 1000;
  rules.reader = &other;
  auto r = read_in_root("/tmp/perf-3.map", rules);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "owned by uid " + std::to_string(me.fsuid()) + ", not by the process's user (uid " +
                                  std::to_string(other.fsuid()) + ")");
}

TEST_F(SafeFile, ARootOnlyFileIsNotReadForAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file to root and to nobody";
  const std::string secret = root_ + "/tmp/secret";
  write(secret, "1000 10 ROOT-ONLY-SECRET\n");
  ASSERT_EQ(::chown(secret.c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  fs::create_symlink("/tmp/secret", root_ + "/tmp/perf-4.map");
  safe_file::Credentials nobody;
  for (uint32_t& u : nobody.uid) u = 65534;
  for (uint32_t& g : nobody.gid) g = 65534;
  Rules rules;
  rules.max_size = safe_file::kPerfMapCap;
  rules.reader = &nobody;
  rules.owned_by_reader = true;
  auto perf_map = read_in_root("/tmp/perf-4.map", rules);
  ASSERT_FALSE(perf_map.ok());
  EXPECT_EQ(perf_map.error().reason, "owned by uid 0, not by the process's user (uid 65534)");
  // Any other kind of file: by its permission bits.
  rules.owned_by_reader = false;
  auto other = read_in_root("/tmp/secret", rules);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().reason, "not readable by the process's user (uid 65534): mode 0600, owner uid 0");
  ASSERT_EQ(::chmod(secret.c_str(), 0644), 0);
  EXPECT_TRUE(read_in_root("/tmp/secret", rules).ok());
  // A file nobody owns is its to read.
  ASSERT_EQ(::chown(secret.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  rules.owned_by_reader = true;
  EXPECT_TRUE(read_in_root("/tmp/perf-4.map", rules).ok());
}

TEST(SafeFileCredentials, PermissionBitsDecideForOwnerGroupAndOthers) {
  safe_file::Credentials c;
  for (uint32_t& u : c.uid) u = 1000;
  for (uint32_t& g : c.gid) g = 1000;
  c.groups = {27};
  auto file = [](uid_t uid, gid_t gid, mode_t mode) {
    struct stat st {};
    st.st_uid = uid;
    st.st_gid = gid;
    st.st_mode = S_IFREG | mode;
    return st;
  };
  EXPECT_TRUE(c.may_read(file(1000, 0, 0400)));
  EXPECT_FALSE(c.may_read(file(1000, 0, 0044))) << "the owner's bits decide for the owner";
  EXPECT_TRUE(c.may_read(file(0, 27, 0640))) << "a supplementary group";
  EXPECT_FALSE(c.may_read(file(0, 27, 0604))) << "the group's bits decide for the group";
  EXPECT_FALSE(c.may_read(file(0, 0, 0600)));
  EXPECT_TRUE(c.may_read(file(0, 0, 0604)));
  safe_file::Credentials root;
  EXPECT_TRUE(root.may_read(file(1000, 1000, 0)));
}

// How each line can be malformed is proc_status_test's; here, which lines the credentials need.
TEST(SafeFileCredentials, NeedUidGidAndGroupsAndReadThisProcess) {
  auto c = safe_file::credentials_from_status(
      parse_proc_status("Name:\tx\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\nGroups:\t4 24 27 \n"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->uid[0], 1000u);
  EXPECT_EQ(c->fsuid(), 1003u);
  EXPECT_EQ(c->fsgid(), 8u);
  EXPECT_EQ(c->groups, (std::vector<uint32_t>{4, 24, 27}));
  EXPECT_FALSE(safe_file::credentials_from_status(parse_proc_status("Uid:\t1\t2\t3\t4\nGroups:\n")).ok())
      << "no Gid line";
  EXPECT_FALSE(safe_file::credentials_from_status(parse_proc_status("Gid:\t1\t2\t3\t4\nGroups:\n")).ok())
      << "no Uid line";
  auto no_groups = safe_file::credentials_from_status(parse_proc_status("Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\n"));
  ASSERT_FALSE(no_groups.ok()) << "no Groups line";
  EXPECT_EQ(no_groups.error().message(),
            "failed to read the credentials of a process: no Uid, Gid or Groups line in its status");
  auto me = safe_file::read_credentials(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(me.ok()) << me.error().message();
  EXPECT_EQ(me->uid[0], ::getuid());
  EXPECT_EQ(me->uid[1], ::geteuid());
  EXPECT_EQ(me->gid[1], ::getegid());
  EXPECT_FALSE(safe_file::read_credentials(4'000'000'000u).ok());
}

TEST(SafeFileProc, ReadsOnlyProcfs) {
  auto status = safe_file::read_proc_file("/proc/self/status");
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_NE(status->find("NStgid:"), std::string::npos);
  auto not_proc = safe_file::read_proc_file("/etc/hostname");
  ASSERT_FALSE(not_proc.ok());
  EXPECT_EQ(not_proc.error().reason, "not on procfs");
  EXPECT_EQ(safe_file::read_proc_file("/proc/self/status", 10).error().err, EFBIG);
}

TEST(SafeFileSizes, AreNamedInTheirUnit) {
  EXPECT_EQ(safe_file::human_size(512), "512 bytes");
  EXPECT_EQ(safe_file::human_size(64ull << 20), "64 MiB");
  EXPECT_EQ(safe_file::human_size(1ull << 30), "1 GiB");
  EXPECT_EQ(safe_file::human_size(1536), "1.5 KiB");
}

TEST(PerfMapCap, OnlyTheFirstEntriesAreTaken) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::to_string(1000 + i * 16) + " 10 f" + std::to_string(i) + "\n";
  auto e = parse_perf_map(text, 10);
  ASSERT_EQ(e.size(), 10u);
  EXPECT_EQ(e.back().name, "f9");
  EXPECT_EQ(parse_perf_map(text).size(), 100u);
}

}  // namespace
}  // namespace scorch
