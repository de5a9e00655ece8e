#pragma once
/// Test harness: run our binaries and test programs as child processes, start a private scorchd.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "model/profile.h"

namespace scorch::test {

/// A finished command: exit code (or 128+signal) and what it printed.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs argv to completion (stdin closed), capturing stdout and stderr.
RunResult run(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(120));

/// A child started in the background; stdout goes to a pipe read by read_line()/finish().
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  /// One line of the child's stdout (without newline); empty string at EOF or timeout.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  /// Sends sig, then collects the rest of stdout and the exit status.
  RunResult finish(int sig);
  /// Waits for exit without signalling.
  RunResult wait();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffered_;
  bool reaped_ = false;
};

std::string bin_dir();                          // build/bin
std::string testprog(const std::string& name);  // build/testprogs/<name>
std::string temp_dir();                         // a fresh directory under /tmp, mode 0755
std::string read_file(const std::string& path);
/// CPU time of a process's main thread so far, in ns (/proc/PID/schedstat); 0 when unreadable.
uint64_t main_thread_cpu_ns(pid_t pid);

/// scorchd on a private socket, stopped with SIGTERM when destroyed.
class Daemon {
 public:
  explicit Daemon(const std::vector<std::string>& extra_args = {});
  ~Daemon();
  const std::string& socket() const { return socket_; }
  pid_t pid() const;
  /// Sends sig and waits; returns the exit code (128+signal when killed).
  int stop(int sig = SIGTERM);
  std::string log() const;

  /// Runs `scorch --socket <ours> args...`.
  RunResult cli(const std::vector<std::string>& args) const;

 private:
  std::string dir_;
  std::string socket_;
  std::string log_path_;
  pid_t pid_ = -1;
};

bool is_root();

/// A profile written as folded stacks (a test failure when it does not parse).
Profile load_folded(const std::string& path);

/// A test with its own scorchd and temporary directory; skipped (with the reason) unless root.
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  std::unique_ptr<Daemon> daemon_;
  std::string dir_;
};

}  // namespace scorch::test
