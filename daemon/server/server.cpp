#include "server/server.h"

#include "probes/counter_probe.h"
#include "proto/perf_events.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <filesystem>
#include <optional>
#include <type_traits>

#include "common/log.h"
#include "proto/protocol.h"
#include "server/access.h"
#include "server/connection.h"
#include "server/status.h"
#include "symbolize/symbolizer.h"

namespace scorch {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Local = asio::local::stream_protocol;
using namespace std::chrono_literals;

Server::Server(asio::io_context& io, ServerOptions options, const Features& features, Profiler& profiler,
               const Symbolizer& symbolizer)
    : io_(io),
      options_(std::move(options)),
      features_(features),
      profiler_(profiler),
      symbolizer_(symbolizer),
      acceptor_(io),
      accept_timer_(io),
      connection_limits_(options_.max_connections_per_user, options_.max_connections_all_users),
      session_limits_(std::make_shared<UidLimits>(options_.max_sessions_per_user, options_.max_sessions_all_users)),
      started_(std::chrono::steady_clock::now()),
      worker_guard_(worker_io_.get_executor()),
      drain_timer_(worker_io_) {
  for (const auto& ev : proto::perf_events()) {
    auto ok = check_perf_event(ev, "count " + std::string(ev.name));
    std::string detail = std::string(proto::perf_event_kind(ev.type)) + ": " + std::string(ev.about);
    if (!ok) detail = ok.error().reason;
    events_.push_back({std::string(ev.name), ok.ok(), detail});
  }
  if (options_.max_connections_all_users == 0) {
    // Users together get a quarter of the descriptors; the rest stays for root's clients, perf
    // events and BPF objects.
    rlimit nofile{};
    uint64_t cap = 256;
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
      cap = std::max<uint64_t>(16, nofile.rlim_cur / 4);
    connection_limits_.set_caps(options_.max_connections_per_user, cap);
  }
  profiler_.set_memory_limit_per_user(options_.max_session_memory_per_user);  // the worker has not started
}

Server::~Server() {
  stop_worker();
  if (listening_) ::unlink(options_.socket_path.c_str());
}

void Server::stop_worker() {
  if (!worker_.joinable()) return;
  worker_guard_.reset();
  worker_io_.stop();
  worker_.join();
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
      return Error{"listen on " + path, "the path exists and is not a socket", EEXIST,
                   "remove it or pick another --socket"};
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

  // Held to be given up at EMFILE: a connection can then still be accepted, told why, and closed.
  reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  refresh_snapshot();  // before the worker starts: the first status has something to show
  asio::co_spawn(worker_io_, drain_loop(), asio::detached);
  worker_ = std::thread([this] {
    // Jobs catch their own exceptions (on_worker); this is the last line against a stray one.
    while (true) {
      try {
        worker_io_.run();
        return;
      } catch (const std::exception& e) {
        log::error(std::string("profiler worker: ") + e.what());
      }
    }
  });
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_timer_.cancel();
  asio::post(worker_io_, [this] {
    worker_stopping_ = true;
    drain_timer_.cancel();
  });
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

template <typename Job>
awaitable<std::invoke_result_t<Job&>> Server::on_worker(Job job) {
  using R = std::invoke_result_t<Job&>;
  ++pending_jobs_;
  // On the worker: the job, then a fresh snapshot once no other job waits (a flood of requests
  // refreshes it once, not once each).
  auto run = [this, job = std::move(job)]() mutable -> R {
    R r = [&]() -> R {
      try {
        return job();
      } catch (const std::exception& e) {
        return R(Error{"run a profiler job", e.what(), 0, {}});
      }
    }();
    if (--pending_jobs_ == 0) refresh_snapshot();
    return r;
  };
  auto initiation = [this](auto handler, auto run) {
    asio::post(worker_io_, [handler = std::move(handler), run = std::move(run)]() mutable {
      R r = run();
      auto ex = asio::get_associated_executor(handler);
      asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable { std::move(handler)(std::move(r)); });
    });
  };
  R result =
      co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(initiation, use_awaitable, std::move(run));
  co_return result;
}

awaitable<void> Server::accept_loop() {
  auto backoff = 10ms;
  while (!stopping_) {
    boost::system::error_code ec;
    Local::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      // Out of descriptors the listening socket stays readable: retrying at once would spin.
      const bool no_fds =
          ec.category() == boost::system::system_category() && (ec.value() == EMFILE || ec.value() == ENFILE);
      const bool shed = no_fds && shed_one_connection();
      log::warning("failed to accept a connection: " + ec.message() +
                   (shed ? " (refused a waiting client: out of file descriptors)" : "") + "; retrying in " +
                   std::to_string(backoff.count()) + " ms");
      accept_timer_.expires_after(backoff);
      co_await accept_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 1000ms);
      continue;
    }
    backoff = 10ms;
    admit(std::move(socket));
  }
}

