// Any perf event as a profile, exact counts, and LLC misses, end to end: real scorchd, software
// events on the same code path as hardware ones, our own test programs that count themselves.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <thread>

#include "export/folded.h"
#include "harness.h"

namespace scorch::test {
namespace {

/// A number after `key=` in a program's line; -1 when absent.
double figure(const std::string& line, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\\b" + key + "=(\\d+)"))) return -1;
  return std::stod(m[1]);
}

/// Counts in stacks whose leaf is `leaf`, and in those of them with `callers` right above it.
struct Weighed {
  uint64_t count = 0, chained = 0;
};
Weighed at_leaf(const Profile& p, const std::string& leaf, const std::vector<std::string>& callers) {
  Weighed w;
  for (const auto& s : p.stacks) {
    if (s.frames.empty() || s.frames.back().name != leaf) continue;
    w.count += s.count;
    const size_t n = s.frames.size();
    bool whole = n > callers.size();
    for (size_t k = 0; whole && k < callers.size(); ++k)
      whole = s.frames[n - 1 - callers.size() + k].name == callers[k];
    if (whole) w.chained += s.count;
  }
  return w;
}

class Events : public DaemonTest {
 protected:
  /// Runs each of clis (scorch argument lists, "PID" replaced by the program's pid) at once on
  /// prog_argv, a program that prints "ready", waits for SIGUSR1, works and prints one line of
  /// figures; starts it once scorchd lists as many sessions (of that PID or of all processes).
  /// The program's line and the results.
  std::pair<std::string, std::vector<RunResult>> run(const std::vector<std::string>& prog_argv,
                                                     std::vector<std::vector<std::string>> clis) {
    Child prog(prog_argv);
    EXPECT_EQ(prog.read_line().rfind("ready", 0), 0u);
    const std::string pid = std::to_string(prog.pid());
    std::vector<RunResult> results(clis.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < clis.size(); ++i) {
      for (auto& a : clis[i])
        if (a == "PID") a = pid;
      threads.emplace_back([this, &results, &clis, i] { results[i] = daemon_->cli(clis[i]); });
    }
    bool attached = false;
    for (int i = 0; i < 200 && !attached; ++i) {
      RunResult st = daemon_->cli({"status"});
      size_t n = 0;
      for (const std::string& who : {" PID " + pid, std::string("all processes")})
        for (size_t at = st.out.find(who); at != std::string::npos; at = st.out.find(who, at + 1)) ++n;
      attached = n >= clis.size();
      if (!attached) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(attached) << "the sessions did not appear in scorch status";
    ::kill(prog.pid(), SIGUSR1);
    std::string line = prog.read_line(std::chrono::seconds(20));
    for (auto& t : threads) t.join();
    prog.finish(SIGTERM);
    return {line, results};
  }
};

// Acceptance 1: every fault of touch_a and touch_b, sampled at a period of 1, within 3% of the
// program's own count, under its whole chain on a -fomit-frame-pointer build. A second session
// at a period of 10 at the same time weighs each sample as 10 faults: the same counts.
TEST_F(Events, PageFaultProfileGivesEachFunctionsFaults) {
  const std::string out = dir_ + "/faults.folded", tenth = dir_ + "/tenth.folded";
  auto [line, r] = run({testprog("fault_split")},
                       {{"profile", "-e", "page-faults", "-c", "1", "-p", "PID", "-d", "4", "-o", out},
                        {"profile", "-e", "page-faults", "-c", "10", "-p", "PID", "-d", "4", "-o", tenth}});
  ASSERT_EQ(r[0].exit_code, 0) << r[0].err;
  ASSERT_EQ(r[1].exit_code, 0) << r[1].err;
  const double a = figure(line, "touch_a"), b = figure(line, "touch_b");
  ASSERT_GT(a, 1000) << line;
  ASSERT_GT(b, 1000) << line;
  EXPECT_NEAR(a / b, 3.0, 0.1) << line;
  const Profile p = load_folded(out);
  const Weighed wa = at_leaf(p, "touch_a", {"main", "fault_driver"}),
                wb = at_leaf(p, "touch_b", {"main", "fault_driver"});
  EXPECT_NEAR(static_cast<double>(wa.count), a, a * 0.03) << line;
  EXPECT_NEAR(static_cast<double>(wb.count), b, b * 0.03) << line;
  EXPECT_GE(wa.chained, wa.count * 95 / 100) << "main;fault_driver;touch_a";
  EXPECT_GE(wb.chained, wb.count * 95 / 100) << "main;fault_driver;touch_b";
  EXPECT_NE(r[0].err.find(" page-faults in "), std::string::npos) << "the summary counts events: " << r[0].err;
  const Profile q = load_folded(tenth);
  EXPECT_NEAR(static_cast<double>(at_leaf(q, "touch_a", {}).count), a, a * 0.03) << "period 10";
  EXPECT_NEAR(static_cast<double>(at_leaf(q, "touch_b", {}).count), b, b * 0.03) << "period 10";
}

// Acceptance 1: exact counting of the program's faults and context switches, within 1%.
TEST_F(Events, StatCountsMatchWhatTheProgramCounted) {
  auto [line, r] =
      run({testprog("fault_split")}, {{"stat", "-e", "page-faults,context-switches", "-p", "PID", "-d", "4"}});
  ASSERT_EQ(r[0].exit_code, 0) << r[0].err;
  const double faults = figure(line, "faults"), csw = figure(line, "csw");
  ASSERT_GT(faults, 1000) << line;
  ASSERT_GT(csw, 500) << line;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r[0].out, m, std::regex("\\s(\\d+)  page-faults\\n"))) << r[0].out;
  EXPECT_NEAR(std::stod(m[1]), faults, faults * 0.01) << r[0].out << line;
  ASSERT_TRUE(std::regex_search(r[0].out, m, std::regex("\\s(\\d+)  context-switches\\n"))) << r[0].out;
  EXPECT_NEAR(std::stod(m[1]), csw, csw * 0.01) << r[0].out << line;
  // The same as JSON: a counts table with every value.
  auto [line2, j] = run({testprog("fault_split")}, {{"-j", "stat", "-e", "page-faults", "-p", "PID", "-d", "4"}});
  ASSERT_EQ(j[0].exit_code, 0) << j[0].err;
  ASSERT_TRUE(std::regex_search(j[0].out, m, std::regex(R"("event":"page-faults","count":(\d+))"))) << j[0].out;
  EXPECT_NEAR(std::stod(m[1]), figure(line2, "faults"), figure(line2, "faults") * 0.01) << j[0].out;
}

// Acceptance 3: a cpu-clock 99 Hz session and a page-faults period-1 session on the same process
// at once: each sees its own samples only.
TEST_F(Events, TwoSessionsWithDifferentEventsStayApart) {
  const std::string faults = dir_ + "/faults.folded", cpu = dir_ + "/cpu.folded";
  auto [line, r] =
      run({testprog("fault_split")}, {{"profile", "-e", "page-faults", "-c", "1", "-p", "PID", "-d", "4", "-o", faults},
                                      {"profile", "-F", "99", "-p", "PID", "-d", "4", "-o", cpu}});
  ASSERT_EQ(r[0].exit_code, 0) << r[0].err;
  ASSERT_EQ(r[1].exit_code, 0) << r[1].err;
  const double all_faults = figure(line, "faults"), cpu_s = figure(line, "cpu_us") / 1e6;
  ASSERT_GT(all_faults, 1000) << line;
  EXPECT_NEAR(static_cast<double>(load_folded(faults).total()), all_faults, all_faults * 0.03)
      << "no cpu-clock sample in the page-fault profile";
  // The program runs cpu_s of CPU time: at 99 Hz that is about 99 * cpu_s samples (a few more for
  // the rounding of short runs), never one per fault.
  const uint64_t samples = load_folded(cpu).total();
  EXPECT_LE(static_cast<double>(samples), 99 * cpu_s * 1.5 + 10) << line;
  EXPECT_LT(static_cast<double>(samples), all_faults / 10) << "page faults leaked into the cpu-clock profile";
}

/// The count of event for pid (and tid: 0 for a process's row) in stat's JSON; -1 when absent.
double json_count(const std::string& json, const std::string& pid, const std::string& tid, const std::string& event) {
  std::smatch m;
  const std::regex row("\"pid\":" + pid + ",\"tid\":" + tid + ",\"comm\":\"[^\"]*\",\"event\":\"" + event +
                       "\",\"count\":(\\d+)");
  return std::regex_search(json, m, row) ? std::stod(m[1]) : -1;
}

// Per process over the whole system (no -p), and per thread (-T): each CPU's counters are read at
// every context switch and charged to the task that ran. The work runs in a thread created after
// the sessions started: -p's inherited counters must count it once, not twice, and -T must give
// it a row of its own with what that thread counted itself.
TEST_F(Events, WholeSystemAndPerThreadCountsMatchWhatTheProgramCounted) {
  auto [line, r] = run({testprog("fault_split"), "4000", "1000", "thread"},
                       {{"-j", "stat", "-e", "page-faults,context-switches", "-d", "4"},
                        {"-j", "stat", "-e", "page-faults,context-switches", "-p", "PID", "-d", "4"},
                        {"-j", "stat", "-T", "-e", "page-faults,context-switches", "-p", "PID", "-d", "4"}});
  for (const RunResult& x : r) ASSERT_EQ(x.exit_code, 0) << x.err;
  const double faults = figure(line, "faults"), csw = figure(line, "csw"), worker = figure(line, "worker"),
               worker_faults = figure(line, "worker_faults"), worker_csw = figure(line, "worker_csw");
  ASSERT_GT(faults, 1000) << line;
  ASSERT_GT(csw, 500) << line;
  ASSERT_GT(worker, 0) << line;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r[1].out, m, std::regex(R"("pid":(\d+),"tid":0)"))) << r[1].out;
  const std::string pid = m[1], tid = std::to_string(static_cast<long>(worker));
  // A context switch is charged to the task switched in (the kernel counts it after the
  // tracepoint), which differs by a switch or two per thread from the program's own count.
  const auto near = [](double measured, double truth) {
    return std::abs(measured - truth) <= std::max(truth * 0.01, 3.0);
  };
  EXPECT_NEAR(json_count(r[0].out, pid, "0", "page-faults"), faults, faults * 0.01) << "whole system\n" << line;
  EXPECT_TRUE(near(json_count(r[0].out, pid, "0", "context-switches"), csw)) << r[0].out << line;
  EXPECT_NEAR(json_count(r[1].out, pid, "0", "page-faults"), faults, faults * 0.01) << "-p, counted once\n" << line;
  EXPECT_TRUE(near(json_count(r[1].out, pid, "0", "context-switches"), csw)) << r[1].out << line;
  EXPECT_NEAR(json_count(r[2].out, pid, tid, "page-faults"), worker_faults, worker_faults * 0.01) << r[2].out << line;
  EXPECT_TRUE(near(json_count(r[2].out, pid, tid, "context-switches"), worker_csw)) << r[2].out << line;
  // The whole system has the other processes that ran too, each once.
  std::set<std::string> pids;
  const std::regex row(R"("pid":(\d+),"tid":0,[^}]*"event":"page-faults")");
  for (std::sregex_iterator it(r[0].out.begin(), r[0].out.end(), row), end; it != end; ++it)
    EXPECT_TRUE(pids.insert((*it)[1]).second) << "two rows for PID " << (*it)[1];
  EXPECT_GE(pids.size(), 2u) << r[0].out;
  // As text: a row per process, the heaviest first by the first event.
  auto [line2, t] = run({testprog("fault_split"), "4000", "100", "thread"}, {{"stat", "-e", "page-faults", "-d", "3"}});
  ASSERT_EQ(t[0].exit_code, 0) << t[0].err;
  EXPECT_NE(t[0].out.find("     PID COMM"), std::string::npos) << t[0].out;
  EXPECT_TRUE(std::regex_search(t[0].out, std::regex(R"(\n +\d+ fault_split +\d+\n)"))) << t[0].out;
}

