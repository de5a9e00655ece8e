// Allocator tracing end to end: real scorchd, real uprobes on the allocator the target uses, our
// own test programs whose calls are known exactly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.h"

namespace scorch::test {
namespace {

using namespace std::chrono_literals;

/// One row of `scorch malloc`'s table: the values, then the stack leaf first.
struct Row {
  std::vector<uint64_t> values;
  std::vector<std::string> frames;
};

std::vector<Row> parse_table(const std::string& text, size_t columns) {
  std::vector<Row> rows;
  std::istringstream in(text);
  std::string line;
  bool body = false;
  while (std::getline(in, line)) {
    if (!body) {
      body = line.find("STACK (leaf first)") != std::string::npos;
      continue;
    }
    std::istringstream ls(line);
    Row r;
    uint64_t v = 0;
    for (size_t i = 0; i < columns && ls >> v; ++i) r.values.push_back(v);
    if (r.values.size() != columns) break;  // past the rows
    std::string rest;
    std::getline(ls, rest);
    rest.erase(0, rest.find_first_not_of(' '));
    for (size_t pos = 0;;) {
      size_t arrow = rest.find(" <- ", pos);
      r.frames.push_back(rest.substr(pos, arrow == std::string::npos ? std::string::npos : arrow - pos));
      if (arrow == std::string::npos) break;
      pos = arrow + 4;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

/// Values summed over the rows whose leaf is `leaf` called from `caller`; rows is how many.
struct Sum {
  std::vector<uint64_t> values;
  int rows = 0;
};
Sum sum_for(const std::vector<Row>& rows, const std::string& caller, const std::string& leaf, size_t columns) {
  Sum s;
  s.values.assign(columns, 0);
  for (const auto& r : rows) {
    if (r.frames.size() < 2 || r.frames[1] != caller || r.frames[0] != leaf) continue;
    ++s.rows;
    for (size_t i = 0; i < columns; ++i) s.values[i] += r.values[i];
  }
  return s;
}

/// Every row naming `function` anywhere in its stack.
uint64_t calls_naming(const std::vector<Row>& rows, const std::string& function) {
  uint64_t calls = 0;
  for (const auto& r : rows)
    for (const auto& f : r.frames)
      if (f == function) {
        calls += r.values[0];
        break;
      }
  return calls;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

class Malloc : public DaemonTest {
 protected:
  struct Traced {
    RunResult cli;
    std::string table;        // what -o wrote
    std::string target_line;  // what the program printed after its calls
    std::vector<Row> rows;
  };

  /// Waits until scorchd reports a malloc session on pid (the probes are attached then).
  bool wait_attached(int pid) {
    for (int i = 0; i < 200; ++i) {
      RunResult st = daemon_->cli({"status"});
      if (st.out.find("malloc PID " + std::to_string(pid)) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  /// Runs a program that prints "ready", waits for SIGUSR1, allocates, prints one line; traces it
  /// with `scorch malloc -p PID -d SECS extra... -o table.txt`, starting the calls once attached.
  Traced trace(const std::vector<std::string>& prog_argv, const std::vector<std::string>& extra, int secs = 3) {
    Traced t;
    Child prog(prog_argv);
    std::string ready = prog.read_line();
    EXPECT_EQ(ready.rfind("ready", 0), 0u) << ready;
    std::string out = dir_ + "/table.txt";
    std::vector<std::string> args = {"malloc", "-p", std::to_string(prog.pid()), "-d", std::to_string(secs), "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    std::thread th([&] { t.cli = daemon_->cli(args); });
    bool attached = wait_attached(prog.pid());
    EXPECT_TRUE(attached) << "no malloc session appeared in scorch status";
    ::kill(prog.pid(), SIGUSR1);
    t.target_line = prog.read_line(30s);
    th.join();
    prog.finish(SIGTERM);
    t.table = exists(out) ? read_file(out) : "";
    return t;
  }

  /// Acceptance 1 and 2 on one build of malloc_known: exact calls and bytes per function, each
  /// function right above the allocator's entry point; with --outstanding, only leak_d is live.
  void expect_exact(const std::string& prog, bool outstanding, const std::string& allocator_note,
                    const std::vector<std::string>& prog_args = {}) {
    std::vector<std::string> argv = {testprog(prog)};
    argv.insert(argv.end(), prog_args.begin(), prog_args.end());
    Traced t = trace(argv, outstanding ? std::vector<std::string>{"--outstanding"} : std::vector<std::string>{});
    ASSERT_EQ(t.cli.exit_code, 0) << t.cli.err;
    ASSERT_EQ(t.target_line.rfind("done grow_c_bytes=32032000", 0), 0u) << t.target_line;
    const size_t columns = outstanding ? 5 : 2;
    auto rows = parse_table(t.table, columns);
    ASSERT_FALSE(rows.empty()) << t.table;
    Sum a = sum_for(rows, "alloc_a", "malloc", columns);
    Sum b = sum_for(rows, "alloc_b", "calloc", columns);
    Sum c = sum_for(rows, "grow_c", "realloc", columns);
    Sum d = sum_for(rows, "leak_d", "malloc", columns);
    EXPECT_EQ(a.values[0], 10000u) << t.table;
    EXPECT_EQ(a.values[1], 640000u);
    EXPECT_EQ(b.values[0], 2500u) << t.table;
    EXPECT_EQ(b.values[1], 2500u * 4096u);
    EXPECT_EQ(c.values[0], 1000u) << t.table;
    EXPECT_EQ(c.values[1], 32032000u);
    EXPECT_EQ(d.values[0], 100u) << t.table;
    EXPECT_EQ(d.values[1], 100000u);
    // Nothing else is attributed to these functions (no stack lost its caller, no double count).
    EXPECT_EQ(calls_naming(rows, "alloc_a"), 10000u);
    EXPECT_EQ(calls_naming(rows, "grow_c"), 1000u);
    if (outstanding) {
      EXPECT_EQ(d.values[2], 100u) << "leak_d's blocks stay live\n" << t.table;
      EXPECT_EQ(d.values[3], 100000u);
      EXPECT_EQ(a.values[2] + a.values[3], 0u) << "alloc_a frees everything";
      EXPECT_EQ(b.values[2] + b.values[3], 0u) << "alloc_b frees everything";
      EXPECT_EQ(c.values[2] + c.values[3], 0u) << "grow_c frees its block";
    }
    EXPECT_NE(t.cli.err.find("allocator: " + allocator_note), std::string::npos) << t.cli.err;
    EXPECT_NE(t.cli.err.find("probes: malloc+"), std::string::npos) << "the output says where probes sit";
    EXPECT_NE(t.cli.err.find("drops: none"), std::string::npos) << t.cli.err;
  }
};

// Acceptance 1: glibc, count mode.
TEST_F(Malloc, ExactCallsAndBytesPerFunctionWithGlibc) { expect_exact("malloc_known", false, "glibc 2."); }

// Acceptance 2: glibc, outstanding mode.
TEST_F(Malloc, OutstandingShowsOnlyTheLeak) { expect_exact("malloc_known", true, "glibc 2."); }

// Acceptance 3: the same program linked against jemalloc and against tcmalloc.
TEST_F(Malloc, JemallocExactAndNamed) {
  if (!exists(testprog("malloc_known_jemalloc")))
    GTEST_SKIP() << "malloc_known_jemalloc not built: install libjemalloc-dev (install-deps.sh --test does)";
  expect_exact("malloc_known_jemalloc", false, "jemalloc 5.");
  expect_exact("malloc_known_jemalloc", true, "jemalloc 5.");
}

TEST_F(Malloc, TcmallocExactAndNamed) {
  if (!exists(testprog("malloc_known_tcmalloc")))
    GTEST_SKIP() << "malloc_known_tcmalloc not built: install libgoogle-perftools-dev (install-deps.sh --test does)";
  expect_exact("malloc_known_tcmalloc", false, "tcmalloc 2.");
  expect_exact("malloc_known_tcmalloc", true, "tcmalloc 2.");
}

// Acceptance 5: a statically linked binary, no dynamic libc: malloc is found in its symbol table.
TEST_F(Malloc, StaticBinaryIsTracedThroughItsSymbols) {
  expect_exact("malloc_known_static", true, "glibc (linked into malloc_known_static)");
}

// Acceptance 5: the same binary stripped: nothing names malloc, and the user is told so.
TEST_F(Malloc, StrippedStaticBinaryIsRefusedClearly) {
  Child prog({testprog("malloc_known_static_stripped")});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  RunResult r = daemon_->cli({"malloc", "-p", std::to_string(prog.pid()), "-d", "1"});
  prog.finish(SIGTERM);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scorch: failed to find the allocator of PID"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("HINT:"), std::string::npos) << r.err;
  EXPECT_TRUE(daemon_->cli({"status"}).exit_code == 0) << "the daemon lives on";
}

// Acceptance 5: a child forked by the target inherits the breakpoints but is not traced.
TEST_F(Malloc, ForkedChildIsNotTraced) { expect_exact("malloc_known", false, "glibc 2.", {"fork"}); }

// Acceptance 5: the target exits mid-trace: its calls up to the exit are reported, and the exit.
TEST_F(Malloc, TargetThatExitsMidTraceIsReported) {
  Traced t = trace({testprog("malloc_known"), "exit"}, {"--outstanding"}, 20);
  ASSERT_EQ(t.cli.exit_code, 0) << t.cli.err;
  auto rows = parse_table(t.table, 5);
  EXPECT_EQ(sum_for(rows, "alloc_a", "malloc", 5).values[0], 10000u) << t.table;
  EXPECT_EQ(sum_for(rows, "leak_d", "malloc", 5).values[2], 100u) << t.table;
  EXPECT_NE(t.cli.err.find("exited during the trace"), std::string::npos) << t.cli.err;
  // The trace ends when the target is gone, not after the 20 s asked for.
  EXPECT_EQ(t.cli.err.find("in 20."), std::string::npos) << t.cli.err;
}

// Acceptance 5: an unknown PID; and usage errors.
TEST_F(Malloc, UnknownPidAndBadUsage) {
  RunResult r = daemon_->cli({"malloc", "-p", "4000000", "-d", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such process"), std::string::npos) << r.err;
  EXPECT_EQ(daemon_->cli({"malloc", "-d", "1"}).exit_code, 2) << "malloc needs -p";
  EXPECT_EQ(daemon_->cli({"malloc", "-p", "1", "--outstanding", "--sample-bytes", "1MiB"}).exit_code, 2);
  EXPECT_EQ(daemon_->cli({"malloc", "-p", "1", "--sample-bytes", "lots"}).exit_code, 2);
  EXPECT_EQ(daemon_->cli({"malloc", "-p", "1", "--duty", "200%"}).exit_code, 2);
  EXPECT_EQ(daemon_->cli({"malloc", "-p", "1", "--min-age", "30s"}).exit_code, 2) << "--min-age needs --outstanding";
  EXPECT_EQ(daemon_->cli({"malloc", "-h"}).exit_code, 0);
}

// scorch status gives a malloc session its own unit: allocator calls, and no sampling rate.
TEST_F(Malloc, StatusShowsAllocatorCallsNotARate) {
  Child prog({testprog("malloc_known")});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::thread th([&] { daemon_->cli({"malloc", "-p", std::to_string(prog.pid()), "-d", "2", "-o", dir_ + "/t.txt"}); });
  const bool attached = wait_attached(prog.pid());
  std::string out = daemon_->cli({"status"}).out;
  th.join();
  prog.finish(SIGTERM);
  ASSERT_TRUE(attached) << "no malloc session appeared in scorch status";
  size_t at = out.find("malloc PID " + std::to_string(prog.pid()));
  ASSERT_NE(at, std::string::npos) << out;
  std::string line = out.substr(at, out.find('\n', at) - at);
  EXPECT_NE(line.find(" allocator calls"), std::string::npos) << line;
  EXPECT_EQ(line.find("Hz"), std::string::npos) << line;
  EXPECT_EQ(line.find("samples"), std::string::npos) << line;
}

// --min-age: leak_d's blocks are a second old at the end; asking for older ones leaves none.
TEST_F(Malloc, MinAgeKeepsOnlyOldBlocks) {
  Traced young = trace({testprog("malloc_known")}, {"--outstanding", "--min-age", "30s"});
  ASSERT_EQ(young.cli.exit_code, 0) << young.cli.err;
  auto rows = parse_table(young.table, 5);
  EXPECT_EQ(sum_for(rows, "leak_d", "malloc", 5).values[2], 0u) << young.table;
  Traced old = trace({testprog("malloc_known")}, {"--outstanding", "--min-age", "500ms"});
  rows = parse_table(old.table, 5);
  EXPECT_EQ(sum_for(rows, "leak_d", "malloc", 5).values[2], 100u) << old.table;
}

// Acceptance 4: --sample-bytes over 1 GiB in known proportions: each function's bytes within 5%.
TEST_F(Malloc, SampledBytesAreUnbiasedEstimates) {
  Traced t = trace({testprog("malloc_mix"), "bytes"}, {"--sample-bytes", "32KiB"}, 6);
  ASSERT_EQ(t.cli.exit_code, 0) << t.cli.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(t.target_line, m,
                                std::regex("a=(\\d+) b=(\\d+) c=(\\d+) calls_a=(\\d+) calls_b=(\\d+) calls_c=(\\d+)")))
      << t.target_line;
  auto rows = parse_table(t.table, 2);
  const char* fns[] = {"mix_a", "mix_b", "mix_c"};
  for (int i = 0; i < 3; ++i) {
    double truth_bytes = std::stod(m[1 + i]), truth_calls = std::stod(m[4 + i]);
    Sum s = sum_for(rows, fns[i], "malloc", 2);
    EXPECT_NEAR(static_cast<double>(s.values[1]), truth_bytes, truth_bytes * 0.05) << fns[i] << "\n" << t.table;
    EXPECT_NEAR(static_cast<double>(s.values[0]), truth_calls, truth_calls * 0.05) << fns[i];
  }
  EXPECT_NE(t.cli.err.find("sampled: one sample per 32 KiB"), std::string::npos) << t.cli.err;
}

// Acceptance 4: --duty 2% on a steady loop: estimated calls per function within 10% of the calls
// the program made over the same time (its own count of rounds, read before and after).
TEST_F(Malloc, DutyCycleEstimatesCallsOfASteadyLoop) {
  Child prog({testprog("malloc_mix"), "steady"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::this_thread::sleep_for(300ms);
  auto mark = [&] {
    ::kill(prog.pid(), SIGUSR1);
    std::smatch m;
    std::string line = prog.read_line();
    EXPECT_TRUE(std::regex_search(line, m, std::regex("t_ns=(\\d+) rounds=(\\d+)"))) << line;
    return std::make_pair(std::stod(m[1]), std::stod(m[2]));
  };
  auto before = mark();
  std::string out = dir_ + "/duty.txt";
  RunResult r = daemon_->cli({"malloc", "-p", std::to_string(prog.pid()), "-d", "8", "--duty", "2%", "-o", out});
  auto after = mark();
  prog.finish(SIGTERM);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch dm;
  ASSERT_TRUE(std::regex_search(r.err, dm, std::regex("in ([0-9.]+)s;"))) << r.err;
  const double secs = std::stod(dm[1]);
  const double rounds_per_s = (after.second - before.second) / ((after.first - before.first) / 1e9);
  auto rows = parse_table(read_file(out), 2);
  const std::pair<const char*, int> fns[] = {{"steady_a", 3}, {"steady_b", 2}, {"steady_c", 1}};
  for (const auto& [fn, per_round] : fns) {
    double truth = rounds_per_s * per_round * secs;
    EXPECT_NEAR(static_cast<double>(sum_for(rows, fn, "malloc", 2).values[0]), truth, truth * 0.10)
        << fn << "\n"
        << read_file(out) << r.err;
  }
  EXPECT_NE(r.err.find("duty cycle of PID"), std::string::npos) << "the output shows the windows";
}

}  // namespace
}  // namespace scorch::test
