// Symbolization end to end: binaries that are deleted, or exist only in another mount namespace.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "export/folded.h"
#include "harness.h"

namespace scorch::test {
namespace {

/// Samples holding chain_leaf, and how many read main -> chain_driver -> chain_outer -> chain_leaf.
std::pair<uint64_t, uint64_t> chain_samples(const Profile& p) {
  uint64_t leaf = 0, whole = 0;
  for (const auto& s : p.stacks) {
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (s.frames[i].name != "chain_leaf") continue;
      leaf += s.count;
      if (i >= 3 && s.frames[i - 3].name == "main" && s.frames[i - 2].name == "chain_driver" &&
          s.frames[i - 1].name == "chain_outer")
        whole += s.count;
      break;
    }
  }
  return {leaf, whole};
}

class Symbolize : public DaemonTest {
 protected:
  /// `scorch profile -p PID -d 2` through d, written to dir_/NAME.folded and read back.
  Profile profile_pid(Daemon& d, pid_t pid, const std::string& name) {
    std::string out = dir_ + "/" + name + ".folded";
    auto r = d.cli({"profile", "-p", std::to_string(pid), "-d", "2", "-o", out});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return load_folded(out);
  }
  /// nofp_chain's samples are named and read main -> chain_driver -> chain_outer -> chain_leaf.
  static void expect_whole_chain(const Profile& p) {
    auto [leaf, whole] = chain_samples(p);
    ASSERT_GT(leaf, 50u);
    EXPECT_GE(whole * 100, leaf * 95) << whole << " of " << leaf;
  }
  /// A stripped copy of nofp_chain at dir_/name, its debug part at debug; returns its build id.
  std::string stripped_copy(const std::string& name, const std::string& debug) {
    std::string bin = dir_ + "/" + name;
    std::filesystem::copy_file(testprog("nofp_chain"), bin);
    EXPECT_EQ(run({"/usr/bin/objcopy", "--only-keep-debug", bin, debug}).exit_code, 0);
    EXPECT_EQ(run({"/usr/bin/strip", "--strip-all", bin}).exit_code, 0);
    std::smatch m;
    std::string notes = run({"/usr/bin/readelf", "-n", bin}).out;
    EXPECT_TRUE(std::regex_search(notes, m, std::regex("Build ID: ([0-9a-f]+)"))) << notes;
    return m.empty() ? std::string() : std::string(m[1]);
  }
};

// Issue 3, acceptance 5: the executable is deleted after start (an upgrade under a running
// server); its frames are still named and its stacks still unwound, through /proc/PID/map_files.
TEST_F(Symbolize, DeletedExecutableIsNamed) {
  std::string copy = dir_ + "/nofp_chain_deleted";
  std::filesystem::copy_file(testprog("nofp_chain"), copy);
  Child prog({copy});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  ASSERT_EQ(::unlink(copy.c_str()), 0);
  expect_whole_chain(profile_pid(*daemon_, prog.pid(), "deleted"));
}

// Issue 3, acceptance 6: the binary exists only inside the process's own mount namespace (a tmpfs
// mounted there); the host path is empty. Named through /proc/PID/map_files, never the host's file.
TEST_F(Symbolize, BinaryOnlyInAnotherMountNamespaceIsNamed) {
  std::string mnt = dir_ + "/ns";
  std::filesystem::create_directory(mnt);
  std::string script = "mount -t tmpfs scorch-test " + mnt + " && cp " + testprog("nofp_chain") + " " + mnt +
                       "/inside && exec " + mnt + "/inside";
  Child prog({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  std::string line = prog.read_line();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex("ready (\\d+)"))) << line;
  std::string pid = m[1];
  EXPECT_FALSE(std::filesystem::exists(mnt + "/inside")) << "the host must not see the namespace's file";
  expect_whole_chain(profile_pid(*daemon_, static_cast<pid_t>(std::stoi(pid)), "ns"));
}

// Issue 3, acceptance 4: a program that burns CPU for 1 s and exits during a 3 s profile: its
// frames are named, though the last samples are read after /proc/PID is gone.
TEST_F(Symbolize, ProcessThatExitsDuringTheProfileIsNamed) {
  // The exit lands at different points of the daemon's 1 s drain cycle. Round 0 is the issue's
  // case (1 s); the others live 0.3 s, so most exit before any periodic drain saw them alive
  // (without reading the process at session start, 4 of 5 such runs came out all [unknown]).
  for (int round = 0; round < 5; ++round) {
    Child prog({testprog("nofp_chain"), round == 0 ? "1" : "0.3"});
    ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
    std::string out = dir_ + "/exit" + std::to_string(round) + ".folded";
    auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "3", "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    prog.wait();
    Profile p = load_folded(out);
    uint64_t total = 0, unknown = 0;
    for (const auto& s : p.stacks) {
      total += s.count;
      for (const auto& f : s.frames)
        if (f.name == "[unknown]") {
          unknown += s.count;
          break;
        }
    }
    auto [leaf, whole] = chain_samples(p);
    ASSERT_GT(total, round == 0 ? 30u : 5u) << read_file(out);
    EXPECT_EQ(unknown, 0u) << "round " << round << ": " << read_file(out);
    EXPECT_GE(whole * 100, leaf * 95) << "round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(170 * round));
  }
}

// Issue 3, acceptance 1 (stripped binary): a stripped copy of nofp_chain is named from its
// separate debug file, found by build id under --debug-dir; nm on the debug file is the oracle.
TEST_F(Symbolize, StrippedBinaryIsNamedFromItsDebugFile) {
  std::string bin = dir_ + "/stripped_chain", debug = dir_ + "/stripped_chain.debug";
  std::string id = stripped_copy("stripped_chain", debug);
  ASSERT_GE(id.size(), 4u);
  std::string dir = dir_ + "/debug/.build-id/" + id.substr(0, 2);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(debug, dir + "/" + id.substr(2) + ".debug");
  std::string nm = run({"/usr/bin/nm", debug}).out;
  for (const char* f : {"chain_leaf", "chain_outer", "chain_driver", "main"})
    ASSERT_NE(nm.find(std::string(" ") + f + "\n"), std::string::npos) << f << " in the oracle";

  auto profile = [&](Daemon& d, const std::string& name) {
    Child prog({bin});
    EXPECT_EQ(prog.read_line().rfind("ready", 0), 0u);
    return profile_pid(d, prog.pid(), name);
  };
  // Without the debug file the binary has no names at all: the premise of the test.
  EXPECT_EQ(chain_samples(profile(*daemon_, "plain")).first, 0u);
  Daemon with_debug({"--debug-dir", dir_ + "/debug"});
  expect_whole_chain(profile(with_debug, "debug"));
}

// The same through .gnu_debuglink: the debug file sits in .debug/ next to the binary (as gdb
// looks), found without any --debug-dir.
TEST_F(Symbolize, StrippedBinaryIsNamedThroughItsDebuglink) {
  std::string bin = dir_ + "/linked_chain";
  std::filesystem::create_directory(dir_ + "/.debug");
  std::string debug = dir_ + "/.debug/linked_chain.dbg";
  ASSERT_GE(stripped_copy("linked_chain", debug).size(), 4u);
  ASSERT_EQ(run({"/usr/bin/objcopy", "--add-gnu-debuglink=" + debug, bin}).exit_code, 0);
  Child prog({bin});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  expect_whole_chain(profile_pid(*daemon_, prog.pid(), "linked"));
}

// Issue 3, acceptance 3: Node.js with --perf-basic-prof running a hot JS function: its name,
// from /tmp/perf-PID.map, appears in scorch profile -p.
TEST_F(Symbolize, NodeJitFunctionIsNamedFromThePerfMap) {
  std::string node = ::access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "/usr/bin/nodejs";
  if (::access(node.c_str(), X_OK) != 0)
    GTEST_SKIP() << "no node: packaging/install-deps.sh --test installs Debian's nodejs when none is there";
  // Ended after the profile: 60 s only bounds it. Setting up node's tables and symbols (98 MB,
  // 185,000 symbols) takes seconds under load, several more in the sanitized build.
  Child prog({node, "--perf-basic-prof", std::string(SCORCH_TESTPROG_SRC_DIR) + "/hot.js", "60"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the JIT compile hotFunction
  std::string out = dir_ + "/node.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "2", "-o", out});
  prog.finish(SIGTERM);
  std::filesystem::remove("/tmp/perf-" + std::to_string(prog.pid()) + ".map");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  uint64_t total = 0, hot = 0;
  for (const auto& s : load_folded(out).stacks) {
    total += s.count;
    for (const auto& f : s.frames)
      if (f.name.find("hotFunction") != std::string::npos) {
        hot += s.count;
        break;
      }
  }
  ASSERT_GT(total, 50u);
  EXPECT_GT(hot * 2, total) << "most samples are in hotFunction: " << read_file(out).substr(0, 2000);
}

// A process that execs mid-profile: the shell spins, then becomes nofp_chain under the same pid.
// The daemon notices the new /proc/PID/exe and reloads the process's unwind tables and symbols,
// so the new program's stacks are whole and named.
TEST_F(Symbolize, ProcessThatExecsMidProfileIsNamedAfterTheExec) {
  std::string script = "echo ready $$; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec " +
                       testprog("nofp_chain") + " 3 >/dev/null";
  Child prog({"/bin/sh", "-c", script});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  std::string out = dir_ + "/exec.folded";
  auto r = daemon_->cli({"profile", "-p", std::to_string(prog.pid()), "-d", "6", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Profile p = load_folded(out);
  auto [leaf, whole] = chain_samples(p);
  uint64_t sh = 0;
  for (const auto& s : p.stacks)
    if (s.comm == "sh") sh += s.count;
  EXPECT_GT(sh, 10u) << "the shell ran before the exec";
  ASSERT_GT(leaf, 150u) << read_file(out).substr(0, 3000);
  // The daemon notices the exec within ~100 ms and installs the new program's tables; samples
  // taken before that are unwound with the shell's (3 s of nofp_chain: about 3% of them).
  EXPECT_GE(whole * 100, leaf * 90) << whole << " of " << leaf;
}

// scorchd --debuginfod: the stripped binary's debug file is served by a local debuginfod (found
// nowhere on disk for the daemon), fetched by build id.
TEST_F(Symbolize, StrippedBinaryIsNamedThroughDebuginfod) {
  if (::access("/usr/bin/debuginfod", X_OK) != 0)
    GTEST_SKIP() << "no debuginfod server: packaging/install-deps.sh --test installs it";
  std::string bin = dir_ + "/served_chain", srv = dir_ + "/srv";
  std::filesystem::create_directory(srv);
  std::string id = stripped_copy("served_chain", srv + "/served_chain.debug");
  ASSERT_GE(id.size(), 4u);
  std::string port = std::to_string(20000 + ::getpid() % 20000);
  Child server({"/bin/sh", "-c",
                "exec /usr/bin/debuginfod -F " + srv + " -p " + port + " -d " + dir_ + "/index.sqlite > " + dir_ +
                    "/debuginfod.log 2>&1"});
  std::string url = "http://127.0.0.1:" + port;
  ::setenv("DEBUGINFOD_CACHE_PATH", (dir_ + "/cache").c_str(), 1);
  bool served = false;
  RunResult probe;
  for (int i = 0; i < 100 && !served; ++i) {  // until it has indexed the directory
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // A fresh client cache each time: a 404 before the first scan is cached as a miss otherwise.
    probe = run({"/usr/bin/env", "DEBUGINFOD_URLS=" + url,
                 "DEBUGINFOD_CACHE_PATH=" + dir_ + "/probe-cache" + std::to_string(i), "/usr/bin/debuginfod-find",
                 "debuginfo", id});
    served = probe.exit_code == 0;
  }
  ASSERT_TRUE(served) << "debuginfod did not serve the debug file: " << probe.exit_code << " " << probe.err
                      << read_file(dir_ + "/debuginfod.log").substr(0, 3000);

  Daemon with_server({"--debuginfod", url});
  Child prog({bin});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  expect_whole_chain(profile_pid(with_server, prog.pid(), "served"));
  ::unsetenv("DEBUGINFOD_CACHE_PATH");
}

}  // namespace
}  // namespace scorch::test
