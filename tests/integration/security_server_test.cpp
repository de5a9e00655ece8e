// Issue 18, the server's part: what a hostile local user (nobody) can make the daemon do on its
// behalf with connections and sessions. Each attack runs as nobody against a test daemon; root's
// status must stay fast, the daemon must not spin or flood its log, and SIGTERM must end it.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"
#include "proto/protocol.h"

namespace scorch::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr uint32_t kNobody = 65534;

const std::vector<std::string> kAsNobody = {"/usr/bin/setpriv", "--reuid",        "nobody", "--regid",
                                            "nogroup",          "--clear-groups", "--"};

int raw_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::vector<uint8_t>& bytes) {
  return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

/// Up to n raw connections to socket, each sent `first` when it is not empty; stops at the first
/// connection refused or send that fails (that descriptor is closed).
std::vector<int> connect_many(const std::string& socket, int n, const std::vector<uint8_t>& first = {}) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = raw_connect(socket);
    if (fd < 0) break;
    if (!first.empty() && !send_all(fd, first)) {
      ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  return fds;
}

bool read_exact(int fd, uint8_t* buf, size_t n, Clock::time_point deadline) {
  size_t off = 0;
  while (off < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t r = ::read(fd, buf + off, n - off);
    if (r <= 0) return false;
    off += static_cast<size_t>(r);
  }
  return true;
}

struct RawFrame {
  proto::MsgType type = proto::MsgType::kErrorReply;
  std::vector<uint8_t> payload;
};

/// The next frame, or nullopt at EOF or when the deadline passes.
std::optional<RawFrame> read_frame(int fd, Clock::time_point deadline) {
  std::array<uint8_t, proto::kHeaderSize> header;
  if (!read_exact(fd, header.data(), header.size(), deadline)) return std::nullopt;
  auto check = proto::decode_header(header, proto::kMaxReplyPayload);
  if (check.problem != proto::HeaderProblem::kNone) return std::nullopt;
  RawFrame f{check.header.type, std::vector<uint8_t>(check.header.length)};
  if (!read_exact(fd, f.payload.data(), f.payload.size(), deadline)) return std::nullopt;
  return f;
}

std::string error_text(const RawFrame& f) {
  auto e = proto::decode_error_reply(f.payload);
  return e ? "failed to " + e->what + ": " + e->reason : "(undecodable error reply)";
}

/// Milliseconds for one status request on a fresh connection (connect, ask, whole reply); -1 on failure.
double status_ms(const std::string& socket) {
  auto t0 = Clock::now();
  int fd = raw_connect(socket);
  if (fd < 0) return -1;
  bool ok = send_all(fd, proto::frame(proto::MsgType::kStatusRequest, proto::StatusRequest{}));
  auto f = ok ? read_frame(fd, t0 + 5s) : std::nullopt;
  ::close(fd);
  if (!f || f->type != proto::MsgType::kStatusReply) return -1;
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// The 99th percentile of n status calls by root (every call must succeed).
double status_p99(const std::string& socket, int n) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    double t = status_ms(socket);
    EXPECT_GE(t, 0) << "status call " << i << " failed";
    ms.push_back(t < 0 ? 1e9 : t);
    std::this_thread::sleep_for(10ms);
  }
  std::sort(ms.begin(), ms.end());
  return ms[static_cast<size_t>(0.99 * (n - 1))];
}

