#include "server/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "common/log.h"
#include "proto/protocol.h"
#include "server/access.h"
#include "symbolize/symbolizer.h"

namespace scorch {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Local = asio::local::stream_protocol;
using namespace std::chrono_literals;

/// One client: its socket, a watchdog that closes it when a read or write overstays, and the
/// state a running profile shares with the coroutine reading the client's next request.
class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(Local::socket socket)
      : socket_(std::move(socket)), watchdog_(socket_.get_executor()), wake_(socket_.get_executor()) {}

  Local::socket& socket() { return socket_; }
  asio::steady_timer& wake() { return wake_; }

  /// Closes the socket unless disarm() or another arm() comes first.
  void arm(std::chrono::milliseconds limit) {
    watchdog_.expires_after(limit);
    watchdog_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) {
        log::debug("client timed out; closing its connection");
        self->close();
      }
    });
  }
  void disarm() { watchdog_.cancel(); }
  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(Local::socket::shutdown_both, ignored);
    socket_.close(ignored);
    watchdog_.cancel();
    wake_.cancel();
  }

  struct Frame {
    proto::MsgType type;
    std::vector<uint8_t> payload;
  };

  /// The next frame, or nullopt after EOF, a timeout, or a bad header (answered, then closed).
  awaitable<std::optional<Frame>> read_frame(std::optional<std::chrono::milliseconds> timeout,
                                             std::chrono::milliseconds write_timeout) {
    std::array<uint8_t, proto::kHeaderSize> header;
    boost::system::error_code ec;
    if (timeout) arm(*timeout);
    co_await asio::async_read(socket_, asio::buffer(header), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      disarm();
      co_return std::nullopt;
    }
    auto check = proto::decode_header(header, proto::kMaxRequestPayload);
    if (check.problem != proto::HeaderProblem::kNone) {
      disarm();
      log::debug("bad frame from client: " + check.reason);
      auto reply = error_frame(Error{"read request", check.reason, EPROTO, {}});
      co_await send(reply, write_timeout);
      close();
      co_return std::nullopt;
    }
    Frame f{check.header.type, std::vector<uint8_t>(check.header.length)};
    if (!f.payload.empty()) {
      co_await asio::async_read(socket_, asio::buffer(f.payload), asio::redirect_error(use_awaitable, ec));
    }
    disarm();
    if (ec) co_return std::nullopt;
    co_return f;
  }

  /// Writes one frame; false when the client is gone or too slow. The frame is the caller's named
  /// local: g++ 12 mishandles temporaries inside co_await expressions, so none are passed.
  awaitable<bool> send(const std::vector<uint8_t>& frame, std::chrono::milliseconds timeout) {
    if (!socket_.is_open()) co_return false;
    boost::system::error_code ec;
    arm(timeout);
    co_await asio::async_write(socket_, asio::buffer(frame), asio::redirect_error(use_awaitable, ec));
    disarm();
    co_return !ec;
  }

  static std::vector<uint8_t> error_frame(const Error& e) {
    return proto::frame(proto::MsgType::kErrorReply, proto::ErrorReply{e.what, e.reason, e.hint, e.err});
  }

  bool profiling = false;
  bool stop_requested = false;
  bool gone = false;
  PeerCred peer;

 private:
  Local::socket socket_;
  asio::steady_timer watchdog_;
  asio::steady_timer wake_;
};

Server::Server(asio::io_context& io, ServerOptions options, const Features& features, Profiler& profiler,
               const Symbolizer& symbolizer)
    : io_(io),
      options_(std::move(options)),
      features_(features),
      profiler_(profiler),
      symbolizer_(symbolizer),
      acceptor_(io),
      drain_timer_(io),
      started_(std::chrono::steady_clock::now()) {}

Server::~Server() {
  if (listening_) ::unlink(options_.socket_path.c_str());
}

namespace {

// mkdir -p for the socket's directory; existing directories are left as they are.
Result<void> make_parent_dirs(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return make_errno_error("create directory " + dir, errno);
  }
  return {};
}

bool socket_answers(const std::string& path) {
  asio::io_context probe_io;
  Local::socket s(probe_io);
  boost::system::error_code ec;
  s.connect(Local::endpoint(path), ec);
  return !ec;
}

}  // namespace

Result<void> Server::listen() {
  const std::string& path = options_.socket_path;
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Error{"listen on " + path, "socket path too long", ENAMETOOLONG, "use a shorter --socket path"};
  if (auto r = make_parent_dirs(path); !r) return r;
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Error{"listen on " + path, "the path exists and is not a socket", EEXIST, "remove it or pick another --socket"};
    if (socket_answers(path))
      return Error{"listen on " + path, "another scorchd is already listening there", EADDRINUSE,
                   "stop it first, or pick another --socket"};
    ::unlink(path.c_str());  // stale socket of a daemon that died
  }
  boost::system::error_code ec;
  acceptor_.open(Local(), ec);
  if (!ec) {
    // Created owner-only, then opened to the configured mode: no window where anyone else can connect.
    mode_t old = ::umask(0177);
    acceptor_.bind(Local::endpoint(path), ec);
    ::umask(old);
  }
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"listen on " + path, ec.message(), ec.value(), {}};
  listening_ = true;
  if (::chmod(path.c_str(), options_.socket_mode) != 0) return make_errno_error("set permissions of " + path, errno);

  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, drain_loop(), asio::detached);
  return {};
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  drain_timer_.cancel();
  if (listening_) {
    ::unlink(options_.socket_path.c_str());
    listening_ = false;
  }
  for (const auto& c : connections_) {
    if (c->profiling) {
      c->stop_requested = true;  // its loop ends and the client still gets what was collected
      c->wake().cancel();
    } else {
      c->close();
    }
  }
}

