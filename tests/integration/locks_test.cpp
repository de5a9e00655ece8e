// Lock contention end to end: real scorchd, the futex and lock tracepoints, our own test program
// that times its own waits inside pthread_mutex_lock.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "export/folded.h"
#include "harness.h"

namespace scorch::test {
namespace {

/// lock_sites' own account: ns spent inside pthread_mutex_lock per site, and in the condvar wait.
struct LockTruth {
  double site_a_us = 0, site_b_us = 0, cond_us = 0;
  bool ok = false;
};
LockTruth parse_locks(const std::string& line) {
  std::smatch m;
  LockTruth t;
  if (std::regex_search(line, m,
                        std::regex("site_a_ns=(\\d+) site_a_calls=\\d+ site_b_ns=(\\d+) site_b_calls=\\d+ "
                                   "cond_wait_ns=(\\d+)"))) {
    t.site_a_us = std::stod(m[1]) / 1e3;
    t.site_b_us = std::stod(m[2]) / 1e3;
    t.cond_us = std::stod(m[3]) / 1e3;
    t.ok = true;
  }
  return t;
}

/// Microseconds in stacks holding `function`; and in those where `callers` (outermost first) sit
/// right above it.
struct Waited {
  uint64_t us = 0, chained = 0;
};
Waited waited_in(const Profile& p, const std::string& function, const std::vector<std::string>& callers) {
  Waited w;
  for (const auto& s : p.stacks)
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (s.frames[i].name != function) continue;
      w.us += s.count;
      bool whole = i >= callers.size();
      for (size_t k = 0; whole && k < callers.size(); ++k) whole = s.frames[i - callers.size() + k].name == callers[k];
      if (whole) w.chained += s.count;
      break;
    }
  return w;
}

/// Microseconds in stacks holding `function` whose leaf (the lock frame) begins with `leaf`.
uint64_t waited_at(const Profile& p, const std::string& function, const std::string& leaf) {
  uint64_t us = 0;
  for (const auto& s : p.stacks) {
    if (s.frames.empty() || s.frames.back().name.rfind(leaf, 0) != 0) continue;
    for (const auto& f : s.frames)
      if (f.name == function) {
        us += s.count;
        break;
      }
  }
  return us;
}

/// A number after `key=` in a program's line; -1 when absent.
double figure(const std::string& line, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(key + "=(\\d+)"))) return -1;
  return std::stod(m[1]);
}

