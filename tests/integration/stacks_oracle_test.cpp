// perf as the oracle for stacks: every program of the stacks corpus (tests/stacks/corpus) is
// profiled by scorch and by `perf record --call-graph dwarf` at once (tests/stacks/compare.sh), and
// scorch's chains must equal perf's in >= 95% of the samples (physical frames, leaf to thread
// start; distributions compared, since the two tools do not sample the same instants).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace scorch::test {
namespace {

constexpr double kMinOverlapPct = 95.0;
constexpr double kMinOffCpuSharePct = 80.0;  // see the off-CPU assertion
// 999 Hz for 8 s: thousands of samples per tool, so that sampling noise in the shares stays near
// a point or two (at 99 Hz for 5 s a 70/30 split alone read 92-93%; at 499 Hz a C++ program
// throwing through 40-odd distinct chains read 95.5% with every chain on both sides).
constexpr int kSeconds = 8;
constexpr const char* kHz = "999";
constexpr const char* kPerf = "/usr/bin/perf";  // Debian's linux-perf
constexpr const char* kWrk = "/usr/bin/wrk";

struct Program {
  std::string name;       // the file in build/corpus/ (or testprogs/ when testprog is set)
  std::string measure;    // cpu, offcpu, malloc
  bool http = false;      // a server that prints "ready PID PORT" and is driven by wrk
  bool testprog = false;  // one of tests/testprogs
  std::vector<std::string> args = {};
  std::string call_graph = "dwarf";  // perf's unwinding: fp for Go (no .eh_frame, frame pointers kept)
  std::vector<std::string> compare_args = {};
};

void PrintTo(const Program& p, std::ostream* os) { *os << p.measure << " " << p.name; }

std::string corpus_path(const Program& p) {
  return p.testprog ? testprog(p.name) : std::string(SCORCH_CORPUS_DIR) + "/" + p.name;
}

std::vector<Program> programs() {
  std::vector<Program> out;
  for (const char* linker : {"bfd", "lld", "mold"})
    for (const char* pie : {"pie", "nopie"})
      for (const char* prog : {"c_chain", "cpp_throw"})
        out.push_back({std::string(prog) + "_" + linker + "_" + pie, "cpu"});
  for (const char* name : {"sig_work", "plt_vdso"}) out.push_back({name, "cpu"});
  // Not here: a library without CFI (testprogs/nocfi_user). perf's dwarf unwinding stops at its
  // frame (measured: the leaf alone in 99.9% of samples, where scorch has all 6 frames), so the
  // chain is checked against the program's own in OnCpu.LibraryWithoutTablesFallsBackToFramePointers.
  out.push_back({"go_chain", "cpu", false, false, {}, "fp"});
  out.push_back({"hello_svc_bfd", "cpu", true});
  out.push_back({"hello_svc_lld", "cpu", true});
  for (const char* measure : {"offcpu", "malloc"}) {
    for (const char* prog : {"cpp_throw_lld_pie", "cpp_throw_bfd_pie"}) out.push_back({prog, measure});
    for (const char* prog : {"hello_svc_lld", "hello_svc_bfd"}) out.push_back({prog, measure, true});
  }
  return out;
}

/// What compare.sh measured, from its `key value` lines.
struct Figures {
  double overlap_pct = -1, scorch_seen_pct = -1, perf_seen_pct = -1, scorch_depth = 0, perf_depth = 0;
  uint64_t scorch_samples = 0, perf_samples = 0;
};

Figures parse_figures(const std::string& report) {
  Figures f;
  std::istringstream in(report);
  std::string key;
  double value = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    if (!(l >> key >> value) || !l.eof()) continue;
    if (key == "overlap_pct") f.overlap_pct = value;
    if (key == "scorch_seen_pct") f.scorch_seen_pct = value;
    if (key == "perf_seen_pct") f.perf_seen_pct = value;
    if (key == "scorch_samples") f.scorch_samples = static_cast<uint64_t>(value);
    if (key == "perf_samples") f.perf_samples = static_cast<uint64_t>(value);
    if (key == "scorch_depth") f.scorch_depth = value;
    if (key == "perf_depth") f.perf_depth = value;
  }
  return f;
}

/// Every result of this run, printed as one table when the suite ends.
std::mutex table_mutex;
std::vector<std::string> table_rows;

class StacksTable : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard<std::mutex> lock(table_mutex);
    if (table_rows.empty()) return;
    std::printf("\nscorch vs perf (physical user frames, %d s each)\n", kSeconds);
    std::printf("%-24s %-7s %7s %7s %7s %9s %9s %7s %7s\n", "program", "measure", "equal%", "seen-s%", "seen-p%",
                "scorch", "perf", "depth-s", "depth-p");
    for (const std::string& row : table_rows) std::printf("%s\n", row.c_str());
  }
};
const auto* const kTable = ::testing::AddGlobalTestEnvironment(new StacksTable);

class StacksOracle : public DaemonTest, public ::testing::WithParamInterface<Program> {};