/// utime + stime of a process, in clock ticks.
uint64_t cpu_ticks(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

/// Runs body in a forked child as nobody; body writes one report line to `report` and may wait
/// for `go` before it exits (closing whatever it opened).
struct NobodyChild {
  pid_t pid = -1;
  int report = -1, go = -1;

  explicit NobodyChild(const std::function<void(int report, int go)>& body) {
    int r[2], g[2];
    if (::pipe2(r, O_CLOEXEC) != 0 || ::pipe2(g, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid = ::fork();
    if (pid == 0) {
      ::close(r[0]);
      ::close(g[1]);
      if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(99);
      body(r[1], g[0]);
      ::_exit(0);
    }
    ::close(r[1]);
    ::close(g[0]);
    report = r[0];
    go = g[1];
  }
  ~NobodyChild() {
    release();
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (report >= 0) ::close(report);
  }
  /// The child's report line (empty after timeout).
  std::string read_report(std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{report, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(report, &c, 1) != 1 || c == '\n') break;
      line.push_back(c);
    }
    return line;
  }
  void release() {
    if (go >= 0) ::close(go);
    go = -1;
  }
  int wait() {
    release();
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

void write_line(int fd, const std::string& s) {
  std::string line = s + "\n";
  [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
}
void wait_for_go(int go) {
  char c;
  [[maybe_unused]] ssize_t n = ::read(go, &c, 1);  // returns at EOF: the parent released us
}

/// "key=value" from a report line.
std::string field(const std::string& report, const std::string& key) {
  size_t at = report.find(key + "=");
  if (at == std::string::npos) return {};
  size_t end = report.find(' ', at);
  return report.substr(at + key.size() + 1, end == std::string::npos ? std::string::npos : end - at - key.size() - 1);
}

/// The daemon's peak resident set (VmHWM), in KiB.
uint64_t peak_rss_kib(pid_t pid) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}
// The daemon idles at a few tens of MiB; ASan's shadow memory and quarantine make a sanitized one larger.
constexpr uint64_t kRssCapKib = (SCORCH_SANITIZED ? 1024 : 256) * 1024;

/// SIGTERM, timed.
double stop_seconds(Daemon& d) {
  auto t0 = Clock::now();
  d.stop();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

RunResult cli_as_nobody(const Daemon& d, const std::vector<std::string>& args) {
  std::vector<std::string> argv = kAsNobody;
  argv.push_back(bin_dir() + "/scorch");
  argv.push_back("--socket");
  argv.push_back(d.socket());
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

class SecurityServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "integration tests load BPF programs and switch to nobody: run as root";
  }
  std::string log_path(const Daemon& d) {
    return std::filesystem::path(d.socket()).parent_path().string() + "/scorchd.log";
  }
};

// Attack 4 against the limits: nobody opens connections until refused. It holds exactly its
// share, the rest are told why; root is served fast meanwhile; the daemon neither spins nor logs
// much; SIGTERM ends it.
TEST_F(SecurityServer, ConnectionFloodStopsAtThePerUserLimit) {
  Daemon d({"--max-connections-per-user", "32"});
  const uint64_t log_before = file_size(log_path(d));
  const std::string socket = d.socket();
  NobodyChild nobody([&](int report, int go) {
    std::vector<int> fds = connect_many(socket, 200);
    // Refused connections carry an error frame and end; held ones stay silent.
    int refused = 0, held = 0;
    std::string reason;
    const auto deadline = Clock::now() + 3s;
    for (int fd : fds) {
      auto f = read_frame(fd, std::max(deadline, Clock::now() + 50ms));
      if (f && f->type == proto::MsgType::kErrorReply) {
        ++refused;
        reason = error_text(*f);
      } else {
        ++held;
      }
    }
    write_line(report, "opened=" + std::to_string(fds.size()) + " refused=" + std::to_string(refused) +
                           " held=" + std::to_string(held) + " reason=" + reason);
    wait_for_go(go);
  });
  std::string report = nobody.read_report(20s);
  ASSERT_FALSE(report.empty()) << "nobody's client reported nothing";
  EXPECT_EQ(field(report, "opened"), "200") << report;
  EXPECT_EQ(field(report, "held"), "32") << report;
  EXPECT_EQ(field(report, "refused"), "168") << report;
  EXPECT_NE(report.find("reason=failed to accept connection: limit of 32 connections per user reached"),
            std::string::npos)
      << report;

  // While nobody holds its 32: the daemon idles (no spin), root's status is fast, and a 33rd
  // client of nobody, the real CLI, is told why.
  const uint64_t ticks = cpu_ticks(d.pid());
  std::this_thread::sleep_for(2s);
  const double cpu_s = static_cast<double>(cpu_ticks(d.pid()) - ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_LT(cpu_s, 0.2) << "daemon CPU over 2 s while nobody held its connections";
  const double p99 = status_p99(d.socket(), 100);
  EXPECT_LT(p99, 50.0) << "root's status p99 in ms";
  std::cout << "[ figures  ] connection flood: " << report << "; daemon CPU over 2 s " << cpu_s
            << " s; root's status p99 " << p99 << " ms\n";
  auto over = cli_as_nobody(d, {"status"});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.err.find("scorch: failed to accept connection: limit of 32 connections per user reached"),
            std::string::npos)
      << over.err;
  EXPECT_NE(over.err.find("HINT:"), std::string::npos) << over.err;

  EXPECT_EQ(nobody.wait(), 0);
  // The slots come back when nobody's connections close.
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = cli_as_nobody(d, {"status"}).exit_code == 0;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served) << "nobody is served again once its connections closed";
  const uint64_t grew = file_size(log_path(d)) - log_before;
  EXPECT_LT(grew, 1u << 20) << "log growth in bytes";
  const uint64_t rss = peak_rss_kib(d.pid());
  EXPECT_LT(rss, kRssCapKib) << "daemon peak RSS in KiB";
  const double stop_s = stop_seconds(d);
  EXPECT_LT(stop_s, 5.0);
  std::cout << "[ figures  ] connection flood: log grew " << grew << " bytes; peak RSS " << rss
            << " KiB; SIGTERM to exit " << stop_s << " s\n";
}

// Attack 4 as the issue found it: the daemon really out of descriptors (here its limit lowered
// under it). accept fails with EMFILE: the daemon backs off instead of spinning, tells a waiting
// client why with its reserve descriptor, logs a few lines, and recovers once descriptors free up.
TEST_F(SecurityServer, OutOfDescriptorsBacksOffAndRecovers) {
  if (SCORCH_SANITIZED)
    // Seen: the sanitized daemon dies at the first virtual call after EMFILE. UBSan's vptr check
    // tests that a vtable is readable by writing it into a pipe (IsAccessibleMemoryRange), which
    // fails without a free descriptor, so it reports the call, and opening its report file fails
    // too. The normal build runs this test.
    GTEST_SKIP() << "UBSan's vptr check needs a free file descriptor; runs in the normal build";
  Daemon d({"--max-connections-per-user", "0"});
  const uint64_t log_before = file_size(log_path(d));
  size_t open_fds = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(d.pid()) + "/fd"))
    ++open_fds;
  const rlim_t limit = static_cast<rlim_t>(open_fds + 20);
  rlimit was{};
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, nullptr, &was), 0) << std::strerror(errno);
  rlimit lowered{limit, was.rlim_max};  // the soft limit only: it is what accept runs into
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &lowered, nullptr), 0) << std::strerror(errno);

  const std::string socket = d.socket();
  NobodyChild nobody([&](int report, int go) {
    std::vector<int> fds = connect_many(socket, 150);
    std::this_thread::sleep_for(2500ms);
    int told = 0;
    std::string reason;
    for (int fd : fds) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) continue;
      auto f = read_frame(fd, Clock::now() + 100ms);
      if (f && f->type == proto::MsgType::kErrorReply) {
        ++told;
        reason = error_text(*f);
      }
    }
    write_line(report, "opened=" + std::to_string(fds.size()) + " told=" + std::to_string(told) + " reason=" + reason);
    wait_for_go(go);
  });
  // While nobody's connections fill the descriptors: no spinning.
  std::this_thread::sleep_for(300ms);
  const uint64_t ticks = cpu_ticks(d.pid());
  std::this_thread::sleep_for(2s);
  const double cpu_s = static_cast<double>(cpu_ticks(d.pid()) - ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_LT(cpu_s, 0.2) << "daemon CPU over 2 s at EMFILE";
  std::string report = nobody.read_report(20s);
  EXPECT_EQ(field(report, "opened"), "150") << report;
  EXPECT_GE(std::stoi("0" + field(report, "told")), 1) << report;
  EXPECT_NE(report.find("reason=failed to accept connection: daemon out of file descriptors"), std::string::npos)
      << report;
  EXPECT_EQ(nobody.wait(), 0);

  // Descriptors free again: root is served within the back-off's longest wait and the backlog.
  bool served = false;
  const auto t0 = Clock::now();
  while (!served && Clock::now() - t0 < 10s) {
    served = status_ms(d.socket()) >= 0;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served) << "status after the descriptors came back";
  std::string log = d.log();
  EXPECT_NE(log.find("failed to accept a connection: Too many open files"), std::string::npos) << log.substr(0, 4000);
  const uint64_t grew = file_size(log_path(d)) - log_before;
  EXPECT_LT(grew, 1u << 20) << "log growth in bytes";
  EXPECT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &was, nullptr), 0) << std::strerror(errno);
  const double stop_s = stop_seconds(d);
  EXPECT_LT(stop_s, 5.0);
  std::cout << "[ figures  ] EMFILE: " << report << "; daemon CPU over 2 s " << cpu_s << " s; log grew " << grew
            << " bytes; SIGTERM to exit " << stop_s << " s\n";
}

