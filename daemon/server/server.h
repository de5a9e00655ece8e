#pragma once
/// Server: the daemon's Unix control socket, one coroutine per connection, one io_context.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "common/result.h"
#include "probes/features.h"
#include "session/profiler.h"

namespace scorch {

class Symbolizer;

struct ServerOptions {
  std::string socket_path = "/run/scorch/scorchd.sock";
  unsigned socket_mode = 0666;  // who may connect; what each may do is decided by SO_PEERCRED
  std::chrono::milliseconds drain_interval{1000};
  std::chrono::milliseconds request_timeout{30000};  // idle or half-sent request
  std::chrono::milliseconds write_timeout{30000};    // a client that stops reading
  std::string version = "0.1.0";
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, const Features& features, Profiler& profiler,
         const Symbolizer& symbolizer);
  ~Server();

  /// Creates the socket (refusing to replace a live daemon's) and starts accepting.
  Result<void> listen();
  /// Stops accepting, ends running profiles (their clients still get results), removes the socket.
  void stop();
  /// No client connected (after stop(): every result delivered).
  bool idle() const { return connections_.empty(); }

 private:
  class Connection;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> drain_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> c);
  boost::asio::awaitable<void> run_profile(std::shared_ptr<Connection> c, std::vector<uint8_t> payload);
  std::vector<uint8_t> status_frame() const;

  boost::asio::io_context& io_;
  ServerOptions options_;
  const Features& features_;
  Profiler& profiler_;
  const Symbolizer& symbolizer_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer drain_timer_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::chrono::steady_clock::time_point started_;
  bool stopping_ = false;
  bool listening_ = false;
};

}  // namespace scorch
