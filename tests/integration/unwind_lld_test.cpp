// Stacks of LLD-linked programs (the executable segment's p_vaddr != p_offset), for every measure,
// and the per-file account of how frames were unwound (profile notes and scorch status).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace scorch::test {
namespace {

using namespace std::chrono_literals;

/// Weight of the stacks holding `function`, and of those where `callers` (outermost first) are
/// right above it and, when `callee` is given, `callee` right below it.
struct Chain {
  uint64_t with_function = 0, whole = 0;
};

Chain count_chain(const Profile& p, const std::string& function, const std::vector<std::string>& callers,
                  const std::string& callee = "") {
  Chain c;
  for (const auto& s : p.stacks) {
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (s.frames[i].name != function) continue;
      c.with_function += s.count;
      bool whole = i >= callers.size();
      for (size_t k = 0; whole && k < callers.size(); ++k) whole = s.frames[i - callers.size() + k].name == callers[k];
      if (!callee.empty()) whole = whole && i + 1 < s.frames.size() && s.frames[i + 1].name == callee;
      if (whole) c.whole += s.count;
      break;
    }
  }
  return c;
}

/// What a note "user frames in FILE: T from its/no unwind table, F by frame pointer, L lost" says.
struct FileFrames {
  bool found = false;
  bool has_table = false;
  uint64_t table = 0, fp = 0, lost = 0;
};

FileFrames file_frames(const std::string& text, const std::string& file) {
  FileFrames f;
  std::regex re("user frames in " + std::regex_replace(file, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                R"(: (\d+) from (its|no) unwind table, (\d+) by frame pointer, (\d+) lost)");
  std::smatch m;
  if (std::regex_search(text, m, re)) {
    f.found = true;
    f.table = std::stoull(m[1]);
    f.has_table = m[2] == "its";
    f.fp = std::stoull(m[3]);
    f.lost = std::stoull(m[4]);
  }
  return f;
}

std::string canonical(const std::string& path) { return std::filesystem::canonical(path).string(); }

const std::vector<std::string> kCallers = {"main", "lld_driver", "lld_outer"};

class LldRust : public DaemonTest {};

class LldStacks : public DaemonTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped()) return;
    prog_ = testprog(GetParam());
    if (::access(prog_.c_str(), X_OK) != 0)
      GTEST_SKIP() << prog_ << " not built: clang or ld.lld is missing (packaging/install-deps.sh --test installs lld)";
  }
  std::string prog_;
};