awaitable<void> Server::accept_loop() {
  while (!stopping_) {
    boost::system::error_code ec;
    Local::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      log::warning("failed to accept a connection: " + ec.message());
      continue;
    }
    auto c = std::make_shared<Connection>(std::move(socket));
    connections_.insert(c);
    asio::co_spawn(io_, serve(c), asio::detached);
  }
}

awaitable<void> Server::drain_loop() {
  // Every 100 ms: a target that exec'd gets its new program's tables soon; every drain_interval:
  // the kernel's aggregates are drained.
  auto next_drain = std::chrono::steady_clock::now() + options_.drain_interval;
  while (!stopping_) {
    drain_timer_.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(100),
                                                                              options_.drain_interval));
    boost::system::error_code ec;
    co_await drain_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (stopping_) break;
    if (std::chrono::steady_clock::now() >= next_drain) {
      profiler_.drain();
      next_drain = std::chrono::steady_clock::now() + options_.drain_interval;
    } else {
      profiler_.check_execs();
    }
  }
}

std::vector<uint8_t> Server::status_frame() const {
  proto::StatusReply r;
  r.version = options_.version;
  r.daemon_pid = static_cast<uint32_t>(::getpid());
  r.uptime_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count());
  for (const auto& f : features_.all()) r.features.push_back({f.name, f.available, f.detail});
  for (const auto& s : profiler_.sessions()) {
    r.sessions.push_back(proto::SessionInfo{s.id, s.spec.uid, s.spec.pids, s.spec.frequency_hz, s.spec.measure,
                                            static_cast<uint64_t>(s.elapsed.count()),
                                            static_cast<uint64_t>(s.spec.duration.count()), s.samples});
  }
  r.drops = profiler_.drops();
  r.symbol_cache_bytes = symbolizer_.cache_bytes();
  if (auto k = symbolizer_.kernel_error()) r.notes.push_back("kernel frames unnamed: " + k->message());
  if (const OffCpuProbe* off = profiler_.offcpu()) {
    auto c = off->counters();
    r.notes.push_back(std::string("off-CPU: program ") + (off->attached() ? "attached" : "loaded, not attached") +
                      "; " + std::to_string(c.switch_outs) + " switch-outs traced, " + std::to_string(c.blocks) +
                      " blocks counted, " + std::to_string(c.filtered) + " filtered out; kernel stacks: " +
                      std::to_string(c.kstack_walks) + " walked, " + std::to_string(c.kstack_kept) +
                      " unchanged since the thread's last switch-out; lost: " +
                      std::to_string(c.no_storage) + " (no task storage), " + std::to_string(c.map_full) +
                      " (map full), " + std::to_string(c.stack_errors) + " stack errors, " +
                      std::to_string(c.lost_stacks) + " stacks");
  } else {
    r.notes.push_back("off-CPU: unavailable");
  }
  if (const MallocProbe* m = profiler_.malloc()) {
    auto c = m->counters();
    r.notes.push_back("malloc: " + std::to_string(c.calls) + " allocator calls traced, " + std::to_string(c.frees) +
                      " frees, " + std::to_string(c.sampled) + " sampled, " + std::to_string(c.nested) +
                      " nested (not counted twice), " + std::to_string(c.other_process) +
 " hits in untraced processes (fork children); stacks: " + std::to_string(c.walks) + " walked, " +
                      std::to_string(c.memo_hits) + " unchanged since their site's last walk; lost: " + std::to_string(c.map_full) +
                      " (counts map full), " + std::to_string(c.live_full) + " (live map full), " +
                      std::to_string(c.stack_lost) + " stacks, " + std::to_string(c.no_storage) + " (no thread storage)");
  } else {
    r.notes.push_back("malloc: unavailable");
  }
  const UnwindLoader& unwinder = profiler_.unwinder();
  auto uc = unwinder.counters();
  r.notes.push_back("user stacks: -p profiles unwind from .eh_frame tables (" +
                    std::to_string(unwinder.table_bytes() / 1024) + " KiB of tables loaded; " +
                    std::to_string(uc.stacks) + " stacks, " + std::to_string(uc.frames) + " frames unwound, " +
                    std::to_string(uc.fp_steps) +
                    " frames by frame pointer where no table applied); whole-system profiles use frame pointers");
  for (const auto& [pid, a] : unwinder.processes()) {
    std::string line = "unwinding PID " + std::to_string(pid) + ": tables for " + std::to_string(a.with_tables) +
                       " mapping" + (a.with_tables == 1 ? "" : "s");
    if (!a.without_tables.empty()) {
      line += "; frame pointers for";
      for (const auto& f : a.without_tables) line += " " + f;
    }
    r.notes.push_back(line);
  }
  return proto::frame(proto::MsgType::kStatusReply, r);
}