// Attack 5: nobody starts 100 sessions at once on its own process. Exactly its share run, every
// other one is told the limit, root's status stays fast and root can still profile; SIGTERM
// with the sessions running ends the daemon within 5 s.
TEST_F(SecurityServer, SessionFloodStopsAtThePerUserLimit) {
  Daemon d({"--max-sessions-per-user", "8", "--max-connections-per-user", "200"});
  std::vector<std::string> argv = kAsNobody;
  argv.insert(argv.end(), {testprog("spin_sleep"), "60", "1", "20"});
  Child target(argv);
  ASSERT_EQ(target.read_line().rfind("ready", 0), 0u);
  const uint32_t pid = static_cast<uint32_t>(target.pid());

  const std::string socket = d.socket();
  NobodyChild nobody([&](int report, int go) {
    proto::ProfileRequest req;
    req.pids = {pid};
    req.duration_ms = 6000;
    const auto request = proto::frame(proto::MsgType::kProfileRequest, req);
    std::vector<int> fds = connect_many(socket, 100, request);
    int refused = 0, running = 0, other = 0;
    std::string reason, odd;
    const auto deadline = Clock::now() + 3s;
    for (int fd : fds) {
      auto f = read_frame(fd, std::max(deadline, Clock::now() + 50ms));
      if (f && f->type == proto::MsgType::kErrorReply) {
        ++refused;
        reason = error_text(*f);
      } else if (f && f->type == proto::MsgType::kProgress) {
        ++running;
      } else {
        ++other;
      }
    }
    write_line(report, "sent=" + std::to_string(fds.size()) + " refused=" + std::to_string(refused) + " running=" +
                           std::to_string(running) + " other=" + std::to_string(other) + " reason=" + reason);
    wait_for_go(go);
  });

  // Root meanwhile: fast status, and a profile of its own (root is never counted).
  std::this_thread::sleep_for(200ms);
  const double p99 = status_p99(d.socket(), 100);
  EXPECT_LT(p99, 50.0) << "root's status p99 in ms during the flood";
  std::string report = nobody.read_report(30s);
  ASSERT_FALSE(report.empty());
  EXPECT_EQ(field(report, "sent"), "100") << report;
  EXPECT_EQ(field(report, "refused"), "92") << report;
  EXPECT_EQ(field(report, "running"), "8") << report;
  EXPECT_NE(report.find("reason=failed to start a session: limit of 8 sessions per user reached"), std::string::npos)
      << report;
  auto st = d.cli({"status"});
  EXPECT_NE(st.out.find("sessions: 8"), std::string::npos) << st.out;
  auto over = cli_as_nobody(d, {"profile", "-p", std::to_string(pid), "-d", "1"});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.err.find("scorch: failed to start a session: limit of 8 sessions per user reached"), std::string::npos)
      << over.err;
  EXPECT_NE(over.err.find("HINT:"), std::string::npos) << over.err;
  auto root = d.cli({"profile", "-p", std::to_string(pid), "-d", "1"});
  EXPECT_EQ(root.exit_code, 0) << root.err;
  const uint64_t rss = peak_rss_kib(d.pid());
  EXPECT_LT(rss, kRssCapKib) << "daemon peak RSS in KiB";

  const double stop_s = stop_seconds(d);
  EXPECT_LT(stop_s, 5.0) << "SIGTERM with nobody's sessions running";
  std::cout << "[ figures  ] session flood: " << report << "; root's status p99 " << p99 << " ms; peak RSS " << rss
            << " KiB; SIGTERM to exit " << stop_s << " s\n";
  nobody.wait();
}