// -p on-CPU: the whole chain main -> lld_driver -> lld_outer -> lld_spin_leaf (a frameless leaf)
// in >= 95% of the leaf's samples; the executable's frames come from its table, and scorch status
// says so per file while the profile runs.
TEST_P(LldStacks, OnCpuChainIsWhole) {
  Child prog({prog_, "spin"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/cpu.folded";
  RunResult r, status;
  std::thread t([&] { r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", out}); });
  std::this_thread::sleep_for(2s);
  status = daemon_->cli({"status"});
  t.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Chain c = count_chain(load_folded(out), "lld_spin_leaf", kCallers);
  // ~300 samples on an idle CPU; a machine busy with other work gives the program less.
  ASSERT_GT(c.with_function, 40u) << r.err;
  EXPECT_GE(c.whole * 100, c.with_function * 95) << c.whole << " of " << c.with_function << " leaf samples";

  FileFrames exe = file_frames(r.err, canonical(prog_));
  ASSERT_TRUE(exe.found) << r.err;
  EXPECT_TRUE(exe.has_table);
  // Four of the executable's frames in each sample (leaf, lld_outer, lld_driver, main).
  EXPECT_GE(exe.table, c.whole * 4) << r.err;
  EXPECT_EQ(exe.fp, 0u) << r.err;
  EXPECT_LE(exe.lost * 100, exe.table) << r.err;
  FileFrames libc = file_frames(r.err, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_TRUE(libc.found && libc.has_table && libc.table >= c.whole) << r.err;

  FileFrames in_status = file_frames(status.out + status.err, canonical(prog_));
  EXPECT_TRUE(in_status.found) << status.out;
  EXPECT_GT(in_status.table, 0u) << status.out;
}

// Off-CPU: blocked time in glibc's nanosleep called from lld_sleep, under the whole chain, for
// >= 95% of that time.
TEST_P(LldStacks, OffCpuChainIsWhole) {
  Child prog({prog_, "sleep"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/off.folded";
  auto r = daemon_->cli({"offcpu", "-p", std::to_string(prog.pid()), "-d", "2", "-U", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Chain c = count_chain(load_folded(out), "lld_sleep", kCallers);
  ASSERT_GT(c.with_function, 500000u) << "2 s of 2 ms sleeps, in µs: " << r.err;
  EXPECT_GE(c.whole * 100, c.with_function * 95) << c.whole << " of " << c.with_function << " µs";
  FileFrames exe = file_frames(r.err, canonical(prog_));
  EXPECT_TRUE(exe.found && exe.table > 0 && exe.fp == 0) << r.err;
}

// Malloc: calls of malloc made by lld_alloc, with malloc's direct caller and the chain above it
// whole, in >= 95% of the calls.
TEST_P(LldStacks, MallocChainIsWhole) {
  Child prog({prog_, "malloc"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/malloc.folded";
  auto r = daemon_->cli({"malloc", "-p", std::to_string(prog.pid()), "-d", "2", "--weight", "calls", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Chain c = count_chain(load_folded(out), "lld_alloc", kCallers, "malloc");
  ASSERT_GT(c.with_function, 1000u) << r.err;
  EXPECT_GE(c.whole * 100, c.with_function * 95) << c.whole << " of " << c.with_function << " calls";
  FileFrames exe = file_frames(r.err, canonical(prog_));
  EXPECT_TRUE(exe.found && exe.table > 0 && exe.fp == 0) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Linked, LldStacks, ::testing::Values("lld_chain", "lld_chain_nopie", "lld_chain_cxx"));

// A Rust release binary linked by LLD (rustc's default linker since 1.90; no frame pointers):
// main -> chain::driver -> chain::outer -> chain::leaf in >= 95% of the leaf's samples.
TEST_F(LldRust, RustLinkedByLldIsWhole) {
  std::string bin = testprog("rust_chain_lld");
  if (::access(bin.c_str(), X_OK) != 0)
    GTEST_SKIP() << bin << " not built: rustc or ld.lld is missing (packaging/install-deps.sh --test installs both)";
  Child prog({bin});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/rust.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Chain c = count_chain(load_folded(out), "rust_chain::chain::leaf",
                        {"rust_chain::main", "rust_chain::chain::driver", "rust_chain::chain::outer"});
  ASSERT_GT(c.with_function, 40u) << r.err;
  EXPECT_GE(c.whole * 100, c.with_function * 95) << c.whole << " of " << c.with_function << " leaf samples";
  FileFrames exe = file_frames(r.err, canonical(bin));
  EXPECT_TRUE(exe.found && exe.has_table && exe.fp == 0 && exe.table >= c.whole * 4) << r.err;
}

class FileAccounting : public DaemonTest {};

// A library without unwind tables: its frames are counted as frame-pointer steps, under its own
// name, while the program's own frames come from its table.
TEST_F(FileAccounting, LibraryWithoutTablesCountsFramePointerSteps) {
  Child prog({testprog("nocfi_user"), "30"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", dir_ + "/nocfi.folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  FileFrames lib = file_frames(r.err, canonical(testprog("libnocfi.so")));
  ASSERT_TRUE(lib.found) << r.err;
  EXPECT_FALSE(lib.has_table);
  EXPECT_EQ(lib.table, 0u);
  EXPECT_GT(lib.fp, 20u) << r.err;  // one a sample: ~300 on an idle CPU
  EXPECT_LE(lib.lost * 20, lib.fp) << "frame pointers carry the walk through libnocfi.so: " << r.err;
  FileFrames exe = file_frames(r.err, canonical(testprog("nocfi_user")));
  EXPECT_TRUE(exe.found && exe.has_table && exe.table >= lib.fp && exe.fp == 0) << r.err;
}

}  // namespace
}  // namespace scorch::test
