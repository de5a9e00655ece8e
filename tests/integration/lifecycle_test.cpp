// The daemon's socket under bad input, and its exit: nothing may stay attached.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "harness.h"
#include "proto/protocol.h"

namespace scorch::test {
namespace {

using namespace std::chrono_literals;

int raw_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

/// Everything the daemon sends until it closes (or 10 s pass).
std::string drain_until_closed(int fd) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
  ADD_FAILURE() << "daemon did not close the connection";
  return got;
}

void send_all(int fd, const std::vector<uint8_t>& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

/// The reply is one ErrorReply frame whose reason contains `needle`.
void expect_error_reply(const std::string& got, const std::string& needle) {
  ASSERT_GE(got.size(), proto::kHeaderSize);
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(got.data()), got.size());
  auto check = proto::decode_header(bytes.first<proto::kHeaderSize>(), proto::kMaxReplyPayload);
  ASSERT_EQ(check.problem, proto::HeaderProblem::kNone);
  ASSERT_EQ(check.header.type, proto::MsgType::kErrorReply);
  auto e = proto::decode_error_reply(bytes.subspan(proto::kHeaderSize, check.header.length));
  ASSERT_TRUE(e.ok());
  EXPECT_NE(e->reason.find(needle), std::string::npos) << e->reason;
}

bool status_works(const Daemon& d) { return d.cli({"status"}).exit_code == 0; }

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "integration tests load BPF programs: run as root";
  }
};

// Acceptance 5: garbage, truncated and oversized frames close that connection only.
TEST_F(Lifecycle, BadFramesCloseOnlyThatConnection) {
  Daemon d;
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  // A profile runs on another connection the whole time and must complete.
  RunResult profile;
  std::thread t([&] { profile = d.cli({"profile", "-p", std::to_string(prog.pid()), "-d", "4"}); });
  std::this_thread::sleep_for(500ms);

  {  // garbage
    int fd = raw_connect(d.socket());
    std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, std::vector<uint8_t>(junk.begin(), junk.end()));
    expect_error_reply(drain_until_closed(fd), "bad magic");
    ::close(fd);
  }
  {  // oversized: a header announcing 1 GiB
    int fd = raw_connect(d.socket());
    auto frame = proto::encode_frame(proto::MsgType::kProfileRequest, {});
    frame[8] = 0;
    frame[9] = 0;
    frame[10] = 0;
    frame[11] = 0x40;
    send_all(fd, frame);
    expect_error_reply(drain_until_closed(fd), "exceeds the limit");
    ::close(fd);
  }
  {  // unknown version
    int fd = raw_connect(d.socket());
    auto frame = proto::encode_frame(proto::MsgType::kStatusRequest, {});
    frame[4] = 99;
    send_all(fd, frame);
    expect_error_reply(drain_until_closed(fd), "version 99 not supported");
    ::close(fd);
  }
  {  // a valid header with a garbled payload
    int fd = raw_connect(d.socket());
    std::vector<uint8_t> payload = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3};
    send_all(fd, proto::encode_frame(proto::MsgType::kProfileRequest, payload));
    expect_error_reply(drain_until_closed(fd), "count out of range");
    ::close(fd);
  }
  {  // truncated: half a header, then the client vanishes
    int fd = raw_connect(d.socket());
    auto frame = proto::encode_frame(proto::MsgType::kStatusRequest, {});
    frame.resize(7);
    send_all(fd, frame);
    ::close(fd);
  }
  {  // truncated payload: header promises 100 bytes, 10 arrive, then the client vanishes
    int fd = raw_connect(d.socket());
    auto frame = proto::encode_frame(proto::MsgType::kProfileRequest, std::vector<uint8_t>(100, 0));
    frame.resize(proto::kHeaderSize + 10);
    send_all(fd, frame);
    ::close(fd);
  }
  EXPECT_TRUE(status_works(d));
  t.join();
  EXPECT_EQ(profile.exit_code, 0) << profile.err;
  EXPECT_NE(profile.out.find("burn_a"), std::string::npos) << profile.out;
  EXPECT_TRUE(status_works(d));
  EXPECT_EQ(d.stop(), 0) << d.log();
}

/// Every BPF program loaded now, by id: its name (cut by the kernel to 15 characters).
std::map<uint32_t, std::string> loaded_programs() {
  std::map<uint32_t, std::string> progs;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;  // unloaded since
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) progs[id] = info.name;
    ::close(fd);
  }
  return progs;
}

/// The scorch programs process pid holds (its descriptors' fdinfo: "prog_id" of programs and links).
std::map<uint32_t, std::string> scorch_programs_of(pid_t pid) {
  std::set<uint32_t> held;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    std::istringstream in(read_file(fd.path()));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("prog_id:", 0) == 0) held.insert(static_cast<uint32_t>(std::stoul(line.substr(8))));
  }
  std::map<uint32_t, std::string> mine;
  for (const auto& [id, name] : loaded_programs())
    if (held.contains(id) && name.rfind("scorch_", 0) == 0) mine[id] = name;
  return mine;
}

uint32_t daemon_prog_id(const Daemon& d) {
  std::smatch m;
  std::string log = d.log();
  static const std::regex re("on-CPU program id (\\d+)");
  return std::regex_search(log, m, re) ? static_cast<uint32_t>(std::stoul(m[1])) : 0;
}