// Per-thread samplers take a descriptor per thread: users start sessions only while half of the
// daemon's descriptors are free, so root's profiles always find some.
TEST_F(SecurityServer, UsersStartSessionsOnlyWhileHalfTheDescriptorsAreFree) {
  Daemon d;
  std::vector<std::string> argv = kAsNobody;
  argv.insert(argv.end(), {testprog("spin_sleep"), "30", "1", "20"});
  Child own(argv);
  ASSERT_EQ(own.read_line().rfind("ready", 0), 0u);
  const std::string pid = std::to_string(own.pid());
  size_t open_fds = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(d.pid()) + "/fd"))
    ++open_fds;
  rlimit was{};
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, nullptr, &was), 0);
  rlimit tight{static_cast<rlim_t>(open_fds * 2 - 4), was.rlim_max};  // under half free, plenty for root
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &tight, nullptr), 0);
  auto user = cli_as_nobody(d, {"profile", "-p", pid, "-d", "1"});
  EXPECT_EQ(user.exit_code, 1);
  EXPECT_NE(user.err.find("scorch: failed to start a session: the daemon has "), std::string::npos) << user.err;
  EXPECT_NE(user.err.find("the other half is kept for root"), std::string::npos) << user.err;
  auto root = d.cli({"profile", "-p", pid, "-d", "1"});
  EXPECT_EQ(root.exit_code, 0) << root.err;
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &was, nullptr), 0);
  auto again = cli_as_nobody(d, {"profile", "-p", pid, "-d", "1"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

// Above the memory cap, a user's new stacks are dropped and counted, and the profile says so;
// root's profiles on the same daemon are never capped.
TEST_F(SecurityServer, SessionMemoryCapDropsNewStacksAndSaysSo) {
  Daemon d({"--max-session-memory-per-user", "1"});
  std::vector<std::string> argv = kAsNobody;
  argv.insert(argv.end(), {testprog("cpu_split"), "70"});
  Child own(argv);
  ASSERT_EQ(own.read_line().rfind("ready", 0), 0u);
  const std::string pid = std::to_string(own.pid());
  auto capped = cli_as_nobody(d, {"-j", "profile", "-p", pid, "-d", "2"});
  ASSERT_EQ(capped.exit_code, 0) << capped.err;
  EXPECT_NE(capped.out.find("new stacks dropped (counted under [dropped])"), std::string::npos) << capped.out;
  EXPECT_NE(capped.out.find("[dropped: memory cap of this user's sessions]"), std::string::npos) << capped.out;
  EXPECT_EQ(capped.out.find("burn_a"), std::string::npos) << "no stack of its own under a 1-byte cap";
  auto root = d.cli({"-j", "profile", "-p", pid, "-d", "2"});
  ASSERT_EQ(root.exit_code, 0) << root.err;
  EXPECT_NE(root.out.find("burn_a"), std::string::npos) << root.out;
  EXPECT_EQ(root.out.find("dropped: memory cap"), std::string::npos);

  // Allocation rows count against the same cap.
  std::vector<std::string> churn_argv = kAsNobody;
  churn_argv.insert(churn_argv.end(), {testprog("malloc_churn"), "30"});
  Child churn(churn_argv);
  ASSERT_EQ(churn.read_line().rfind("ready", 0), 0u);
  auto allocs = cli_as_nobody(d, {"-j", "malloc", "-p", std::to_string(churn.pid()), "-d", "1"});
  ASSERT_EQ(allocs.exit_code, 0) << allocs.err;
  EXPECT_NE(allocs.out.find("new stacks dropped (their calls are not counted)"), std::string::npos) << allocs.out;
}

// A second profile request on a connection that runs one gets an error frame; the first profile
// goes on and delivers its result.
TEST_F(SecurityServer, SecondProfileRequestOnAConnectionGetsAnError) {
  Daemon d;
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  proto::ProfileRequest req;
  req.pids = {static_cast<uint32_t>(prog.pid())};
  req.duration_ms = 2000;
  const auto request = proto::frame(proto::MsgType::kProfileRequest, req);
  int fd = raw_connect(d.socket());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, request));
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(send_all(fd, request));
  std::vector<proto::MsgType> types;
  std::string error;
  std::optional<Profile> result;
  const auto deadline = Clock::now() + 10s;
  while (auto f = read_frame(fd, deadline)) {
    types.push_back(f->type);
    if (f->type == proto::MsgType::kErrorReply) error = error_text(*f);
    if (f->type == proto::MsgType::kProfileResult) {
      auto p = proto::decode_profile(f->payload);
      if (p) result = *p;
      break;
    }
  }
  ::close(fd);
  EXPECT_EQ(error, "failed to start a profile: a profile is already running on this connection");
  ASSERT_TRUE(result.has_value()) << "the first profile still delivers its result";
  EXPECT_GT(result->total(), 0u);
}