/// Whether scorchd can open the event, from scorch list; the reason when it cannot.
std::pair<bool, std::string> event_available(Daemon& d, const std::string& event) {
  RunResult l = d.cli({"list"});
  std::smatch m;
  if (!std::regex_search(l.out, m, std::regex("\\n  " + event + " +(yes|no) +([^\\n]*)"))) return {false, l.out};
  return {m[1] == "yes", m[2]};
}

// Acceptance 2, on a machine without a hardware PMU (this VM): llc, a hardware profile and
// scorch list each say so; everything else keeps working (the tests above).
TEST_F(Events, WithoutAPmuHardwareEventsFailClearly) {
  auto [available, why] = event_available(*daemon_, "cycles");
  if (available) GTEST_SKIP() << "this machine has a hardware PMU (scorch list: cycles yes)";
  EXPECT_NE(why.find("this machine has no hardware PMU"), std::string::npos) << why;
  RunResult llc = daemon_->cli({"llc", "-d", "2"});
  EXPECT_EQ(llc.exit_code, 1);
  EXPECT_NE(llc.err.find("scorch: failed to count LLC misses: this machine has no hardware PMU ("), std::string::npos)
      << llc.err;
  EXPECT_NE(llc.err.find("HINT: "), std::string::npos) << llc.err;
  RunResult prof =
      daemon_->cli({"profile", "-e", "cache-misses", "-c", "10000", "-p", std::to_string(::getpid()), "-d", "1"});
  EXPECT_EQ(prof.exit_code, 1);
  EXPECT_NE(prof.err.find("scorch: failed to sample cache-misses: this machine has no hardware PMU"), std::string::npos)
      << prof.err;
  RunResult st = daemon_->cli({"status"});
  EXPECT_NE(st.out.find("perf_hw_cycles"), std::string::npos) << st.out;
  RunResult bad = daemon_->cli({"stat", "-e", "no-such-event", "-d", "1"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("unknown event 'no-such-event'"), std::string::npos) << bad.err;
}

// Acceptance 2, where a PMU exists: a pointer chase through 64 MiB misses the last-level cache at
// least 10x as often as one through 64 KiB (same number of loads).
TEST_F(Events, LlcMissesOfALargeWorkingSetExceedASmallOnes) {
  auto [available, why] = event_available(*daemon_, "cache-misses");
  if (!available) GTEST_SKIP() << "needs a hardware PMU: " << why;
  auto misses = [&](const char* bytes) {
    auto [line, r] = run({testprog("ptr_chase"), bytes, "20000000"}, {{"-j", "llc", "-p", "PID", "-d", "4"}});
    EXPECT_EQ(r[0].exit_code, 0) << r[0].err;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r[0].out, m, std::regex(R"("event":"cache-misses","count":(\d+))"))) << r[0].out;
    return m.empty() ? 0.0 : std::stod(m[1]);
  };
  const double large = misses("67108864"), small = misses("65536");
  EXPECT_GE(large, small * 10) << "64 MiB: " << large << " misses, 64 KiB: " << small;
  // Per process over the whole system: the same misses as counted for the process alone.
  auto [line, r] = run({testprog("ptr_chase"), "67108864", "20000000"},
                       {{"-j", "llc", "-p", "PID", "-d", "4"}, {"-j", "llc", "-d", "4"}});
  ASSERT_EQ(r[0].exit_code, 0) << r[0].err;
  ASSERT_EQ(r[1].exit_code, 0) << r[1].err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r[0].out, m, std::regex(R"("pid":(\d+),"tid":0)"))) << r[0].out;
  const double alone = json_count(r[0].out, m[1], "0", "cache-misses"),
               whole = json_count(r[1].out, m[1], "0", "cache-misses");
  EXPECT_NEAR(whole, alone, alone * 0.1) << r[1].out;
}

}  // namespace
}  // namespace scorch::test
