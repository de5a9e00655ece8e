#pragma once
/// Client: a blocking connection to scorchd speaking the framed protocol.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "proto/protocol.h"

namespace scorch::cli {

/// One received frame.
struct Frame {
  proto::MsgType type;
  std::vector<uint8_t> payload;
};

class Client {
 public:
  /// Connects, with a hint on how to start the daemon when nobody listens.
  static Result<Client> connect(const std::string& socket_path);

  Result<void> send(proto::MsgType type, const std::vector<uint8_t>& payload);
  /// Waits up to timeout for a whole frame; nullopt on timeout (a partial frame keeps waiting).
  Result<std::optional<Frame>> receive(std::chrono::milliseconds timeout);
  int fd() const { return fd_.get(); }

 private:
  explicit Client(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<void> read_exact(uint8_t* buf, size_t n);
  UniqueFd fd_;
  std::string path_;
};

/// The default socket: $SCORCH_SOCKET, else /run/scorch/scorchd.sock.
std::string default_socket_path();

/// An ErrorReply as a local Error.
Error to_error(const proto::ErrorReply& e);

/// Asks scorchd at socket_path for its status (10 s at most).
Result<proto::StatusReply> fetch_status(const std::string& socket_path);

}  // namespace scorch::cli