// A malformed frame while a profile runs is answered (between progress frames, never inside one)
// and ends that connection; the daemon goes on serving.
TEST_F(SecurityServer, MalformedFrameDuringAProfileIsAnsweredThenClosed) {
  Daemon d;
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  proto::ProfileRequest req;
  req.pids = {static_cast<uint32_t>(prog.pid())};
  req.duration_ms = 10000;
  int fd = raw_connect(d.socket());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, proto::frame(proto::MsgType::kProfileRequest, req)));
  std::this_thread::sleep_for(1300ms);  // a progress frame has gone out
  ASSERT_TRUE(send_all(fd, std::vector<uint8_t>(proto::kHeaderSize, 0x5a)));
  std::vector<proto::MsgType> types;
  std::string error;
  const auto t0 = Clock::now();
  while (auto f = read_frame(fd, t0 + 8s)) {
    types.push_back(f->type);
    if (f->type == proto::MsgType::kErrorReply) error = error_text(*f);
  }
  const double closed_after = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), proto::MsgType::kErrorReply) << "every frame decodes, and the answer comes last";
  EXPECT_NE(error.find("failed to read request: "), std::string::npos) << error;
  EXPECT_LT(closed_after, 3.0) << "the connection ends, not the profile's 10 s";
  EXPECT_EQ(d.cli({"status"}).exit_code, 0);
}

