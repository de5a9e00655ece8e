#include "cli/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace scorch::cli {

std::string default_socket_path() {
  const char* env = std::getenv("SCORCH_SOCKET");
  return env && *env ? env : "/run/scorch/scorchd.sock";
}

Error to_error(const proto::ErrorReply& e) { return Error{e.what, e.reason, e.err, e.hint}; }

Result<Client> Client::connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Error{"connect to scorchd at " + path, "socket path too long", ENAMETOOLONG, {}};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_errno_error("create a socket", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    std::string hint;
    if (e == ENOENT || e == ECONNREFUSED)
      hint =
          "is scorchd running? start it with: sudo scorchd &  (or: sudo systemctl start scorchd); "
          "a daemon on another socket is reached with --socket PATH or SCORCH_SOCKET";
    else if (e == EACCES)
      hint = "the socket's permissions keep you out; ask the administrator (scorchd --socket-mode)";
    return make_errno_error("connect to scorchd at " + path, e, hint);
  }
  Client c(std::move(fd));
  c.path_ = path;
  return c;
}

Result<void> Client::send(proto::MsgType type, const std::vector<uint8_t>& payload) {
  auto frame = proto::encode_frame(type, payload);
  size_t off = 0;
  while (off < frame.size()) {
    ssize_t n = ::send(fd_.get(), frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      // A daemon that refused the connection (a limit reached) said why before closing it.
      if (e == EPIPE || e == ECONNRESET) {
        auto got = receive(std::chrono::milliseconds(0));
        if (got && *got && (*got)->type == proto::MsgType::kErrorReply)
          if (auto er = proto::decode_error_reply((*got)->payload); er) return to_error(*er);
      }
      return make_errno_error("send request to scorchd", e);
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

Result<void> Client::read_exact(uint8_t* buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = ::recv(fd_.get(), buf + off, n - off, 0);
    if (r == 0) return Error{"read reply from scorchd", "the daemon closed the connection", ECONNRESET, {}};
    if (r < 0) {
      if (errno == EINTR) continue;
      return make_errno_error("read reply from scorchd", errno);
    }
    off += static_cast<size_t>(r);
  }
  return {};
}

Result<std::optional<Frame>> Client::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_.get(), POLLIN, 0};
  int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready < 0) {
    if (errno == EINTR) return std::optional<Frame>();
    return make_errno_error("wait for scorchd", errno);
  }
  if (ready == 0) return std::optional<Frame>();
  std::array<uint8_t, proto::kHeaderSize> header;
  if (auto r = read_exact(header.data(), header.size()); !r) return r.error();
  auto check = proto::decode_header(header, proto::kMaxReplyPayload);
  if (check.problem != proto::HeaderProblem::kNone)
    return Error{"read reply from scorchd", check.reason, EPROTO,
                 check.problem == proto::HeaderProblem::kBadVersion ? "scorch and scorchd are different versions" : ""};
  Frame f{check.header.type, std::vector<uint8_t>(check.header.length)};
  if (auto r = read_exact(f.payload.data(), f.payload.size()); !r) return r.error();
  return std::optional<Frame>(std::move(f));
}

Result<proto::StatusReply> fetch_status(const std::string& socket_path) {
  using namespace std::chrono_literals;
  auto client = Client::connect(socket_path);
  if (!client) return client.error();
  if (auto r = client->send(proto::MsgType::kStatusRequest, proto::encode(proto::StatusRequest{})); !r)
    return r.error();
  auto got = client->receive(10s);
  if (!got) return got.error();
  if (!*got) return Error{"read status from scorchd", "no answer within 10 s", ETIMEDOUT, {}};
  if ((*got)->type == proto::MsgType::kErrorReply) {
    auto e = proto::decode_error_reply((*got)->payload);
    return e ? to_error(*e) : e.error();
  }
  return proto::decode_status_reply((*got)->payload);
}

}  // namespace scorch::cli