/// Which of these programs are still loaded: after up to 2 s, since the kernel may free a program
/// from deferred work once its last descriptor is closed.
std::vector<std::string> still_loaded(const std::map<uint32_t, std::string>& progs) {
  std::vector<std::string> left;
  for (int i = 0; i < 20; ++i) {
    left.clear();
    const auto now = loaded_programs();
    for (const auto& [id, name] : progs)
      if (auto it = now.find(id); it != now.end() && it->second == name)
        left.push_back(name + " (id " + std::to_string(id) + ")");
    if (left.empty()) break;
    std::this_thread::sleep_for(100ms);
  }
  return left;
}

/// An on-CPU, an off-CPU, a malloc and a locks session on one program at once, so that every scorch
/// program is loaded and attached; the daemon then gets sig. Returns the clients' results (profile,
/// offcpu, malloc, locks) after checking that none of the daemon's programs outlives it.
std::vector<RunResult> expect_every_program_gone_after(int sig) {
  Daemon d;
  Child prog({testprog("cpu_split"), "70"});
  EXPECT_EQ(prog.read_line().rfind("ready", 0), 0u);
  const std::string pid = std::to_string(prog.pid());
  std::vector<std::unique_ptr<Child>> clients;
  for (const char* measure : {"profile", "offcpu", "malloc", "locks"})
    clients.push_back(std::make_unique<Child>(
        std::vector<std::string>{bin_dir() + "/scorch", "--socket", d.socket(), measure, "-p", pid}));
  bool running = false;
  for (int i = 0; i < 50 && !running; ++i) {
    std::this_thread::sleep_for(100ms);
    running = d.cli({"status"}).out.find("sessions: 4") != std::string::npos;
  }
  EXPECT_TRUE(running) << d.log();
  std::this_thread::sleep_for(1000ms);

  // scorch_malloc_e is also the program of the trap calibration's uprobe (on scorchd itself, at start-up).
  const auto progs = scorch_programs_of(d.pid());
  // The kernel-lock programs (scorch_contenti...) are loaded though no session asked for them.
  for (const char* name : {"scorch_oncpu", "scorch_offcpu_s", "scorch_malloc_e", "scorch_malloc_r", "scorch_futex_en",
                           "scorch_futex_ex", "scorch_contenti"}) {
    bool found = false;
    for (const auto& [id, loaded] : progs) found = found || loaded.rfind(name, 0) == 0;
    EXPECT_TRUE(found) << name << " must be loaded while the daemon runs\n" << d.log();
  }
  const uint32_t id = daemon_prog_id(d);
  EXPECT_TRUE(progs.contains(id)) << "the on-CPU program the log names (" << id << ") must be the daemon's";

  EXPECT_EQ(d.stop(sig), sig == SIGTERM ? 0 : 128 + sig);
  std::vector<RunResult> results;
  for (auto& c : clients) results.push_back(c->wait());
  const auto left = still_loaded(progs);
  EXPECT_TRUE(left.empty()) << ::testing::PrintToString(left) << " still loaded after scorchd got signal " << sig;
  if (sig == SIGTERM) {
    EXPECT_NE(d.log().find("detaching"), std::string::npos) << d.log();
  }
  return results;
}

// Acceptance 6: after SIGTERM (even mid-profile), none of the daemon's programs is loaded.
TEST_F(Lifecycle, SigtermDetachesEverything) {
  auto results = expect_every_program_gone_after(SIGTERM);
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) EXPECT_EQ(r.exit_code, 0) << "the client still receives what was collected\n" << r.err;
  EXPECT_NE(results[0].out.find("burn_a"), std::string::npos);
}

// SIGKILL runs no code of ours: the kernel alone must take every program, link and perf event away.
TEST_F(Lifecycle, SigkillLeavesNothingLoaded) {
  auto results = expect_every_program_gone_after(SIGKILL);
  for (const auto& r : results) EXPECT_EQ(r.exit_code, 1) << "the client says the daemon went away\n" << r.err;
}

// A client killed mid-profile: its session ends, its sampler goes, the daemon keeps serving.
TEST_F(Lifecycle, VanishedClientEndsItsSession) {
  Daemon d;
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  Child cli({bin_dir() + "/scorch", "--socket", d.socket(), "profile", "-p", std::to_string(prog.pid())});
  std::this_thread::sleep_for(1000ms);
  EXPECT_NE(d.cli({"status"}).out.find("sessions: 1"), std::string::npos);
  cli.finish(SIGKILL);
  bool ended = false;
  for (int i = 0; i < 50 && !ended; ++i) {
    std::this_thread::sleep_for(100ms);
    ended = d.cli({"status"}).out.find("sessions: 0") != std::string::npos;
  }
  EXPECT_TRUE(ended) << "the session of a vanished client must end";
  auto again = d.cli({"profile", "-p", std::to_string(prog.pid()), "-d", "1"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("burn_a"), std::string::npos);
}

// A second daemon on the same socket refuses to start instead of stealing it.
TEST_F(Lifecycle, SecondDaemonOnSameSocketRefuses) {
  Daemon d;
  auto r = run({bin_dir() + "/scorchd", "--socket", d.socket()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("another scorchd is already listening"), std::string::npos) << r.err;
  EXPECT_TRUE(status_works(d));
}

}  // namespace
}  // namespace scorch::test