// Which processes root (or another user) profiles is not shown to a user: status lists its own sessions only.
TEST_F(SecurityServer, StatusShowsAUserOnlyItsOwnSessions) {
  Daemon d;
  Child roots({testprog("cpu_split"), "70"});
  ASSERT_EQ(roots.read_line().rfind("ready", 0), 0u);
  const std::string pid = std::to_string(roots.pid());
  auto profile = std::async(std::launch::async, [&] { return d.cli({"profile", "-p", pid, "-d", "3"}); });
  RunResult root_status;
  for (int i = 0; i < 100; ++i) {
    root_status = d.cli({"status"});
    if (root_status.out.find("uid 0: cpu PID " + pid) != std::string::npos) break;
    std::this_thread::sleep_for(30ms);
  }
  ASSERT_NE(root_status.out.find("uid 0: cpu PID " + pid), std::string::npos) << root_status.out;
  EXPECT_NE(root_status.out.find("unwinding PID " + pid), std::string::npos) << root_status.out;
  auto user_status = cli_as_nobody(d, {"status"});
  ASSERT_EQ(user_status.exit_code, 0) << user_status.err;
  EXPECT_NE(user_status.out.find("sessions: 0"), std::string::npos) << user_status.out;
  EXPECT_EQ(user_status.out.find(pid), std::string::npos) << user_status.out;
  EXPECT_NE(user_status.out.find("1 session of other users not shown"), std::string::npos) << user_status.out;
  EXPECT_EQ(profile.get().exit_code, 0);
}