TEST_P(StacksOracle, ChainsEqualPerfs) {
  if (SCORCH_SANITIZED) GTEST_SKIP() << "the stacks oracle runs in the normal build (tests/stacks/CMakeLists.txt)";
  const Program& p = GetParam();
  std::string path = corpus_path(p);
  struct stat st {};
  // Programs of a toolchain Debian may lack here are left out by the build (which says so); the
  // GNU-ld C and C++ programs need nothing beyond the build's own compilers.
  bool optional = p.name.find("lld") != std::string::npos || p.name.find("mold") != std::string::npos ||
                  p.name.starts_with("go_") || p.name.starts_with("hello_svc");
  if (stat(path.c_str(), &st) != 0) {
    if (!optional) FAIL() << path << " was not built";
    GTEST_SKIP() << path << " was not built (the corpus build said why: see cmake's output)";
  }
  if (access(kPerf, X_OK) != 0) GTEST_SKIP() << kPerf << " is not installed (apt-get install linux-perf)";
  if (p.http && access(kWrk, X_OK) != 0) GTEST_SKIP() << kWrk << " is not installed (apt-get install wrk)";

  std::vector<std::string> argv{path};
  argv.insert(argv.end(), p.args.begin(), p.args.end());
  Child prog(argv);
  std::string ready = prog.read_line();
  std::smatch m;
  static const std::regex ready_re("ready (\\d+)(?: (\\d+))?");
  ASSERT_TRUE(std::regex_search(ready, m, ready_re)) << p.name << " printed '" << ready << "'";
  std::unique_ptr<Child> load;
  if (p.http) {
    ASSERT_TRUE(m[2].matched) << "no port in '" << ready << "'";
    // Loopback only, bounded: the load outlasts both profiles by a second or two.
    load = std::make_unique<Child>(std::vector<std::string>{
        kWrk, "-t1", "-c8", "-d" + std::to_string(kSeconds + 3) + "s", "http://127.0.0.1:" + std::string(m[2]) + "/"});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past start-up (dynamic loading, JIT-free warm-up)

  std::string out = dir_ + "/" + p.name + "-" + p.measure;
  std::vector<std::string> argv_compare{
      "/usr/bin/env", "SCORCH_BIN=" + bin_dir() + "/scorch", "STACKS_COMPARE=" + bin_dir() + "/stacks_compare",
      std::string("PERF=") + kPerf, "bash", std::string(SCORCH_STACKS_SRC_DIR) + "/compare.sh",
      std::to_string(prog.pid()), std::to_string(kSeconds), "--measure", p.measure, "-F", kHz, "--call-graph",
      p.call_graph,
      // async Rust keeps its futures on the stack: perf's maximum copy for the server
      "--dump-size", p.http ? "65528" : "16384", "--socket", daemon_->socket(), "--out", out};
  argv_compare.insert(argv_compare.end(), p.compare_args.begin(), p.compare_args.end());
  RunResult r = run(argv_compare, std::chrono::seconds(180));
  if (load) load->finish(SIGTERM);
  prog.finish(SIGKILL);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << "\ndaemon log:\n" << daemon_->log();
  Figures f = parse_figures(r.out);
  ASSERT_GE(f.overlap_pct, 0) << r.out;
  {
    char row[256];
    std::snprintf(row, sizeof row, "%-24s %-7s %7.1f %7.1f %7.1f %9llu %9llu %7.1f %7.1f", p.name.c_str(),
                  p.measure.c_str(), f.overlap_pct, f.scorch_seen_pct, f.perf_seen_pct,
                  static_cast<unsigned long long>(f.scorch_samples), static_cast<unsigned long long>(f.perf_samples),
                  f.scorch_depth, f.perf_depth);
    std::lock_guard<std::mutex> lock(table_mutex);
    table_rows.push_back(row);
  }
  std::printf("%s", r.out.c_str());
  // Too few samples would make the share meaningless: both tools must have seen the program work.
  ASSERT_GE(f.scorch_samples, 5u) << r.out;
  ASSERT_GE(f.perf_samples, 5u) << r.out;
  // Off-CPU weighs each chain by blocked time, and perf's times come from switch-in timestamps it
  // drops under load ("lost N chunks"): a server's waits (epoll_wait, preemption in render_page)
  // then differ in share by several points from run to run while every chain is on both sides
  // (measured on the quiet machine: 89.9-94.2% overlap, 99.3-99.7% of samples seen both ways;
  // which tool's times are nearer the truth is not settled). Its chains are held to
  // kMinOverlapPct below; its time shares only to kMinOffCpuSharePct.
  const double min_overlap = p.measure == "offcpu" ? kMinOffCpuSharePct : kMinOverlapPct;
  EXPECT_GE(f.overlap_pct, min_overlap) << p.name << " (" << p.measure << "): scorch's chains differ from perf's\n"
                                        << r.out;
  // Shares aside: a chain one tool never has is a wrong or lost unwind on one side.
  EXPECT_GE(f.scorch_seen_pct, kMinOverlapPct) << p.name << " (" << p.measure << "): scorch's chains perf never has\n"
                                               << r.out;
  EXPECT_GE(f.perf_seen_pct, kMinOverlapPct) << p.name << " (" << p.measure << "): perf's chains scorch never has\n"
                                             << r.out;
}

std::string test_name(const ::testing::TestParamInfo<Program>& info) {
  return info.param.measure + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, StacksOracle, ::testing::ValuesIn(programs()), test_name);

}  // namespace
}  // namespace scorch::test
