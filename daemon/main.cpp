// scorchd: loads the BPF programs, serves profiles over a Unix socket. All logic lives in the libraries.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "common/log.h"
#include "common/unique_fd.h"
#include "probes/features.h"
#include "probes/unwind_maps.h"
#include "server/server.h"
#include "session/measure.h"
#include "session/profiler.h"
#include "symbolize/symbolizer.h"

namespace {

constexpr const char* kUsage =
    "usage: scorchd [--socket PATH] [--socket-mode MODE] [--offcpu-hook HOOK] [--kernel-locks auto|off]\n"
    "               [--locks-map-entries N] [--debug-dir DIR]...\n"
    "               [--debuginfod URLS] [--max-connections-per-user N] [--max-sessions-per-user N]\n"
    "               [--max-session-memory-per-user SIZE] [-v] [--version]\n"
    "\n"
    "  --socket PATH       control socket (default $SCORCH_SOCKET or /run/scorch/scorchd.sock)\n"
    "  --socket-mode MODE  octal permissions of the socket (default 0666: every user may connect;\n"
    "                      what each may profile is decided from its credentials)\n"
    "  --offcpu-hook HOOK  how off-CPU tracing hooks sched_switch: auto (default: tp_btf when the\n"
    "                      kernel has it, else the raw tracepoint), tp_btf, or raw_tp (frame-pointer\n"
    "                      user stacks; for kernels without tp_btf, and to test that path)\n"
    "  --kernel-locks auto|off\n"
    "                      off: do not trace kernel locks (scorch locks --kernel is refused, as on a\n"
    "                      kernel without the lock tracepoints); user-space locks are still traced\n"
    "  --locks-map-entries N\n"
    "                      buckets (lock x stack) the lock measure holds per drain (default 16384);\n"
    "                      past it waits are dropped and counted as map full\n"
    "  --debuginfod URLS   ask these debuginfod servers (space-separated) for debug files not found\n"
    "                      locally; off by default (the daemon then reaches the network)\n"
    "  --debug-dir DIR     also look for separate debug files here, by build id (DIR/.build-id/xx/\n"
    "                      rest.debug), before /usr/lib/debug; repeatable\n"
    "  --max-connections-per-user N\n"
    "                      connections one non-root user may hold at once (default 64; 0: no cap)\n"
    "  --max-sessions-per-user N\n"
    "                      profiles one non-root user may run at once (default 16; 0: no cap)\n"
    "  --max-session-memory-per-user SIZE\n"
    "                      what one non-root user's running profiles may hold (stacks, names;\n"
    "                      default 256MiB; 0: no cap); past it new stacks are dropped and counted.\n"
    "                      Root is never counted against these limits\n"
    "  -v, --verbose       debug logs, including libbpf's\n"
    "  --version           print the version and exit\n";

void fail(const scorch::Error& e) {
  std::cerr << "scorchd: " << e.message() << "\n";
  if (!e.hint.empty()) std::cerr << "HINT: " << e.hint << "\n";
}

// "64", "256MiB", "1GiB", "512k": a count or a size; false when it is neither.
bool parse_amount(const std::string& text, uint64_t& out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (errno) return false;
  std::string unit = end;
  uint64_t scale = 1;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "k" || unit == "K" || unit == "KiB")
    scale = 1ull << 10;
  else if (unit == "m" || unit == "M" || unit == "MiB")
    scale = 1ull << 20;
  else if (unit == "g" || unit == "G" || unit == "GiB")
    scale = 1ull << 30;
  else
    return false;
  if (n > UINT64_MAX / scale) return false;
  out = n * scale;
  return true;
}

// Many clients and per-thread perf events each hold a descriptor: take what the hard limit allows.
void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
  rlim_t was = r.rlim_cur;
  r.rlim_cur = r.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &r) == 0)
    scorch::log::debug("file descriptor limit raised from " + std::to_string(was) + " to " +
                       std::to_string(r.rlim_cur));
}

// Type=notify: tell systemd we are ready, without linking libsystemd.
void notify_systemd_ready() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  scorch::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return;
  const char msg[] = "READY=1";
  ::sendto(fd.get(), msg, sizeof(msg) - 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}

}  // namespace