awaitable<void> Server::serve(std::shared_ptr<Connection> c) {
  auto cred = peer_credentials(c->socket().native_handle());
  if (!cred) {
    auto reply = Connection::error_frame(cred.error());
    co_await c->send(reply, options_.write_timeout);
  } else {
    c->peer = *cred;
    while (!stopping_) {
      std::optional<std::chrono::milliseconds> timeout = options_.request_timeout;
      auto frame = co_await c->read_frame(timeout, options_.write_timeout);
      if (!frame) break;
      if (frame->type == proto::MsgType::kStatusRequest) {
        auto req = proto::decode_status_request(frame->payload);
        if (!req) {
          auto reply = Connection::error_frame(req.error());
          co_await c->send(reply, options_.write_timeout);
          break;
        }
        auto reply = status_frame();
        if (!co_await c->send(reply, options_.write_timeout)) break;
      } else if (frame->type == proto::MsgType::kProfileRequest) {
        std::vector<uint8_t> payload = std::move(frame->payload);
        co_await run_profile(c, std::move(payload));
        break;  // one profile per connection
      } else {
        auto reply = Connection::error_frame(
            Error{"handle request", std::string("unexpected ") + proto::type_name(frame->type), EPROTO, {}});
        co_await c->send(reply, options_.write_timeout);
        break;
      }
    }
  }
  c->close();
  connections_.erase(c);
}

awaitable<void> Server::run_profile(std::shared_ptr<Connection> c, std::vector<uint8_t> payload) {
  auto req = proto::decode_profile_request(payload);
  if (!req) {
    auto reply = Connection::error_frame(req.error());
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  if (auto ok = authorize_profile(c->peer.uid, req->pids, read_process_uids); !ok) {
    log::info("refused uid " + std::to_string(c->peer.uid) + ": " + ok.error().message());
    auto reply = Connection::error_frame(ok.error());
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  SessionSpec spec;
  spec.pids = req->pids;
  spec.frequency_hz = req->frequency_hz;
  spec.duration = std::chrono::milliseconds(req->duration_ms);
  spec.uid = c->peer.uid;
  spec.measure = req->measure;
  spec.offcpu_filter = OffCpuProbe::Filter{req->min_block_ns, req->max_block_ns, req->states, req->stacks};
  spec.stacks = req->stacks;
  spec.by_state = req->by_state;
  spec.malloc = MallocProbe::Config{req->outstanding, req->sample_bytes, req->duty_permille};
  spec.min_age_ns = req->min_age_ns;
  spec.weight_calls = req->weight_calls;
  auto id = profiler_.start(spec);
  if (!id) {
    auto reply = Connection::error_frame(id.error());
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  log::debug("session " + std::to_string(*id) + " started for uid " + std::to_string(c->peer.uid));
  c->profiling = true;

  // The client may send StopRequest (Ctrl-C) or vanish while we wait; either wakes the loop.
  asio::co_spawn(
      io_,
      [c]() -> awaitable<void> {
        std::optional<std::chrono::milliseconds> no_timeout;
        auto frame = co_await c->read_frame(no_timeout, 5s);
        if (frame && frame->type == proto::MsgType::kStopRequest) {
          c->stop_requested = true;
        } else {
          c->gone = true;
        }
        c->wake().cancel();
      },
      asio::detached);

  const auto started = std::chrono::steady_clock::now();
  while (!c->stop_requested && !c->gone && !profiler_.done(*id)) {
    auto wait = std::chrono::milliseconds(1000);
    if (spec.duration.count() > 0) {
      auto left = spec.duration - std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started);
      wait = std::clamp(left, std::chrono::milliseconds(1), wait);
    }
    c->wake().expires_after(wait);
    boost::system::error_code ec;
    co_await c->wake().async_wait(asio::redirect_error(use_awaitable, ec));
    if (c->stop_requested || c->gone || profiler_.done(*id)) break;
    proto::Progress p;
    p.elapsed_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
    p.duration_ms = req->duration_ms;
    profiler_.drain();  // so the count shown is the count so far, not as of the last periodic drain
    p.samples = profiler_.samples(*id);
    auto bytes = proto::frame(proto::MsgType::kProgress, p);
    if (!co_await c->send(bytes, options_.write_timeout)) c->gone = true;
  }

  Profile profile = profiler_.finish(*id);
  if (stopping_) profile.notes.push_back("scorchd is shutting down: the profile ended early");
  log::debug("session " + std::to_string(*id) + " finished: " + std::to_string(profile.total()) + " samples");
  if (c->gone) co_return;
  auto bytes = proto::frame(proto::MsgType::kProfileResult, profile);
  co_await c->send(bytes, options_.write_timeout);
}

}  // namespace scorch
