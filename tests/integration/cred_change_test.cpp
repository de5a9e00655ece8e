// A traced process that becomes privileged (a set-user-ID-root exec) is let go at once by the
// non-root user tracing it, for every measure; root's tracing of it goes on (issue 18, attack 6).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "harness.h"

namespace scorch::test {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kAsNobody = {"/usr/bin/setpriv", "--reuid",        "nobody", "--regid",
                                            "nogroup",          "--clear-groups", "--"};

class CredChange : public DaemonTest {
 protected:
  std::vector<std::string> cli_argv(bool as_nobody, const std::vector<std::string>& args) const {
    std::vector<std::string> argv;
    if (as_nobody) argv = kAsNobody;
    argv.push_back(bin_dir() + "/scorch");
    argv.push_back("--socket");
    argv.push_back(daemon_->socket());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // How many sessions of uid the daemon runs now.
  size_t sessions_of(uint32_t uid) const {
    auto st = daemon_->cli({"status"});
    std::string needle = " uid " + std::to_string(uid) + ": ";
    size_t n = 0;
    for (size_t pos = st.out.find(needle); pos != std::string::npos; pos = st.out.find(needle, pos + 1)) ++n;
    return n;
  }

  struct Outcome {
    RunResult nobody, root;
    std::string nobody_output, root_output;  // the -o files
  };

  // Starts cred_exec as nobody, traces it as nobody (args + "-o nobody.EXT") and as root
  // (root_args + "-o root.EXT") at once, makes it exec its set-user-ID-root copy while both
  // trace, and returns what each client got.
  Outcome run_attack(const std::vector<std::string>& args, const std::vector<std::string>& root_args,
                     const std::string& ext) {
    Outcome o;
    const std::string priv = dir_ + "/priv_secret";
    std::filesystem::copy_file(testprog("cred_exec"), priv);
    EXPECT_EQ(::chown(priv.c_str(), 0, 0), 0);
    EXPECT_EQ(::chmod(priv.c_str(), 04755), 0);
    ::chmod(dir_.c_str(), 0777);  // nobody writes its output here

    std::vector<std::string> target_argv = kAsNobody;
    target_argv.push_back(testprog("cred_exec"));
    target_argv.push_back(priv);
    Child target(target_argv);
    std::string ready = target.read_line();
    EXPECT_EQ(ready.rfind("ready ", 0), 0u) << ready;
    const std::string pid = std::to_string(target.pid());

    auto with = [&](std::vector<std::string> a, const std::string& out) {
      for (auto& s : a)
        if (s == "PID") s = pid;
      a.push_back("-o");
      a.push_back(out);
      return a;
    };
    const std::string nobody_out = dir_ + "/nobody." + ext, root_out = dir_ + "/root." + ext;
    auto nobody = std::async(std::launch::async, [&] { return run(cli_argv(true, with(args, nobody_out))); });
    auto root = std::async(std::launch::async, [&] { return run(cli_argv(false, with(root_args, root_out))); });
    // Both traced, then 1 s of the user phase.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((sessions_of(65534) < 1 || sessions_of(0) < 1) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(1s);
    ::kill(target.pid(), SIGUSR1);
    // The exec really made it privileged: else the test would prove nothing.
    std::string privileged = target.read_line();
    EXPECT_EQ(privileged, "privileged euid=0");

    o.nobody = nobody.get();
    o.root = root.get();
    o.nobody_output = read_file(nobody_out);
    o.root_output = read_file(root_out);
    target.wait();
    return o;
  }

  // Nothing of the privileged program reaches nobody, who is told why; root sees it (root_sees:
  // so the privileged part was there to be seen), and nobody saw the user part.
  void expect_let_go(const Outcome& o, const std::string& user_fn, const std::string& root_sees) {
    ASSERT_EQ(o.nobody.exit_code, 0) << o.nobody.err;
    ASSERT_EQ(o.root.exit_code, 0) << o.root.err;
    EXPECT_NE(o.nobody_output.find(user_fn), std::string::npos) << o.nobody_output;
    for (const std::string& text : {o.nobody_output, o.nobody.out, o.nobody.err}) {
      EXPECT_EQ(text.find("privileged_"), std::string::npos) << text;
      EXPECT_EQ(text.find("priv_secret"), std::string::npos) << text;
    }
    EXPECT_NE(o.nobody.err.find("stopped after"), std::string::npos) << o.nobody.err;
    EXPECT_NE(o.nobody.err.find("its credentials changed (effective uid 65534 -> 0"), std::string::npos)
        << o.nobody.err;
    EXPECT_NE(o.nobody.err.find("uid 65534 may no longer trace it"), std::string::npos) << o.nobody.err;
    EXPECT_NE(o.root_output.find(root_sees), std::string::npos) << o.root_output;
  }
};

// On-CPU: root's control is a whole-system profile, so a root session of another kind than
// nobody's goes on sampling the process too.
TEST_F(CredChange, OnCpuStopsAtASetuidExec) {
  auto o = run_attack({"profile", "-p", "PID", "-d", "6", "-F", "499"}, {"profile", "-d", "4", "-F", "499"}, "folded");
  // Whole-system stacks are walked by frame pointers, which cred_exec has not: its comm shows it.
  expect_let_go(o, "user_spin", "\npriv_secret;");
}

TEST_F(CredChange, OffCpuStopsAtASetuidExec) {
  auto o = run_attack({"offcpu", "-p", "PID", "-d", "6"}, {"offcpu", "-p", "PID", "-d", "6"}, "folded");
  expect_let_go(o, "user_block", "privileged_block");
}

TEST_F(CredChange, WallStopsAtASetuidExec) {
  auto o = run_attack({"profile", "--wall", "-p", "PID", "-d", "6"}, {"offcpu", "-p", "PID", "-d", "6"}, "folded");
  expect_let_go(o, "user_block", "privileged_block");
}

TEST_F(CredChange, MallocCountStopsAtASetuidExecAndIsNotReattached) {
  auto o = run_attack({"malloc", "-p", "PID", "-d", "6", "--weight", "calls"},
                      {"malloc", "-p", "PID", "-d", "6", "--weight", "calls"}, "folded");
  expect_let_go(o, "user_alloc", "privileged_alloc");
  EXPECT_EQ(o.nobody.err.find("exec'd: allocator now"), std::string::npos) << o.nobody.err;
  EXPECT_NE(o.root.err.find("exec'd: allocator now"), std::string::npos) << o.root.err;
  EXPECT_NE(daemon_->log().find("changed credentials"), std::string::npos);
}

TEST_F(CredChange, MallocOutstandingStopsAtASetuidExec) {
  auto o = run_attack({"malloc", "--outstanding", "-p", "PID", "-d", "6"},
                      {"malloc", "--outstanding", "-p", "PID", "-d", "6"}, "folded");
  expect_let_go(o, "user_alloc", "privileged_alloc");
}

}  // namespace
}  // namespace scorch::test