namespace {

// A short reply to a client that is not served, without waiting on it: the frame fits the socket
// buffer of a fresh connection, and a client that left loses nothing.
void send_and_forget(int fd, const std::vector<uint8_t>& frame) {
  [[maybe_unused]] ssize_t n = ::send(fd, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Per-thread samplers hold a descriptor per thread of each target: a user's sessions on processes
// with many threads could take them all. Users start sessions only while half of the limit is free.
Result<void> descriptors_left_for(uint32_t uid) {
  if (uid == 0) return {};
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == RLIM_INFINITY) return {};
  std::error_code ec;
  uint64_t open = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::end(it);
       it.increment(ec))
    ++open;
  if (open <= nofile.rlim_cur / 2) return {};
  return Error{"start a session",
               "the daemon has " + std::to_string(open) + " of its " + std::to_string(nofile.rlim_cur) +
                   " file descriptors open; the other half is kept for root",
               EMFILE, "try again when other profiles have ended; root's profiles are always served"};
}

}  // namespace

bool Server::shed_one_connection() {
  reserve_fd_.reset();
  bool shed = false;
  int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd >= 0) {
    auto reply = Connection::error_frame(Error{"accept connection", "daemon out of file descriptors", EMFILE,
                                               "try again later; the administrator can raise LimitNOFILE"});
    send_and_forget(fd, reply);
    ::close(fd);
    shed = true;
  }
  reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return shed;
}

void Server::admit(Local::socket socket) {
  auto c = std::make_shared<Connection>(std::move(socket));
  auto refuse = [&](const Error& e) {
    auto reply = Connection::error_frame(e);
    send_and_forget(c->socket().native_handle(), reply);
    c->close();
  };
  auto cred = peer_credentials(c->socket().native_handle());
  if (!cred) return refuse(cred.error());
  c->peer = *cred;
  auto verdict = connection_limits_.try_acquire(cred->uid);
  if (verdict != UidLimits::Verdict::kOk) {
    const bool mine = verdict == UidLimits::Verdict::kUserLimit;
    Error e{
        "accept connection",
        mine ? "limit of " + std::to_string(connection_limits_.per_user()) + " connections per user reached"
             : "limit of " + std::to_string(connection_limits_.all_users()) +
                   " connections of all non-root users together reached",
        EMFILE,
        mine ? "close other scorch clients of this user; the administrator can raise scorchd --max-connections-per-user"
             : "try again later; root's clients are always served"};
    log::info("refused a connection of uid " + std::to_string(cred->uid) + ": " + e.reason);
    return refuse(e);
  }
  c->counted = true;
  connections_.insert(c);
  asio::co_spawn(io_, serve(c), asio::detached);
}

awaitable<void> Server::drain_loop() {
  // Every 100 ms: a target that exec'd gets its new program's tables soon; every drain_interval
  // (or min_drain_gap when a progress frame asked): the kernel's aggregates are drained. Either
  // way status gets a fresh snapshot.
  using Clock = std::chrono::steady_clock;
  const auto tick = std::min<Clock::duration>(100ms, options_.drain_interval);
  auto last_drain = Clock::now();
  while (!worker_stopping_) {
    drain_timer_.expires_after(tick);
    boost::system::error_code ec;
    co_await drain_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (worker_stopping_) break;
    const auto now = Clock::now();
    try {
      if (now - last_drain >= options_.drain_interval ||
          (drain_wanted_.load() && now - last_drain >= options_.min_drain_gap)) {
        drain_wanted_ = false;
        profiler_.drain();
        last_drain = Clock::now();
      } else {
        profiler_.check_execs();
      }
      refresh_snapshot();
    } catch (const std::exception& e) {
      log::error(std::string("periodic drain: ") + e.what());
    }
  }
}

std::shared_ptr<const Server::Snapshot> Server::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

void Server::refresh_snapshot() {
  auto snap = std::make_shared<Snapshot>();
  proto::StatusReply& r = snap->reply;
  r.version = options_.version;
  r.daemon_pid = static_cast<uint32_t>(::getpid());
  for (const auto& f : features_.all()) r.features.push_back({f.name, f.available, f.detail});
  r.events = events_;
  for (const auto& s : profiler_.sessions()) {
    r.sessions.push_back(proto::SessionInfo{s.id, s.spec.uid, s.spec.pids, s.measure, s.detail, s.events,
                                            static_cast<uint64_t>(s.elapsed.count()),
                                            static_cast<uint64_t>(s.spec.duration.count()), s.samples});
    snap->sessions[s.id] = Snapshot::SessionState{s.samples, profiler_.done(s.id)};
  }
  r.drops = profiler_.drops();
  r.symbol_cache_bytes = symbolizer_.cache_bytes();
  r.notes = status_notes(profiler_, symbolizer_);
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(snap);
}

