#include "harness.h"

#include "export/folded.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace scorch::test {
namespace {

[[noreturn]] void exec_child(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

bool is_root() { return ::geteuid() == 0; }

Profile load_folded(const std::string& path) {
  auto p = parse_folded(read_file(path));
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
  return p.ok() ? *p : Profile{};
}

void DaemonTest::SetUp() {
  if (!is_root()) GTEST_SKIP() << "integration tests load BPF programs: run as root";
  daemon_ = std::make_unique<Daemon>();
  dir_ = temp_dir();
}

std::string bin_dir() { return SCORCH_BIN_DIR; }
std::string testprog(const std::string& name) { return std::string(SCORCH_TESTPROG_DIR) + "/" + name; }

std::string temp_dir() {
  char tmpl[] = "/tmp/scorch-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  ::chmod(tmpl, 0755);
  return tmpl;
}

uint64_t main_thread_cpu_ns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  uint64_t ns = 0;
  in >> ns;
  return in ? ns : 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult run(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    exec_child(argv);
  }
  ::close(out[1]);
  ::close(err[1]);
  RunResult r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = decode_status(status);
  return r;
}

Child::Child(const std::vector<std::string>& argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    exec_child(argv);
  }
  ::close(out[1]);
  out_fd_ = out[0];
}

Child::~Child() {
  if (!reaped_) finish(SIGKILL);
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::string Child::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return {};
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof(buf));
    if (n <= 0) return {};
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

RunResult Child::finish(int sig) {
  if (!reaped_) ::kill(pid_, sig);
  return wait();
}

RunResult Child::wait() {
  RunResult r;
  if (reaped_) return r;
  char buf[4096];
  ssize_t n;
  while (out_fd_ >= 0 && (n = ::read(out_fd_, buf, sizeof(buf))) > 0) buffered_.append(buf, static_cast<size_t>(n));
  int status = 0;
  ::waitpid(pid_, &status, 0);
  reaped_ = true;
  r.exit_code = decode_status(status);
  r.out = std::move(buffered_);
  return r;
}

Daemon::Daemon(const std::vector<std::string>& extra_args) {
  dir_ = temp_dir();
  socket_ = dir_ + "/scorchd.sock";
  log_path_ = dir_ + "/scorchd.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    std::vector<std::string> argv = {bin_dir() + "/scorchd", "--socket", socket_, "-v"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    exec_child(argv);
  }
  // Ready when the socket answers: within a second or two when the machine is quiet, but start-up
  // verifies BPF programs and calibrates probes, which a loaded machine (or the sanitized build)
  // stretches to many seconds.
  for (int i = 0; i < 800; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) return;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("scorchd exited at start:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  stop();  // not left running behind the failed test
  throw std::runtime_error("scorchd did not start listening within 20 s:\n" + log());
}

Daemon::~Daemon() { stop(); }

pid_t Daemon::pid() const { return pid_; }

int Daemon::stop(int sig) {
  if (pid_ < 0) return -1;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return decode_status(status);
}

std::string Daemon::log() const { return read_file(log_path_); }

RunResult Daemon::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {bin_dir() + "/scorch", "--socket", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

}  // namespace scorch::test