// A zombie is refused by every measure the same way.
TEST_F(SecurityServer, ZombieIsRefusedByEveryMeasure) {
  Daemon d;
  pid_t z = ::fork();
  if (z == 0) ::_exit(0);
  // Not reaped: a zombie until waitpid below.
  for (int i = 0; i < 100 && read_file("/proc/" + std::to_string(z) + "/stat").find(") Z") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  const std::string pid = std::to_string(z);
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"offcpu", "-p", pid, "-d", "1"}, {"profile", "-p", pid, "-d", "1"}, {"malloc", "-p", pid, "-d", "1"}}) {
    auto r = d.cli(cmd);
    EXPECT_EQ(r.exit_code, 1) << cmd[0] << ": " << r.out;
    EXPECT_NE(r.err.find("PID " + pid + ": no such process (it has exited: a zombie"), std::string::npos)
        << cmd[0] << ": " << r.err;
  }
  ::waitpid(z, nullptr, 0);
}

// malloc of a kernel thread says so; on-CPU and off-CPU of one are root's to take (kernel stacks).
TEST_F(SecurityServer, MallocOfAKernelThreadSaysKernelThread) {
  Daemon d;
  auto r = d.cli({"malloc", "-p", "2", "-d", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scorch: failed to trace allocations of PID 2: PID 2 is a kernel thread"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("static binary"), std::string::npos) << r.err;
  auto off = d.cli({"offcpu", "-p", "2", "-d", "1"});
  EXPECT_EQ(off.exit_code, 0) << off.err;
  auto on = d.cli({"profile", "-p", "2", "-d", "1"});
  EXPECT_EQ(on.exit_code, 0) << on.err;
}

// Root is never limited: 200 root sessions started at once on one process. The worker starts
// them one after another while root's status stays fast (served from the snapshot; drains are
// coalesced and linear in sessions), and SIGTERM with all of them running ends the daemon within
// 5 s, every client still receiving its result.
TEST_F(SecurityServer, RootSessionFloodKeepsStatusFastAndEndsCleanly) {
  Daemon d;
  Child target({testprog("spin_sleep"), "60", "1", "20"});
  ASSERT_EQ(target.read_line().rfind("ready", 0), 0u);
  proto::ProfileRequest req;
  req.pids = {static_cast<uint32_t>(target.pid())};
  req.duration_ms = 30000;
  const auto request = proto::frame(proto::MsgType::kProfileRequest, req);
  constexpr int kSessions = 200;
  std::vector<int> fds;
  for (int i = 0; i < kSessions; ++i) {
    int fd = raw_connect(d.socket());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, request));
    fds.push_back(fd);
  }
  const double p99 = status_p99(d.socket(), 100);
  EXPECT_LT(p99, 50.0) << "root's status p99 in ms while 200 sessions start and run";
  auto st = d.cli({"status"});
  EXPECT_NE(st.out.find("sessions: " + std::to_string(kSessions)), std::string::npos) << st.out.substr(0, 600);
  const uint64_t rss = peak_rss_kib(d.pid());
  EXPECT_LT(rss, kRssCapKib) << "daemon peak RSS in KiB";

  const double stop_s = stop_seconds(d);
  EXPECT_LT(stop_s, 5.0) << "SIGTERM with 200 sessions running";
  int results = 0;
  for (int fd : fds) {
    const auto deadline = Clock::now() + 2s;
    while (auto f = read_frame(fd, deadline)) {
      if (f->type == proto::MsgType::kProfileResult) {
        ++results;
        break;
      }
    }
    ::close(fd);
  }
  EXPECT_EQ(results, kSessions) << "every client receives what was collected";
  std::cout << "[ figures  ] root flood of " << kSessions << " sessions: status p99 " << p99 << " ms; peak RSS " << rss
            << " KiB; SIGTERM to exit " << stop_s << " s; " << results << " results delivered\n";
}

