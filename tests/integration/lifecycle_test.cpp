// The daemon's socket under bad input, and its exit: nothing may stay attached.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <regex>
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

std::vector<uint32_t> scorch_prog_ids() {
  auto r = run({"/usr/sbin/bpftool", "prog", "show"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<uint32_t> ids;
  static const std::regex re("^(\\d+): perf_event\\s+name scorch_oncpu");
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) ids.push_back(static_cast<uint32_t>(std::stoul(m[1])));
  }
  return ids;
}

uint32_t daemon_prog_id(const Daemon& d) {
  std::smatch m;
  std::string log = d.log();
  static const std::regex re("on-CPU program id (\\d+)");
  return std::regex_search(log, m, re) ? static_cast<uint32_t>(std::stoul(m[1])) : 0;
}

bool contains(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Acceptance 6: after SIGTERM (even mid-profile), bpftool lists none of the daemon's programs.
TEST_F(Lifecycle, SigtermDetachesEverything) {
  Daemon d;
  uint32_t id = daemon_prog_id(d);
  ASSERT_NE(id, 0u) << d.log();
  ASSERT_TRUE(contains(scorch_prog_ids(), id)) << "the program must be visible while the daemon runs";

  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  Child cli({bin_dir() + "/scorch", "--socket", d.socket(), "profile", "-p", std::to_string(prog.pid())});
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(d.stop(), 0);
  auto client = cli.wait();
  EXPECT_EQ(client.exit_code, 0) << "the client still receives what was collected";
  EXPECT_NE(client.out.find("burn_a"), std::string::npos);
  EXPECT_FALSE(contains(scorch_prog_ids(), id)) << "program " << id << " still loaded after scorchd exited";
  EXPECT_NE(d.log().find("detaching"), std::string::npos);
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
