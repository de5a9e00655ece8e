// scorch status: the daemon's version, kernel features, active sessions and drops.
#include <algorithm>
#include <chrono>
#include <iostream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/output.h"

namespace scorch::cli {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStatusUsage = "usage: scorch status\n";

void print_json(const GlobalOptions& g, const proto::StatusReply& st) {
  JsonWriter w;
  w.begin_object();
  w.key("version").value(st.version);
  w.key("pid").value(st.daemon_pid);
  w.key("uptime_ms").value(st.uptime_ms);
  w.key("socket").value(g.socket_path);
  w.key("features").begin_array();
  for (const auto& f : st.features) {
    w.begin_object().key("name").value(f.name).key("available").value(f.available).key("detail").value(f.detail);
    w.end_object();
  }
  w.end_array();
  w.key("sessions").begin_array();
  for (const auto& s : st.sessions) {
    w.begin_object().key("id").value(s.id).key("uid").value(s.uid).key("pids").begin_array();
    for (uint32_t pid : s.pids) w.value(pid);
    w.end_array();
    w.key("measure").value(s.measure).key("detail").value(s.detail).key("events").value(s.events);
    w.key("elapsed_ms").value(s.elapsed_ms);
    w.key("duration_ms").value(s.duration_ms).key("samples").value(s.samples).end_object();
  }
  w.end_array();
  write_drops_json(w, st.drops);
  w.key("symbol_cache_bytes").value(st.symbol_cache_bytes);
  w.end_object();
  std::cout << w.str() << "\n";
}

void print_text(const GlobalOptions& g, const proto::StatusReply& st) {
  std::cout << "scorchd " << st.version << " (pid " << st.daemon_pid << ", up " << format_seconds(st.uptime_ms)
            << ") on " << g.socket_path << "\n\nkernel features:\n";
  for (const auto& f : st.features) {
    std::string name = f.name;
    name.resize(std::max<size_t>(name.size(), 18), ' ');
    std::cout << "  " << name << (f.available ? "yes  " : "no   ") << f.detail << "\n";
  }
  std::cout << "\nsessions: " << st.sessions.size() << "\n";
  for (const auto& s : st.sessions) {
    std::string who;
    if (s.pids.empty()) {
      who = "all processes";
    } else {
      who = "PID";
      for (uint32_t pid : s.pids) who += " " + std::to_string(pid);
    }
    // Each measure says how it measures and what it counts (a sampled one: its rate, in samples).
    std::cout << "  #" << s.id << " uid " << s.uid << ": " << s.measure << " " << who << ", ";
    if (!s.detail.empty()) std::cout << s.detail << ", ";
    std::cout << format_seconds(s.elapsed_ms);
    if (s.duration_ms) std::cout << " / " << format_seconds(s.duration_ms);
    std::cout << ", " << s.samples << " " << s.events << "\n";
  }
  std::cout << "\nevents since start (every measure): " << st.drops.samples
            << "\ndrops since start: " << drops_summary(st.drops) << "\nsymbol cache: " << st.symbol_cache_bytes / 1024
            << " KiB\n";
  for (const auto& n : st.notes) std::cout << "note: " << n << "\n";
}

}  // namespace

int cmd_status(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (auto exit_code = parse_options(args, {}, "status", kStatusUsage)) return *exit_code;
  auto st = fetch_status(g.socket_path);
  if (!st) {
    print_error(st.error());
    return 1;
  }
  if (g.json)
    print_json(g, *st);
  else
    print_text(g, *st);
  return 0;
}

}  // namespace scorch::cli
