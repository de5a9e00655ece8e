// Lock contention end to end: real scorchd, the futex and lock tracepoints, our own test program
// that times its own waits inside pthread_mutex_lock.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <regex>
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
  /// Returns the program's line and the profile.
  std::pair<std::string, Profile> trace(const std::vector<std::string>& prog_argv,
                                        const std::vector<std::string>& extra, RunResult* cli = nullptr) {
    Child prog(prog_argv);
    EXPECT_EQ(prog.read_line().rfind("ready", 0), 0u);
    std::string out = dir_ + "/locks.folded";
    std::vector<std::string> args = {"locks", "-p", std::to_string(prog.pid()), "-d", "8", "-o", out};
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
  EXPECT_LT(static_cast<double>(waited_in(p, "cond_waiter", {}).us), truth.cond_us * 0.05)
      << "the condition variable's wait is not lock contention";
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

TEST_F(Locks, UnknownPidIsAClearError) {
  RunResult r = daemon_->cli({"locks", "-p", "4194000", "-d", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scorch: failed to trace locks of PID 4194000: no such process"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace scorch::test