bool prog_loaded(uint32_t id) {
  auto r = run({"/usr/sbin/bpftool", "prog", "show", "id", std::to_string(id)});
  return r.exit_code == 0;
}

uint32_t daemon_prog_id(const Daemon& d) {
  std::smatch m;
  std::string log = d.log();
  static const std::regex re("on-CPU program id (\\d+)");
  return std::regex_search(log, m, re) ? static_cast<uint32_t>(std::stoul(m[1])) : 0;
}

// Nothing slow on the io thread: with the Profiler's worker stuck in a read that never returns
// (a JIT's perf map that is a link to /proc/kmsg, attack 2, which the file-opening fix refuses
// outright), root's status still answers from the snapshot at once, and SIGTERM still ends the
// daemon within 5 s (the watchdog exits when the worker does not return); the kernel detaches
// every program with the process.
TEST_F(SecurityServer, StatusAndSigtermDoNotWaitForTheWorker) {
  Daemon d;
  const uint32_t prog = daemon_prog_id(d);
  ASSERT_NE(prog, 0u) << d.log();
  Child jit({testprog("jit_spin"), "60"});
  std::string ready = jit.read_line();
  ASSERT_EQ(ready.rfind("ready", 0), 0u) << ready;
  const std::string pid = std::to_string(jit.pid());
  const std::string map = "/tmp/perf-" + pid + ".map";
  ::unlink(map.c_str());
  ASSERT_EQ(::symlink("/proc/kmsg", map.c_str()), 0) << std::strerror(errno);
  Child cli({bin_dir() + "/scorch", "--socket", d.socket(), "profile", "-p", pid, "-d", "3"});
  std::this_thread::sleep_for(2500ms);  // past the first drain, which names the JIT frames

  const double p99 = status_p99(d.socket(), 50);
  EXPECT_LT(p99, 50.0) << "root's status p99 in ms while the worker may be stuck";
  EXPECT_EQ(d.cli({"status"}).exit_code, 0);

  // The client, told to stop, gets its result or gives up after 10 s: it never hangs with the daemon.
  const auto t0 = Clock::now();
  auto client = cli.finish(SIGTERM);
  const double client_s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LT(client_s, 12.0) << "the CLI after SIGTERM";
  EXPECT_TRUE(client.exit_code == 0 || client.exit_code == 1) << client.exit_code;

  const double stop_s = stop_seconds(d);
  EXPECT_LT(stop_s, 5.0) << "SIGTERM with the worker stuck";
  std::cout << "[ figures  ] worker-stuck status p99 " << p99 << " ms, client exit " << client_s
            << " s after SIGTERM (code " << client.exit_code << "), daemon SIGTERM to exit " << stop_s << " s\n";
  EXPECT_FALSE(prog_loaded(prog)) << "program " << prog << " outlived the daemon";
  ::unlink(map.c_str());
}

}  // namespace
}  // namespace scorch::test
