#pragma once
// Server::Connection, for server.cpp only: one client's socket, its watchdogs, and the state a
// running profile shares with the coroutine reading the client's next request.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <optional>
#include <vector>

#include "common/log.h"
#include "proto/protocol.h"
#include "server/access.h"
#include "server/server.h"

namespace scorch {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Local = asio::local::stream_protocol;

/// One client: its socket, watchdogs that close it when a read or a write overstays (one each: a
/// profile's reader and its progress writes run at once), and the state a running profile shares
/// with the coroutine reading the client's next request.
class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(Local::socket socket)
      : socket_(std::move(socket)),
        read_watchdog_(socket_.get_executor()),
        write_watchdog_(socket_.get_executor()),
        wake_(socket_.get_executor()) {}

  Local::socket& socket() { return socket_; }
  asio::steady_timer& wake() { return wake_; }

  /// Closes the socket unless the watchdog is cancelled or re-armed first.
  void arm(asio::steady_timer& watchdog, std::chrono::milliseconds limit) {
    watchdog.expires_after(limit);
    watchdog.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) {
        log::debug("client timed out; closing its connection");
        self->close();
      }
    });
  }
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(Local::socket::shutdown_both, ignored);
    socket_.close(ignored);
    read_watchdog_.cancel();
    write_watchdog_.cancel();
    wake_.cancel();
  }

  struct Frame {
    proto::MsgType type;
    std::vector<uint8_t> payload;
  };

  /// The next frame, or nullopt after EOF, a timeout, or a bad header. A bad header is answered
  /// and the connection closed; with `queue_reply` (a profile's writes may be under way) the answer
  /// goes to pending_replies instead, for the profile loop to send before it ends.
  awaitable<std::optional<Frame>> read_frame(std::optional<std::chrono::milliseconds> timeout,
                                             std::chrono::milliseconds write_timeout, bool queue_reply = false) {
    std::array<uint8_t, proto::kHeaderSize> header;
    boost::system::error_code ec;
    if (timeout) arm(read_watchdog_, *timeout);
    co_await asio::async_read(socket_, asio::buffer(header), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      read_watchdog_.cancel();
      co_return std::nullopt;
    }
    auto check = proto::decode_header(header, proto::kMaxRequestPayload);
    if (check.problem != proto::HeaderProblem::kNone) {
      read_watchdog_.cancel();
      log::debug("bad frame from client: " + check.reason);
      auto reply = error_frame(Error{"read request", check.reason, EPROTO, {}});
      if (queue_reply) {
        pending_replies.push_back(std::move(reply));
        co_return std::nullopt;
      }
      co_await send(reply, write_timeout);
      close();
      co_return std::nullopt;
    }
    Frame f{check.header.type, std::vector<uint8_t>(check.header.length)};
    if (!f.payload.empty()) {
      co_await asio::async_read(socket_, asio::buffer(f.payload), asio::redirect_error(use_awaitable, ec));
    }
    read_watchdog_.cancel();
    if (ec) co_return std::nullopt;
    co_return f;
  }

  /// Writes one frame; false when the client is gone or too slow. The frame is the caller's named
  /// local: g++ 12 mishandles temporaries inside co_await expressions, so none are passed.
  awaitable<bool> send(const std::vector<uint8_t>& frame, std::chrono::milliseconds timeout) {
    if (!socket_.is_open()) co_return false;
    boost::system::error_code ec;
    arm(write_watchdog_, timeout);
    co_await asio::async_write(socket_, asio::buffer(frame), asio::redirect_error(use_awaitable, ec));
    write_watchdog_.cancel();
    co_return !ec;
  }

  static std::vector<uint8_t> error_frame(const Error& e) {
    return proto::frame(proto::MsgType::kErrorReply, proto::ErrorReply{e.what, e.reason, e.hint, e.err});
  }

  bool profiling = false;
  bool stop_requested = false;
  bool gone = false;
  bool counted = false;                               // holds one of its user's connections (connection_limits_)
  std::vector<std::vector<uint8_t>> pending_replies;  // to send between progress frames
  PeerCred peer;

 private:
  Local::socket socket_;
  asio::steady_timer read_watchdog_, write_watchdog_;
  asio::steady_timer wake_;
};

}  // namespace scorch