class Locks : public DaemonTest {
 protected:
  /// Waits until scorchd reports a locks session on pid (its programs are attached then).
  bool wait_attached(int pid) {
    for (int i = 0; i < 200; ++i) {
      RunResult st = daemon_->cli({"status"});
      if (st.out.find("locks PID " + std::to_string(pid)) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  /// Runs prog_argv (a program that prints "ready", waits for SIGUSR1, works, prints its own
  /// figures in one line) under `scorch locks -p PID -d 8 extra...`, starting it once attached.
  /// Returns the program's line and the CLI's result.
  std::pair<std::string, RunResult> run_traced(const std::vector<std::string>& prog_argv,
                                               const std::vector<std::string>& extra) {
    Child prog(prog_argv);
    EXPECT_EQ(prog.read_line().rfind("ready", 0), 0u);
    std::vector<std::string> args = {"locks", "-p", std::to_string(prog.pid()), "-d", "8"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r;
    std::thread t([&] { r = daemon_->cli(args); });
    bool attached = wait_attached(prog.pid());
    EXPECT_TRUE(attached) << "no locks session appeared in scorch status";
    ::kill(prog.pid(), SIGUSR1);
    std::string line = prog.read_line(std::chrono::seconds(20));
    t.join();
    prog.finish(SIGTERM);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return {line, r};
  }

  /// As run_traced, with the folded profile.
  std::pair<std::string, Profile> trace(const std::vector<std::string>& prog_argv,
                                        const std::vector<std::string>& extra, RunResult* cli = nullptr) {
    std::string out = dir_ + "/locks.folded";
    std::vector<std::string> args = {"-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [line, r] = run_traced(prog_argv, args);
    if (cli) *cli = r;
    return {line, ::access(out.c_str(), F_OK) == 0 ? load_folded(out) : Profile{}};
  }

  /// lock_sites for 3 s under `scorch locks -p`.
  std::pair<LockTruth, Profile> trace_locks(const std::vector<std::string>& extra, RunResult* cli = nullptr) {
    auto [line, p] = trace({testprog("lock_sites"), "3"}, extra, cli);
    LockTruth truth = parse_locks(line);
    EXPECT_TRUE(truth.ok) << line;
    return {truth, p};
  }
};

// Acceptance 1: each site's wait within 10% of the program's own figure, with the whole chain on
// a -fomit-frame-pointer build; the condvar's own wait is not lock wait.
TEST_F(Locks, WaitPerSiteMatchesWhatTheProgramMeasured) {
  RunResult r;
  auto [truth, p] = trace_locks({}, &r);
  ASSERT_TRUE(truth.ok);
  Waited a = waited_in(p, "site_a", {"worker"});
  Waited b = waited_in(p, "site_b", {"worker"});
  EXPECT_NEAR(static_cast<double>(a.us), truth.site_a_us, truth.site_a_us * 0.10) << r.err;
  EXPECT_NEAR(static_cast<double>(b.us), truth.site_b_us, truth.site_b_us * 0.10);
  EXPECT_GE(a.chained, a.us * 95 / 100) << "site_a must sit below worker";
  // The locks are static variables of the program: named by their symbols.
  EXPECT_EQ(waited_at(p, "site_a", "[mutex mutex_a (0x"), a.us) << "mutex A named by its symbol";
  EXPECT_EQ(waited_at(p, "site_b", "[mutex mutex_b (0x"), b.us) << "mutex B named by its symbol";
  EXPECT_LT(static_cast<double>(waited_in(p, "cond_waiter", {}).us), truth.cond_us * 0.05)
      << "the condition variable's wait is not lock contention";
  EXPECT_NE(r.err.find("exited during the profile"), std::string::npos) << "the program exits mid-trace: " << r.err;
}

// --holders: A's waits are charged to the stacks that released A, through hold_a.
TEST_F(Locks, HoldersAreTheStacksThatReleased) {
  auto [truth, p] = trace_locks({"--holders"});
  ASSERT_TRUE(truth.ok);
  uint64_t through_hold_a = waited_in(p, "hold_a", {}).us, all_a = 0;
  for (const auto& s : p.stacks)
    for (const auto& f : s.frames)
      if (f.name == "hold_a" || f.name == "site_a") {
        all_a += s.count;
        break;
      }
  ASSERT_GT(all_a, 0u);
  EXPECT_GE(through_hold_a, all_a * 80 / 100);
}

// Acceptance 2: std::mutex, a rwlock whose writer blocks its readers, and a PI mutex: each site's
// wait within 10% of the program's own figure, under a leaf that names the lock's kind.
TEST_F(Locks, EachKindShowsItsWaitsAndKind) {
  RunResult r;
  auto [line, p] = trace({testprog("lock_kinds"), "3"}, {}, &r);
  ASSERT_GE(figure(line, "pi_ns"), 0) << line;
  // The locks are variables in an anonymous namespace (local symbols): named, demangled.
  struct Site {
    const char *function, *leaf, *key;
  } sites[] = {{"std_site", "[mutex (anonymous namespace)::std_mu (0x", "std_ns"},
               {"read_site", "[rwlock (read) (anonymous namespace)::rw_mu", "read_ns"},
               {"write_site", "[rwlock (write) (anonymous namespace)::rw_mu", "write_ns"},
               {"pi_site", "[pi-mutex (anonymous namespace)::pi_mu (0x", "pi_ns"}};
  for (const Site& s : sites) {
    const double truth_us = figure(line, s.key) / 1e3;
    ASSERT_GT(truth_us, 50'000) << s.function << " hardly waited: " << line;
    EXPECT_NEAR(static_cast<double>(waited_at(p, s.function, s.leaf)), truth_us, truth_us * 0.10)
        << s.function << " under " << s.leaf << "...]: " << r.err;
  }
}

// Acceptance 3: --kernel on threads contending on their mmap_lock: the kernel stack through the
// rwsem's slow path, the lock named, the process and its user stack shown.
TEST_F(Locks, KernelLocksShowStacksTheLockAndTheProcess) {
  RunResult r;
  auto [line, p] = trace({testprog("mmap_storm"), "4", "3"}, {"--kernel"}, &r);
  ASSERT_GT(figure(line, "maps"), 0) << line;
  uint64_t mmap_lock = 0, through_slowpath = 0, with_user = 0;
  for (const auto& s : p.stacks) {
    ASSERT_FALSE(s.frames.empty());
    if (s.frames.back().name.find(" mmap_lock]") == std::string::npos) continue;
    EXPECT_EQ(s.comm, "mmap_storm");
    mmap_lock += s.count;
    bool slow = false, user = false;
    for (const auto& f : s.frames) {
      slow |= f.kernel && f.name.find("rwsem_down_") != std::string::npos;
      user |= !f.kernel && f.name == "map_loop";
    }
    if (slow) through_slowpath += s.count;
    if (user) with_user += s.count;
  }
  ASSERT_GT(mmap_lock, 1000u) << "4 threads mapping and unmapping for 3 s wait on their mmap_lock: " << r.err;
  EXPECT_GE(through_slowpath, mmap_lock * 95 / 100) << "kernel stacks through rwsem_down_*_slowpath";
  EXPECT_GE(with_user, mmap_lock * 95 / 100) << "the user stack of the task that waited, through map_loop";
}

// Acceptance 4: --min-wait is applied in the kernel: no counted wait is shorter, and the shorter
// ones are counted as such.
TEST_F(Locks, MinWaitFiltersInTheKernel) {
  std::string table = dir_ + "/min.txt";
  auto [line, r] = run_traced({testprog("lock_sites"), "3"}, {"--min-wait", "1ms", "-o", table});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  LockTruth truth = parse_locks(line);
  ASSERT_TRUE(truth.ok);
  // Rows: WAIT US, CONTENTIONS, MAX WAIT US, stack; then a log2 histogram of the waits per lock,
  // one line per bucket: "[low, high)  count |@@@ |".
  std::ifstream in(table);
  std::string row;
  uint64_t rows = 0, waited = 0, contentions = 0, in_histograms = 0;
  while (std::getline(in, row)) {
    std::smatch m;
    if (std::regex_search(row, m, std::regex("^\\[(\\d+), (\\d+)\\)\\s+(\\d+) \\|"))) {
      const uint64_t low = std::stoull(m[1]), n = std::stoull(m[3]);
      in_histograms += n;
      if (n) {
        EXPECT_GE(low, 1u << 19) << "1 ms is in [2^19, 2^20) ns: " << row;
      }
      continue;
    }
    if (!std::regex_search(row, m, std::regex("^\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+\\["))) continue;
    ++rows;
    uint64_t us = std::stoull(m[1]), n = std::stoull(m[2]);
    waited += us;
    contentions += n;
    EXPECT_GE(us, n * 1000) << "a wait under 1 ms was counted: " << row;
  }
  EXPECT_GT(rows, 0u) << read_file(table);
  EXPECT_EQ(in_histograms, contentions) << "every counted wait is in its lock's histogram\n" << read_file(table);
  EXPECT_LT(static_cast<double>(waited), truth.site_a_us + truth.site_b_us) << "short waits were left out";
  EXPECT_NE(r.err.find("shorter than --min-wait"), std::string::npos) << r.err;
}

// Every kind of pthread mutex is traced and named: recursive (taken twice by its owner, one wait),
// error-checking and adaptive (which spins a little in user space first), each within 10% of the
// program's own figure.
TEST_F(Locks, EachPthreadMutexKindShowsItsWaitsAndKind) {
  RunResult r;
  auto [line, p] = trace({testprog("lock_kinds"), "3", "pthread"}, {}, &r);
  ASSERT_GE(figure(line, "adaptive_ns"), 0) << line;
  struct Site {
    const char *function, *leaf, *key;
  } sites[] = {{"recursive_site", "[mutex (recursive) (anonymous namespace)::recursive_mu (0x", "recursive_ns"},
               {"errorcheck_site", "[mutex (error-checking) (anonymous namespace)::errorcheck_mu (0x", "errorcheck_ns"},
               {"adaptive_site", "[mutex (adaptive) (anonymous namespace)::adaptive_mu (0x", "adaptive_ns"}};
  for (const Site& s : sites) {
    const double truth_us = figure(line, s.key) / 1e3;
    ASSERT_GT(truth_us, 50'000) << s.function << " hardly waited: " << line;
    EXPECT_NEAR(static_cast<double>(waited_at(p, s.function, s.leaf)), truth_us, truth_us * 0.10)
        << s.function << " under " << s.leaf << "...]: " << r.err;
  }
}

// The default table's top holders: the threads that owned a mutex when others began to wait for
// it. Only the site_a-N threads ever hold A: A's waits are charged to them, and add up to the
// time the program measured in site_a.
TEST_F(Locks, TopHoldersAreTheThreadsThatOwnedTheMutex) {
  std::string table = dir_ + "/holders.txt";
  auto [line, r] = run_traced({testprog("lock_sites"), "3"}, {"-o", table});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  LockTruth truth = parse_locks(line);
  ASSERT_TRUE(truth.ok);
  const std::string text = read_file(table);
  const size_t section = text.find("\ntop holders: ");
  ASSERT_NE(section, std::string::npos) << text;
  std::istringstream in(text.substr(section));
  std::string row;
  uint64_t a_by_site_a = 0, a_by_others = 0, b_by_site_b = 0, holder_rows = 0;
  std::set<std::string> a_holders;
  while (std::getline(in, row)) {
    std::smatch m;
    if (!std::regex_search(row, m,
                           std::regex("^\\s*(\\d+)\\s+(\\d+)\\s+\\d+"
                                      "\\s+tid (\\d+) \\(([^)]*)\\)\\s+mutex (\\S+)")))
      continue;
    ++holder_rows;
    const uint64_t us = std::stoull(m[1]);
    const std::string comm = m[4], lock = m[5];
    if (lock == "mutex_a") {
      (comm.rfind("site_a-", 0) == 0 ? a_by_site_a : a_by_others) += us;
      a_holders.insert(comm);
    }
    if (lock == "mutex_b" && comm.rfind("site_b-", 0) == 0) b_by_site_b += us;
  }
  ASSERT_GT(holder_rows, 0u) << text;
  EXPECT_EQ(a_holders.size(), 3u) << "the three site_a threads held A by turns\n" << text;
  EXPECT_EQ(a_by_others, 0u) << "only site_a threads hold A\n" << text;
  EXPECT_NEAR(static_cast<double>(a_by_site_a), truth.site_a_us, truth.site_a_us * 0.10) << text;
  EXPECT_NEAR(static_cast<double>(b_by_site_b), truth.site_b_us, truth.site_b_us * 0.10) << text;
}

// A daemon that cannot trace kernel locks (here turned off, as a kernel without the lock
// tracepoints would have it): --kernel is refused with the reason, status says so, user-space
// locks still work.
TEST_F(Locks, WithoutKernelLockTracingKernelIsRefusedAndUserLocksWork) {
  daemon_.reset();
  daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"--kernel-locks", "off"});
  Child prog({testprog("lock_sites"), "1"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  RunResult k = daemon_->cli({"locks", "--kernel", "-p", std::to_string(prog.pid()), "-d", "1"});
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_NE(
      k.err.find("scorch: failed to trace kernel locks: kernel locks are turned off (scorchd --kernel-locks off)"),
      std::string::npos)
      << k.err;
  EXPECT_NE(k.err.find("HINT: scorch locks without --kernel traces user-space locks"), std::string::npos) << k.err;
  RunResult st = daemon_->cli({"status"});
  EXPECT_NE(st.out.find("kernel locks: kernel locks are turned off"), std::string::npos) << st.out;
  prog.finish(SIGTERM);

  auto [truth, p] = trace_locks({});
  ASSERT_TRUE(truth.ok);
  const double a = static_cast<double>(waited_in(p, "site_a", {"worker"}).us);
  EXPECT_NEAR(a, truth.site_a_us, truth.site_a_us * 0.10);
}

// A full map: with room for two buckets, lock_kinds' four locks overflow it. The waits that did
// not fit are counted and shown; those that did are still reported.
TEST_F(Locks, AFullMapIsCountedAndShown) {
  daemon_.reset();
  daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"--locks-map-entries", "2"});
  std::string table = dir_ + "/full.txt";
  auto [line, r] = run_traced({testprog("lock_kinds"), "2"}, {"-o", table});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_GE(figure(line, "std_ns"), 0) << line;
  const std::string text = read_file(table);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("Dropped: (?:.*, )?(\\d+) map full"))) << text;
  EXPECT_GT(std::stoull(m[1]), 100u) << text;
  EXPECT_NE(text.find("_site"), std::string::npos) << "the waits that fit are reported\n" << text;
  RunResult st = daemon_->cli({"status"});
  EXPECT_TRUE(std::regex_search(st.out, std::regex("lost: [1-9]\\d* \\(map full\\)"))) << st.out;
}

TEST_F(Locks, UnknownPidIsAClearError) {
  RunResult r = daemon_->cli({"locks", "-p", "4194000", "-d", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scorch: failed to trace locks of PID 4194000: no such process"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace scorch::test
