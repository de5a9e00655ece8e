// On-CPU profiling end to end: real scorchd, real BPF, real CLI, our own test programs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "export/folded.h"
#include "harness.h"

namespace scorch::test {
namespace {

/// cpu_split's own account of where its CPU time went.
struct SplitTruth {
  double a_share = 0;  // burn_a / (burn_a + burn_b)
  bool ok = false;
};

SplitTruth parse_truth(const std::string& out) {
  std::smatch m;
  static const std::regex re("burn_a_ns=(\\d+) burn_b_ns=(\\d+)");
  SplitTruth t;
  if (std::regex_search(out, m, re)) {
    double a = std::stod(m[1]), b = std::stod(m[2]);
    t.a_share = a / (a + b);
    t.ok = a + b > 0;
  }
  return t;
}

/// Samples per burn function, and how many of them show main -> run_workload -> burn_x.
struct BurnCounts {
  uint64_t a = 0, b = 0, chained = 0, total = 0;
};

/// Samples whose stack holds `function`, and how many of them have exactly `callers` (outermost
/// first) right above its first occurrence. An empty comm counts every process.
struct ChainCount {
  uint64_t with_function = 0, whole_chain = 0;
};

ChainCount count_chain(const Profile& p, const std::string& function, const std::vector<std::string>& callers,
                       const std::string& comm = "") {
  ChainCount c;
  for (const auto& s : p.stacks) {
    if (!comm.empty() && s.comm != comm) continue;
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (s.frames[i].name != function) continue;
      c.with_function += s.count;
      bool whole = i >= callers.size();
      for (size_t k = 0; whole && k < callers.size(); ++k) whole = s.frames[i - callers.size() + k].name == callers[k];
      if (whole) c.whole_chain += s.count;
      break;
    }
  }
  return c;
}

BurnCounts count_burns(const Profile& p, const std::string& comm) {
  ChainCount a = count_chain(p, "burn_a", {"main", "run_workload"}, comm);
  ChainCount b = count_chain(p, "burn_b", {"main", "run_workload"}, comm);
  BurnCounts c{a.with_function, b.with_function, a.whole_chain + b.whole_chain, 0};
  for (const auto& s : p.stacks)
    if (s.comm == comm) c.total += s.count;
  return c;
}

class OnCpu : public DaemonTest {
 protected:
};

// Acceptance 2: a 70/30 split shows as 70/30 (±5 points) and the stacks read main -> caller -> burn.
TEST_F(OnCpu, PidProfileMatchesKnownCpuSplit) {
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/x.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "5", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto done = prog.finish(SIGTERM);
  SplitTruth truth = parse_truth(done.out);
  ASSERT_TRUE(truth.ok) << done.out;
  EXPECT_NEAR(truth.a_share, 0.70, 0.02) << "the test program itself missed its split";

  BurnCounts c = count_burns(load_folded(out), "cpu_split");
  ASSERT_GT(c.a + c.b, 200u) << "5 s at 99 Hz of a busy process should give ~495 samples";
  double measured = static_cast<double>(c.a) / static_cast<double>(c.a + c.b);
  EXPECT_NEAR(measured * 100, truth.a_share * 100, 5.0) << "burn_a " << c.a << " burn_b " << c.b;
  EXPECT_GE(c.chained, (c.a + c.b) * 95 / 100) << "stacks must read main;run_workload;burn_x";
  EXPECT_NE(r.err.find("drops:"), std::string::npos) << "every result reports its drops";
}

// Threads created after the profile attached are sampled too, in proportion to the CPU they used.
TEST_F(OnCpu, ThreadsCreatedAfterAttachAreSampled) {
  Child prog({testprog("late_threads"), "500", "2", "1500"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/threads.folded";
  RunResult r;
  std::thread t([&] { r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-o", out, "-d", "6"}); });
  std::string line = prog.read_line(std::chrono::seconds(20));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex("worker_cpu_ns=(\\d+)"))) << line;
  double worker_s = std::stod(m[1]) / 1e9;
  t.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  uint64_t samples = count_chain(load_folded(out), "worker_burn", {}).with_function;
  double sampled_s = static_cast<double>(samples) / 99.0;
  EXPECT_NEAR(sampled_s, worker_s, worker_s * 0.15) << samples << " samples for " << worker_s << " s of worker CPU";
}

// Without frame pointers anywhere, -p stacks are unwound from .eh_frame tables: the whole chain
// main -> chain_driver -> chain_outer -> chain_leaf (a frameless leaf) in >= 95% of leaf samples.
TEST_F(OnCpu, StacksWithoutFramePointersAreWhole) {
  Child prog({testprog("nofp_chain")});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/nofp.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ChainCount c = count_chain(load_folded(out), "chain_leaf", {"main", "chain_driver", "chain_outer"});
  uint64_t leaf = c.with_function, whole = c.whole_chain;
  ASSERT_GT(leaf, 100u);
  EXPECT_GE(whole * 100, leaf * 95) << whole << " of " << leaf << " leaf samples show the whole chain";
}

/// True when frame names the Rust function crate::...::name, mangled (legacy: "_ZN..5chain4leaf17h<hash>E")
/// or demangled ("rust_chain::chain::leaf").
bool is_rust_fn(const std::string& frame, const std::vector<std::string>& path) {
  std::string mangled, demangled;
  for (const auto& p : path) {
    mangled += std::to_string(p.size()) + p;
    demangled += (demangled.empty() ? "" : "::") + p;
  }
  return frame.find(mangled + "17h") != std::string::npos || frame == demangled ||
         frame.rfind(demangled + "::h", 0) == 0;
}

// The same for a Rust release binary (rustc's defaults: no frame pointers):
// main -> chain::driver -> chain::outer -> chain::leaf in >= 95% of the leaf's samples.
TEST_F(OnCpu, RustStacksWithoutFramePointersAreWhole) {
  if (::access(testprog("rust_chain").c_str(), X_OK) != 0)
    GTEST_SKIP()
        << "rust_chain was not built: Debian's rustc is missing (packaging/install-deps.sh --test installs it)";
  Child prog({testprog("rust_chain")});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/rust.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::vector<std::string>> chain = {{"rust_chain", "main"},
                                                       {"rust_chain", "chain", "driver"},
                                                       {"rust_chain", "chain", "outer"},
                                                       {"rust_chain", "chain", "leaf"}};
  uint64_t leaf = 0, whole = 0, demangled = 0;
  for (const auto& s : load_folded(out).stacks) {
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (!is_rust_fn(s.frames[i].name, chain.back())) continue;
      leaf += s.count;
      if (s.frames[i].name == "rust_chain::chain::leaf") demangled += s.count;
      bool ok = i >= 3;
      for (size_t k = 0; ok && k < 3; ++k) ok = is_rust_fn(s.frames[i - 3 + k].name, chain[k]);
      if (ok) whole += s.count;
      break;
    }
  }
  ASSERT_GT(leaf, 100u) << read_file(out);
  EXPECT_GE(whole * 100, leaf * 95) << whole << " of " << leaf << " leaf samples show the whole chain";
  EXPECT_EQ(demangled, leaf) << "Rust names are demangled to crate::module::function";
}

// A malloc-heavy loop: most samples land inside glibc (no frame pointers there); >= 95% of those
// still name the program's calling function.
TEST_F(OnCpu, SamplesInsideGlibcNameTheCaller) {
  Child prog({testprog("malloc_churn")});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/churn.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  uint64_t total = 0, in_glibc = 0, named = 0;
  for (const auto& s : load_folded(out).stacks) {
    total += s.count;
    const Frame* leaf = nullptr;  // the innermost user frame
    for (const auto& f : s.frames)
      if (!f.kernel) leaf = &f;
    if (!leaf) continue;
    bool glibc = leaf->name == "malloc" || leaf->name == "free" || leaf->name.rfind("libc.so.6+", 0) == 0 ||
                 leaf->name.rfind("_int_", 0) == 0 || leaf->name.rfind("__libc_", 0) == 0;
    if (!glibc) continue;
    in_glibc += s.count;
    for (const auto& f : s.frames)
      if (f.name == "alloc_churn") {
        named += s.count;
        break;
      }
  }
  ASSERT_GT(in_glibc * 2, total) << "most samples should land inside glibc: " << in_glibc << " of " << total;
  EXPECT_GE(named * 100, in_glibc * 95) << named << " of " << in_glibc << " glibc samples name alloc_churn";
}

// A library without any unwind tables: its frames take a frame-pointer step, the rest of the
// stack still comes from tables, and the profile says which file had none.
TEST_F(OnCpu, LibraryWithoutTablesFallsBackToFramePointers) {
  Child prog({testprog("nocfi_user"), "30"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/nocfi.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "2", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no unwind tables for"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("libnocfi.so"), std::string::npos) << r.err;
  ChainCount c = count_chain(load_folded(out), "nocfi_spin", {"main", "nocfi_caller"});
  uint64_t spin = c.with_function, whole = c.whole_chain;
  ASSERT_GT(spin, 50u);
  EXPECT_GE(whole * 100, spin * 95) << whole << " of " << spin;
}

// Acceptance 3a: a whole-system profile contains the program.
TEST_F(OnCpu, WholeSystemProfileContainsTheProgram) {
  Child prog({testprog("cpu_split"), "70"});
  Child other({testprog("nofp_chain")});  // a second busy process: an idle machine has little else on CPU
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  ASSERT_EQ(other.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/all.folded";
  auto r = daemon_->cli({"profile", "-d", "3", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Profile p = load_folded(out);
  // The split between the burn functions is asserted by the -p test; this one asserts whole
  // stacks and that every busy process is seen.
  BurnCounts c = count_burns(p, "cpu_split");
  ASSERT_GT(c.a + c.b, 20u);
  EXPECT_GE(c.chained * 100, (c.a + c.b) * 95) << "stacks must read main;run_workload;burn_x";
  std::set<std::string> comms;
  for (const auto& s : p.stacks) comms.insert(s.comm);
  EXPECT_TRUE(comms.count("nofp_chain")) << "a whole-system profile sees every busy process";
  for (const auto& c : comms) EXPECT_NE(c.rfind("swapper", 0), 0u) << "the idle task is left out";
}

// Samples taken as one session ends never show up in the next one.
TEST_F(OnCpu, SamplesNeverLeakIntoTheNextSession) {
  for (int round = 0; round < 3; ++round) {
    auto prog = std::make_unique<Child>(std::vector<std::string>{testprog("cpu_split"), "70"});
    ASSERT_EQ(prog->read_line().rfind("ready", 0), 0u);
    std::string gone_pid = std::to_string(prog->pid());
    // A high rate makes samples land while the final drain symbolizes, the window that once leaked.
    auto first = daemon_->cli({"-j", "profile", "-d", "0.5", "-F", "9999"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    ASSERT_NE(first.out.find("\"pid\":" + gone_pid + ","), std::string::npos) << "the busy program was sampled";
    prog->finish(SIGKILL);
    prog.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto second = daemon_->cli({"-j", "profile", "-d", "0.5", "-F", "9999"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_EQ(second.out.find("\"pid\":" + gone_pid + ","), std::string::npos)
        << "samples of PID " << gone_pid << ", dead before this profile began, leaked into it";
  }
}

// Acceptance 3b: two concurrent clients on different PIDs each get only their own PID's stacks.
TEST_F(OnCpu, ConcurrentClientsGetOnlyTheirOwnPids) {
  Child a({testprog("cpu_split"), "70"});
  Child b({testprog("cpu_split"), "30"});
  ASSERT_EQ(a.read_line().rfind("ready", 0), 0u);
  ASSERT_EQ(b.read_line().rfind("ready", 0), 0u);
  RunResult ra, rb;
  std::thread ta([&] { ra = daemon_->cli({"-j", "profile", "-p", std::to_string(a.pid()), "-d", "3"}); });
  std::thread tb([&] { rb = daemon_->cli({"-j", "profile", "-p", std::to_string(b.pid()), "-d", "2", "-F", "199"}); });
  ta.join();
  tb.join();
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  auto pids_in = [](const std::string& json) {
    std::map<std::string, int> pids;
    static const std::regex re("\"pid\":(\\d+)");
    for (auto it = std::sregex_iterator(json.begin(), json.end(), re); it != std::sregex_iterator(); ++it)
      ++pids[(*it)[1]];
    return pids;
  };
  auto pa = pids_in(ra.out), pb = pids_in(rb.out);
  ASSERT_FALSE(pa.empty()) << ra.out;
  ASSERT_FALSE(pb.empty()) << rb.out;
  EXPECT_EQ(pa.size(), 1u);
  EXPECT_EQ(pb.size(), 1u);
  EXPECT_TRUE(pa.count(std::to_string(a.pid())));
  EXPECT_TRUE(pb.count(std::to_string(b.pid())));
}

// A whole-system and a -p session at the same frequency at once: their samplers have the same
// cpu-clock period but different ids (attach cookies), so each session counts the program's
// samples once, from its own sampler: about its CPU time times 99 Hz, not twice that.
TEST_F(OnCpu, WholeSystemAndPidSessionsAtOnePeriodCountOnce) {
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string pid_out = dir_ + "/pid.folded", all_out = dir_ + "/all.folded";
  const uint64_t cpu_before = main_thread_cpu_ns(prog.pid());
  RunResult rp, ra;
  std::thread tp([&] { rp = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", pid_out}); });
  std::thread ta([&] { ra = daemon_->cli({"profile", "-d", "3", "-o", all_out}); });
  tp.join();
  ta.join();
  const uint64_t cpu_ns = main_thread_cpu_ns(prog.pid()) - cpu_before;
  ASSERT_EQ(rp.exit_code, 0) << rp.err;
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  // The CPU time spans both sessions plus their start and end: a session sees a little less.
  const double expected = static_cast<double>(cpu_ns) / 1e9 * 99.0;
  ASSERT_GT(expected, 150.0) << "cpu_split hardly ran: " << cpu_ns << " ns";
  Profile pid_profile = load_folded(pid_out);
  uint64_t own = count_burns(pid_profile, "cpu_split").total, pid_total = 0;
  for (const auto& st : pid_profile.stacks) pid_total += st.count;
  uint64_t seen_by_all = count_burns(load_folded(all_out), "cpu_split").total;
  EXPECT_EQ(pid_total, own) << "a -p session holds its own process only";
  EXPECT_GE(static_cast<double>(own), expected * 0.7) << own << " samples for " << cpu_ns << " ns of CPU";
  EXPECT_LE(static_cast<double>(own), expected * 1.15) << own << " samples for " << cpu_ns << " ns of CPU";
  EXPECT_GE(static_cast<double>(seen_by_all), expected * 0.7) << seen_by_all << " samples for " << cpu_ns << " ns";
  EXPECT_LE(static_cast<double>(seen_by_all), expected * 1.15) << seen_by_all << " samples for " << cpu_ns << " ns";
  std::printf("-p session %llu, whole-system session %llu samples of cpu_split; %.0f for its CPU time at 99 Hz\n",
              static_cast<unsigned long long>(own), static_cast<unsigned long long>(seen_by_all), expected);
}

// Acceptance 4: a non-root user may profile its own process, never another user's or the system.
TEST_F(OnCpu, NonRootUserIsLimitedToItsOwnProcesses) {
  const std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid",        "nobody", "--regid",
                                              "nogroup",          "--clear-groups", "--"};
  auto cli_as_nobody = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = as_nobody;
    argv.push_back(bin_dir() + "/scorch");
    argv.push_back("--socket");
    argv.push_back(daemon_->socket());
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  Child roots({testprog("cpu_split"), "70"});
  ASSERT_EQ(roots.read_line().rfind("ready", 0), 0u);

  auto other = cli_as_nobody({"profile", "-p", std::to_string(roots.pid()), "-d", "1"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("scorch: failed to profile PID " + std::to_string(roots.pid())), std::string::npos)
      << other.err;
  EXPECT_NE(other.err.find("permission denied"), std::string::npos) << other.err;

  auto system = cli_as_nobody({"profile", "-d", "1"});
  EXPECT_EQ(system.exit_code, 1);
  EXPECT_NE(system.err.find("failed to profile the whole system"), std::string::npos) << system.err;

  std::vector<std::string> own_argv = as_nobody;
  own_argv.push_back(testprog("cpu_split"));
  own_argv.push_back("70");
  Child own(own_argv);
  ASSERT_EQ(own.read_line().rfind("ready", 0), 0u);
  ::chmod(dir_.c_str(), 0777);
  std::string out = dir_ + "/own.folded";
  auto mine = cli_as_nobody({"profile", "-p", std::to_string(own.pid()), "-d", "2", "-o", out});
  ASSERT_EQ(mine.exit_code, 0) << mine.err;
  EXPECT_GT(count_burns(load_folded(out), "cpu_split").a, 0u);
}

// Unknown PIDs and bad arguments: clear errors, exit codes 1 and 2.
TEST_F(OnCpu, UnknownPidAndBadUsage) {
  auto r = daemon_->cli({"profile", "-p", "4000000", "-d", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scorch: failed to profile PID 4000000: no such process"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("HINT:"), std::string::npos);

  EXPECT_EQ(daemon_->cli({"profile", "-F", "0"}).exit_code, 2);
  EXPECT_EQ(daemon_->cli({"profile", "-p", "abc"}).exit_code, 2);
  EXPECT_EQ(daemon_->cli({"frobnicate"}).exit_code, 2);

  auto missing = run({bin_dir() + "/scorch", "--socket", dir_ + "/nobody-here.sock", "status"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("scorch: failed to connect to scorchd"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("HINT: is scorchd running?"), std::string::npos) << missing.err;
}

// Status shows the feature probe, including what is missing and why.
TEST_F(OnCpu, StatusReportsFeaturesAndSessions) {
  auto r = daemon_->cli({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("perf_sw_cpu_clock yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kprobes"), std::string::npos);
  EXPECT_NE(r.out.find("sessions: 0"), std::string::npos) << r.out;
  auto j = daemon_->cli({"-j", "status"});
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_NE(j.out.find("\"features\":["), std::string::npos) << j.out;

  // A running profile shows up with its PID and frequency.
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  Child cli({bin_dir() + "/scorch", "--socket", daemon_->socket(), "profile", "-p", std::to_string(prog.pid()), "-F",
             "199", "-d", "3"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto during = daemon_->cli({"status"});
  EXPECT_NE(during.out.find("sessions: 1"), std::string::npos) << during.out;
  EXPECT_NE(during.out.find("PID " + std::to_string(prog.pid()) + ", 199 Hz"), std::string::npos) << during.out;
  EXPECT_EQ(cli.wait().exit_code, 0);
}

// Acceptance 7: the SVG is well-formed XML and renders in headless Chromium with the hot function.
TEST_F(OnCpu, SvgFlamegraphOpensInChromium) {
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string svg = dir_ + "/cpu.svg";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "2", "-o", svg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lint = run({"/usr/bin/xmllint", "--noout", svg});
  EXPECT_EQ(lint.exit_code, 0) << lint.err;

  ASSERT_EQ(::access("/usr/bin/chromium", X_OK), 0) << "chromium is installed by packaging/install-deps.sh --test";
  auto dom = run({"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--user-data-dir=" + temp_dir(), "--dump-dom", "file://" + svg},
                 std::chrono::seconds(60));
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_NE(dom.out.find("burn_a"), std::string::npos);
  EXPECT_NE(dom.out.find("<svg"), std::string::npos);
}

// Ctrl-C (SIGINT to the CLI) ends the profile early and still writes the output.
TEST_F(OnCpu, InterruptEndsEarlyAndStillWrites) {
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/int.folded";
  Child cli(
      {bin_dir() + "/scorch", "--socket", daemon_->socket(), "profile", "-p", std::to_string(prog.pid()), "-o", out});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto start = std::chrono::steady_clock::now();
  auto done = cli.finish(SIGINT);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_GT(count_burns(load_folded(out), "cpu_split").a, 0u);
}

// A target that exits ends the profile; the result still arrives with a note.
TEST_F(OnCpu, TargetExitEndsTheProfile) {
  Child prog({testprog("cpu_split"), "70", "1.5"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/exit.folded";
  auto start = std::chrono::steady_clock::now();
  std::thread reaper([&] { prog.wait(); });
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "30", "-o", out});
  reaper.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(r.err.find("exited"), std::string::npos) << r.err;
  EXPECT_GT(count_burns(load_folded(out), "cpu_split").a, 0u);
}

}  // namespace
}  // namespace scorch::test
