#pragma once
/// Server: the daemon's Unix control socket. One io thread runs every connection's coroutine and
/// never blocks; every Profiler call runs on one worker thread (the Profiler is only ever touched
/// there), and status is answered from a snapshot the worker refreshes.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/result.h"
#include "common/uid_limits.h"
#include "common/unique_fd.h"
#include "probes/features.h"
#include "proto/protocol.h"
#include "scorch_version.h"
#include "session/profiler.h"

namespace scorch {

class Symbolizer;

struct ServerOptions {
  std::string socket_path = "/run/scorch/scorchd.sock";
  unsigned socket_mode = 0666;  // who may connect; what each may do is decided by SO_PEERCRED
  std::chrono::milliseconds drain_interval{1000};
  std::chrono::milliseconds min_drain_gap{250};      // progress asks for drains; at most this often
  std::chrono::milliseconds request_timeout{30000};  // idle or half-sent request
  std::chrono::milliseconds write_timeout{30000};    // a client that stops reading
  std::string version = kScorchVersion;
  // Per-user limits (root is never counted: its requests always get through). 0: no cap.
  uint64_t max_connections_per_user = 64;
  uint64_t max_connections_all_users = 0;  // 0: a quarter of RLIMIT_NOFILE, the rest kept for root
  uint64_t max_sessions_per_user = 16;
  uint64_t max_sessions_all_users = 256;
  uint64_t max_session_memory_per_user = 256ull << 20;
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, const Features& features, Profiler& profiler,
         const Symbolizer& symbolizer);
  ~Server();

  /// Creates the socket (refusing to replace a live daemon's), starts the worker and accepting.
  Result<void> listen();
  /// Stops accepting, ends running profiles (their clients still get results), removes the socket.
  void stop();
  /// No client connected (after stop(): every result delivered).
  bool idle() const { return connections_.empty(); }
  /// Stops the worker thread (after the io thread stopped); waits for the job it runs.
  void stop_worker();

 private:
  class Connection;
  /// What status and the profile loops read without touching the Profiler.
  struct Snapshot {
    proto::StatusReply reply;  // uptime filled in at answer time
    struct SessionState {
      uint64_t samples = 0;
      bool done = false;  // Profiler::done: duration over, or every target gone
    };
    std::unordered_map<uint64_t, SessionState> sessions;
  };

  boost::asio::awaitable<void> accept_loop();
  void admit(boost::asio::local::stream_protocol::socket socket);
  bool shed_one_connection();
  boost::asio::awaitable<void> drain_loop();  // on the worker
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> c);
  boost::asio::awaitable<void> run_profile(std::shared_ptr<Connection> c, std::vector<uint8_t> payload);
  /// Status for a client of uid: a user other than root sees only its own sessions.
  std::vector<uint8_t> status_frame(uint32_t uid) const;
  void refresh_snapshot();  // on the worker
  std::shared_ptr<const Snapshot> snapshot() const;
  /// Runs job() on the worker and resumes the calling coroutine on the io thread with its result.
  template <typename Job>
  boost::asio::awaitable<std::invoke_result_t<Job&>> on_worker(Job job);

  boost::asio::io_context& io_;
  ServerOptions options_;
  const Features& features_;
  std::vector<proto::FeatureStatus> events_;  // which perf events open here (checked once, at start)
  Profiler& profiler_;
  const Symbolizer& symbolizer_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer accept_timer_;  // back-off after accept failures
  UniqueFd reserve_fd_;                     // given up to accept (and refuse) a connection at EMFILE
  std::set<std::shared_ptr<Connection>> connections_;
  UidLimits connection_limits_;
  std::shared_ptr<UidLimits> session_limits_;  // shared: a coroutine frame may outlive the Server at exit
  std::chrono::steady_clock::time_point started_;
  bool stopping_ = false;
  bool listening_ = false;

  // The worker: its own io_context, run by one thread; the Profiler lives there.
  boost::asio::io_context worker_io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> worker_guard_;
  boost::asio::steady_timer drain_timer_;  // worker's
  std::thread worker_;
  bool worker_stopping_ = false;  // worker's
  std::atomic<int> pending_jobs_{0};
  std::atomic<bool> drain_wanted_{false};
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
};

}  // namespace scorch