int main(int argc, char** argv) {
  scorch::ServerOptions options;
  std::string offcpu_hook = "auto", kernel_locks = "auto", locks_map_entries = "16384";
  scorch::SymbolizerOptions symbolizer_options;
  std::vector<std::string> debug_dirs;
  if (const char* env = std::getenv("SCORCH_SOCKET"); env && *env) options.socket_path = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "scorchd: " << name << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--socket") {
      options.socket_path = value("--socket");
    } else if (a == "--socket-mode") {
      std::string m = value("--socket-mode");
      char* end = nullptr;
      unsigned long mode = std::strtoul(m.c_str(), &end, 8);
      if (m.empty() || *end || mode > 0777) {
        std::cerr << "scorchd: --socket-mode takes octal permissions like 0660, not '" << m << "'\n";
        return 2;
      }
      options.socket_mode = static_cast<unsigned>(mode);
    } else if (a == "--debuginfod") {
      // libdebuginfod reads its servers from the environment; a stalled server must not hold
      // symbolization for long.
      ::setenv("DEBUGINFOD_URLS", value("--debuginfod").c_str(), 1);
      ::setenv("DEBUGINFOD_TIMEOUT", std::getenv("DEBUGINFOD_TIMEOUT") ? std::getenv("DEBUGINFOD_TIMEOUT") : "10", 1);
      symbolizer_options.debuginfod = true;
    } else if (a == "--debug-dir") {
      debug_dirs.push_back(value("--debug-dir"));
    } else if (a == "--offcpu-hook") {
      offcpu_hook = value("--offcpu-hook");
      if (offcpu_hook != "auto" && offcpu_hook != "tp_btf" && offcpu_hook != "raw_tp") {
        std::cerr << "scorchd: --offcpu-hook takes auto, tp_btf or raw_tp, not '" << offcpu_hook << "'\n";
        return 2;
      }
    } else if (a == "--kernel-locks") {
      kernel_locks = value("--kernel-locks");
      if (kernel_locks != "auto" && kernel_locks != "off") {
        std::cerr << "scorchd: --kernel-locks takes auto or off, not '" << kernel_locks << "'\n";
        return 2;
      }
    } else if (a == "--locks-map-entries") {
      locks_map_entries = value("--locks-map-entries");
      uint64_t n = 0;
      if (locks_map_entries.find_first_not_of("0123456789") != std::string::npos ||
          !parse_amount(locks_map_entries, n) || n == 0 || n > (1u << 24)) {
        std::cerr << "scorchd: --locks-map-entries takes a number from 1 to 16777216, not '" << locks_map_entries
                  << "'\n";
        return 2;
      }
    } else if (a == "--max-connections-per-user" || a == "--max-sessions-per-user" ||
               a == "--max-session-memory-per-user") {
      std::string v = value(a.c_str());
      uint64_t n = 0;
      const bool size = a == "--max-session-memory-per-user";
      if (!parse_amount(v, n) || (!size && v.find_first_not_of("0123456789") != std::string::npos)) {
        std::cerr << "scorchd: " << a << " takes " << (size ? "a size like 256MiB" : "a number") << ", not '" << v
                  << "'\n";
        return 2;
      }
      if (a == "--max-connections-per-user")
        options.max_connections_per_user = n;
      else if (a == "--max-sessions-per-user")
        options.max_sessions_per_user = n;
      else
        options.max_session_memory_per_user = n;
    } else if (a == "-v" || a == "--verbose") {
      scorch::log::set_verbose(true);
    } else if (a == "--version") {
      std::cout << "scorchd " << options.version << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "scorchd: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }

  std::signal(SIGPIPE, SIG_IGN);
  scorch::log::set_program("scorchd");
  scorch::log::route_libbpf();
  raise_fd_limit();

  auto features = scorch::Features::probe();
  for (const auto& line : features.report()) scorch::log::debug("feature " + line);
  for (const auto& f : features.all())
    if (!f.available) scorch::log::info("unavailable: " + f.name + ": " + f.detail);
  const std::map<std::string, std::string> settings{
      {"offcpu-hook", offcpu_hook}, {"kernel-locks", kernel_locks}, {"locks-map-entries", locks_map_entries}};
  auto unwind_maps = scorch::UnwindMaps::create();
  if (!unwind_maps) {
    fail(unwind_maps.error());
    return 1;
  }
  debug_dirs.insert(debug_dirs.end(), symbolizer_options.debug_dirs.begin(), symbolizer_options.debug_dirs.end());
  symbolizer_options.debug_dirs = debug_dirs;
  scorch::Symbolizer symbolizer(symbolizer_options);
  if (auto k = symbolizer.load_kernel(); !k) {
    scorch::log::warning(k.error().message() + ": kernel frames will show as [unknown]" +
                         (k.error().hint.empty() ? "" : " (" + k.error().hint + ")"));
  }
  // Every measure the registry lists; one the kernel cannot run is reported and left out, and
  // its sessions are refused with that reason (a required one stops the daemon).
  scorch::Profiler profiler(unwind_maps->get(), symbolizer);
  for (const scorch::MeasureDef& def : scorch::registry()) {
    auto r = profiler.load(def, features, settings);
    if (r) continue;
    scorch::Error e = r.error();
    if (def.required) {
      if (e.hint.empty() && ::geteuid() != 0) e.hint = "run scorchd as root";
      fail(e);
      return 1;
    }
    scorch::log::info("unavailable: " + def.name + ": " + e.message() + (e.hint.empty() ? "" : " (" + e.hint + ")"));
  }

  boost::asio::io_context io;
  scorch::Server server(io, options, features, profiler, symbolizer);
  if (auto r = server.listen(); !r) {
    fail(r.error());
    return 1;
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer grace(io);
  std::chrono::steady_clock::time_point deadline;
  std::function<void(boost::system::error_code)> wait_for_clients = [&](boost::system::error_code e) {
    if (e) return;
    if (server.idle() || std::chrono::steady_clock::now() >= deadline) {
      io.stop();
      return;
    }
    grace.expires_after(std::chrono::milliseconds(20));
    grace.async_wait(wait_for_clients);
  };
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    scorch::log::info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", detaching");
    // Whatever happens next (a profiler job that does not return), the process ends within 4 s:
    // BPF programs, links and perf events are owned by descriptors and nothing is pinned, so the
    // kernel detaches everything at exit.
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::seconds(4));
      const char msg[] = "scorchd: shutdown did not complete within 4 s; exiting anyway\n";
      [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
      ::_exit(1);
    }).detach();
    server.stop();
    // Clients get up to 3 s to receive their results; then we go regardless.
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    wait_for_clients({});
  });

  scorch::log::info("listening on " + options.socket_path);
  notify_systemd_ready();
  io.run();
  server.stop_worker();
  scorch::log::flush_suppressed();
  scorch::log::info("stopped");
  return 0;
}