std::vector<uint8_t> Server::status_frame(uint32_t uid) const {
  // Never waits on the worker: the snapshot is at most one drain tick old.
  auto snap = snapshot();
  proto::StatusReply r = snap->reply;
  if (uid != 0) {
    // Which processes other users profile is theirs to know: a user sees its own sessions, and
    // the per-process unwinding lines of its own targets only.
    std::set<uint32_t> mine;
    size_t others = 0;
    std::erase_if(r.sessions, [&](const proto::SessionInfo& s) {
      if (s.uid == uid) {
        mine.insert(s.pids.begin(), s.pids.end());
        return false;
      }
      ++others;
      return true;
    });
    std::erase_if(r.notes, [&](const std::string& n) {
      static const std::string kPrefix = "unwinding PID ";
      if (n.rfind(kPrefix, 0) != 0) return false;
      return !mine.count(static_cast<uint32_t>(std::strtoul(n.c_str() + kPrefix.size(), nullptr, 10)));
    });
    if (others)
      r.notes.push_back(std::to_string(others) + " session" + (others == 1 ? "" : "s") + " of other users not shown");
  }
  r.uptime_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count());
  auto cap = [](uint64_t n) { return n ? std::to_string(n) : std::string("no limit of"); };
  r.notes.push_back("limits per user (root not counted): " + cap(connection_limits_.per_user()) + " connections, " +
                    cap(session_limits_->per_user()) + " sessions, " + cap(options_.max_session_memory_per_user >> 20) +
                    " MiB of session memory; all users together: " + cap(connection_limits_.all_users()) +
                    " connections, " + cap(session_limits_->all_users()) + " sessions; now " +
                    std::to_string(connections_.size()) + " connections (" +
                    std::to_string(connection_limits_.total()) + " of users), " +
                    std::to_string(session_limits_->total()) + " sessions of users");
  return proto::frame(proto::MsgType::kStatusReply, r);
}

awaitable<void> Server::serve(std::shared_ptr<Connection> c) {
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
      auto reply = status_frame(c->peer.uid);
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
  c->close();
  connections_.erase(c);
  if (c->counted) connection_limits_.release(c->peer.uid);
  c->counted = false;
}

awaitable<void> Server::run_profile(std::shared_ptr<Connection> c, std::vector<uint8_t> payload) {
  auto req = proto::decode_profile_request(payload);
  if (!req) {
    auto reply = Connection::error_frame(req.error());
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  const uint32_t uid = c->peer.uid;
  auto verdict = session_limits_->try_acquire(uid);
  if (verdict != UidLimits::Verdict::kOk) {
    const bool mine = verdict == UidLimits::Verdict::kUserLimit;
    Error e{"start a session",
            mine ? "limit of " + std::to_string(session_limits_->per_user()) + " sessions per user reached"
                 : "limit of " + std::to_string(session_limits_->all_users()) +
                       " sessions of all non-root users together reached",
            EBUSY,
            mine ? "wait for one of your profiles to end (scorch status lists them); the administrator can raise "
                   "scorchd --max-sessions-per-user"
                 : "try again later; root's profiles are always served"};
    log::info("refused uid " + std::to_string(uid) + ": " + e.message());
    auto reply = Connection::error_frame(e);
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  struct Slot {  // the session slot goes back however this coroutine ends
    std::shared_ptr<UidLimits> limits;
    uint32_t uid;
    ~Slot() { limits->release(uid); }
  } slot{session_limits_, uid};

  SessionSpec spec;
  spec.pids = req->pids;
  spec.duration = std::chrono::milliseconds(req->duration_ms);
  spec.uid = uid;
  spec.measure = req->measure;
  std::vector<uint8_t> options = std::move(req->options);
  // Access rules, target checks and the start itself read /proc and files: all on the worker.
  // Jobs are named locals: g++ 12 mishandles temporaries inside co_await expressions.
  auto start_job = [this, spec, options]() -> Result<uint64_t> {
    const MeasureDef* def = profiler_.definition(spec.measure);
    if (auto ok = authorize_profile(spec.uid, spec.pids, read_process_uids, def ? def->verb : "profile"); !ok) {
      log::info("refused uid " + std::to_string(spec.uid) + ": " + ok.error().message());
      return ok.error();
    }
    if (auto ok = descriptors_left_for(spec.uid); !ok) return ok.error();
    if (def)
      if (auto ok = check_targets(spec.pids, def->needs_pids, def->verb, read_process_state); !ok) return ok.error();
    return profiler_.start(spec, options);
  };
  auto id = co_await on_worker(std::move(start_job));
  if (!id) {
    auto reply = Connection::error_frame(id.error());
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  log::debug("session " + std::to_string(*id) + " started for uid " + std::to_string(uid));
  c->profiling = true;

  // The client may send StopRequest (Ctrl-C) or vanish while we wait; either wakes the loop. Any
  // other request is answered with an error (sent by the loop, between progress frames) and the
  // profile goes on.
  asio::co_spawn(
      io_,
      [c]() -> awaitable<void> {
        while (true) {
          std::optional<std::chrono::milliseconds> no_timeout;
          auto frame = co_await c->read_frame(no_timeout, 5s, /*queue_reply=*/true);
          if (!frame) {
            c->gone = true;
            break;
          }
          if (frame->type == proto::MsgType::kStopRequest) {
            c->stop_requested = true;
            break;
          }
          const bool second = frame->type == proto::MsgType::kProfileRequest;
          c->pending_replies.push_back(Connection::error_frame(
              second ? Error{"start a profile", "a profile is already running on this connection", EBUSY,
                             "open another connection for another profile"}
                     : Error{"handle request",
                             std::string("unexpected ") + proto::type_name(frame->type) + " while a profile runs",
                             EPROTO,
                             {}}));
          c->wake().cancel();
        }
        c->wake().cancel();
      },
      asio::detached);

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const uint64_t session = *id;
  auto profiler_done = [&] {  // as of the last snapshot: duration over, targets gone (Profiler::done)
    auto snap = snapshot();
    auto it = snap->sessions.find(session);
    return it != snap->sessions.end() && it->second.done;
  };
  // Progress about once a second, its count from the snapshot; a drain is asked for a little
  // before (the worker coalesces the asks of every session into one drain).
  constexpr auto kProgressEvery = 1000ms, kAskDrainBefore = 300ms;
  auto next_progress = started + kProgressEvery;
  bool drain_asked = false;
  while (true) {
    if (!c->pending_replies.empty()) {
      auto replies = std::move(c->pending_replies);
      c->pending_replies.clear();
      for (const auto& reply : replies)
        if (!co_await c->send(reply, options_.write_timeout)) c->gone = true;
    }
    if (c->stop_requested || c->gone) break;
    auto now = Clock::now();
    if (spec.duration.count() > 0 && now - started >= spec.duration) break;
    if (profiler_done()) break;
    if (!drain_asked && now >= next_progress - kAskDrainBefore) {
      drain_wanted_ = true;
      drain_asked = true;
    }
    if (now >= next_progress) {
      proto::Progress p;
      p.elapsed_ms =
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count());
      p.duration_ms = req->duration_ms;
      auto snap = snapshot();
      if (auto it = snap->sessions.find(session); it != snap->sessions.end()) p.samples = it->second.samples;
      auto bytes = proto::frame(proto::MsgType::kProgress, p);
      if (!co_await c->send(bytes, options_.write_timeout)) c->gone = true;
      next_progress = Clock::now() + kProgressEvery;
      drain_asked = false;
      continue;
    }
    auto until = drain_asked ? next_progress : next_progress - kAskDrainBefore;
    if (spec.duration.count() > 0) until = std::min(until, started + spec.duration);
    c->wake().expires_at(until);
    boost::system::error_code ec;
    co_await c->wake().async_wait(asio::redirect_error(use_awaitable, ec));
  }

  const bool stopping = stopping_, wanted = !c->gone;
  auto finish_job = [this, session, stopping, wanted]() -> Result<std::vector<uint8_t>> {
    Profile profile = profiler_.finish(session);
    if (stopping) profile.notes.push_back("scorchd is shutting down: the profile ended early");
    log::debug("session " + std::to_string(session) + " finished: " + std::to_string(profile.total()) + " samples");
    if (!wanted) return std::vector<uint8_t>{};
    return proto::frame(proto::MsgType::kProfileResult, profile);
  };
  auto result = co_await on_worker(std::move(finish_job));
  if (c->gone) co_return;
  if (!result) {
    auto reply = Connection::error_frame(result.error());
    co_await c->send(reply, options_.write_timeout);
    co_return;
  }
  co_await c->send(*result, options_.write_timeout);
}

}  // namespace scorch
