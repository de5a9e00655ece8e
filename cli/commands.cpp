#include "cli/commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/client.h"
#include "export/flamegraph.h"
#include "export/folded.h"
#include "export/json.h"
#include "export/json_writer.h"
#include "export/text_table.h"

namespace scorch::cli {
namespace {

using namespace std::chrono_literals;

std::atomic<int> g_interrupts{0};

void on_sigint(int) { g_interrupts.fetch_add(1); }

int usage_error(const std::string& message, const char* usage) {
  std::cerr << "scorch: " << message << "\n" << usage;
  return 2;
}

bool parse_u32(std::string_view s, uint32_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string format_seconds(uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string drops_summary(const DropCounters& d) {
  std::string s;
  auto add = [&](uint64_t v, const char* what) {
    if (v == 0) return;
    if (!s.empty()) s += ", ";
    s += std::to_string(v) + " " + what;
  };
  add(d.stack_collisions, "stack collisions");
  add(d.stack_errors, "stack walk errors");
  add(d.map_full, "map full");
  add(d.lost_stacks, "lost stacks");
  return s.empty() ? "none" : s;
}

void write_drops_json(JsonWriter& w, const DropCounters& d) {
  w.key("drops").begin_object();
  w.key("samples").value(d.samples);
  w.key("stack_collisions").value(d.stack_collisions);
  w.key("stack_errors").value(d.stack_errors);
  w.key("map_full").value(d.map_full);
  w.key("lost_stacks").value(d.lost_stacks);
  w.end_object();
}

// Reads frames until one that is not progress arrives; shows progress on a terminal.
Result<Frame> await_reply(Client& client, bool show_progress, const std::string& label, const std::string& events) {
  bool stop_sent = false;
  bool progress_shown = false;
  // After Ctrl-C or SIGTERM the result normally follows at once; a daemon that does not send it
  // must not keep the client (and whoever waits on it) forever.
  constexpr auto kStopGrace = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point stop_deadline;
  while (true) {
    if (g_interrupts.load() >= 2) return Error{"wait for the profile", "interrupted twice", EINTR, {}};
    if (g_interrupts.load() == 1 && !stop_sent) {
      stop_sent = true;
      stop_deadline = std::chrono::steady_clock::now() + kStopGrace;
      if (auto r = client.send(proto::MsgType::kStopRequest, proto::encode(proto::StopRequest{})); !r) return r.error();
    }
    if (stop_sent && std::chrono::steady_clock::now() >= stop_deadline)
      return Error{"wait for the profile", "scorchd sent no result within 10 s of the stop request", ETIMEDOUT,
                   "see scorchd's log; 'scorch status' shows whether the daemon still answers"};
    auto got = client.receive(200ms);
    if (!got) return got.error();
    if (!*got) continue;
    Frame f = std::move(**got);
    if (f.type == proto::MsgType::kProgress) {
      auto p = proto::decode_progress(f.payload);
      if (p && show_progress) {
        std::string line = "\rscorch: " + label + ": " + format_seconds(p->elapsed_ms);
        if (p->duration_ms) line += " / " + format_seconds(p->duration_ms);
        line += ", " + std::to_string(p->samples) + " " + events + (stop_sent ? " (stopping)" : "") + "   ";
        std::cerr << line << std::flush;
        progress_shown = true;
      }
      continue;
    }
    if (progress_shown) std::cerr << "\n";
    return f;
  }
}

Result<void> write_file(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_errno_error("write " + path, errno);
    out << content;
    out.flush();
    if (!out) return make_errno_error("write " + path, errno);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return make_errno_error("write " + path, e);
  }
  return {};
}

// Refuse early, before profiling for minutes, when the output could not be written.
Result<void> check_writable(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  if (::access(dir.c_str(), W_OK) != 0) return make_errno_error("write " + path, errno);
  return {};
}

constexpr const char* kProfileUsage =
    "usage: scorch profile [-p PID]... [-d SECONDS] [-F HZ] [--wall] [-o FILE]\n"
    "\n"
    "  -p, --pid PID        profile this process (repeat or comma-separate; default: whole system, root only)\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "  -F, --frequency HZ   samples per second per CPU (default 99, at most 10000)\n"
    "      --wall           wall-clock time: on-CPU samples (scaled by their period) plus off-CPU time,\n"
    "                       in microseconds; blocked stacks end in an [off-cpu: STATE] frame (blue)\n"
    "  -o, --output FILE    .svg: interactive flamegraph; .folded: folded stacks; .json: JSON;\n"
    "                       anything else: text table (default: table on stdout)\n";

constexpr const char* kOffCpuUsage =
    "usage: scorch offcpu [-p PID]... [-d SECONDS] [--min-block TIME] [--max-block TIME]\n"
    "                     [--state LIST] [--by-state] [-U | -K] [-o FILE]\n"
    "\n"
    "Time threads spent blocked (off CPU), by the stack where they blocked; values in microseconds.\n"
    "\n"
    "  -p, --pid PID        trace this process (repeat or comma-separate; default: whole system, root only)\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "      --min-block TIME count only blocks at least this long (e.g. 500us, 1ms, 2s; a bare number is us)\n"
    "      --max-block TIME count only blocks at most this long\n"
    "      --state LIST     only these thread states: sleep (interruptible), disk (uninterruptible),\n"
    "                       preempted (runnable, waiting for a CPU), other; comma-separated (default: all)\n"
    "      --by-state       put the state as the root frame of each stack ([sleep], [disk], ...)\n"
    "  -U, --user-stacks-only    no kernel stacks (walking them is most of the cost per block)\n"
    "  -K, --kernel-stacks-only  no user stacks\n"
    "  -o, --output FILE    .svg: interactive flamegraph; .folded: folded stacks; .json: JSON;\n"
    "                       anything else: text table (default: table on stdout)\n";

constexpr const char* kMallocUsage =
    "usage: scorch malloc -p PID [-d SECONDS] [--outstanding [--min-age TIME]] [--sample-bytes SIZE]\n"
    "                     [--duty PERCENT] [--weight bytes|calls] [-o FILE]\n"
    "\n"
    "Allocator calls and bytes by call stack, from uprobes on the allocator the process uses (glibc,\n"
    "jemalloc, tcmalloc, mimalloc; shared or linked in). No restart, no LD_PRELOAD.\n"
    "\n"
    "  -p, --pid PID         trace this process (repeat or comma-separate)\n"
    "  -d, --duration SECS   stop after this long (default: until Ctrl-C)\n"
    "      --outstanding     also track blocks: what is still live at the end, by allocating stack\n"
    "      --min-age TIME    with --outstanding: only blocks at least this old (leak candidates; 30s, 500ms)\n"
    "      --sample-bytes N  sample one allocation per N bytes on average per thread (e.g. 512KiB);\n"
    "                        calls and bytes are unbiased estimates; cheap on hot paths\n"
    "      --duty PERCENT    attach the probes only this share of the time (20 ms windows, e.g. 1%),\n"
    "                        counts scaled up; for servers that cannot afford a trap on every call\n"
    "      --weight W        flamegraph width: bytes (default) or calls; with --outstanding: live bytes\n"
    "  -o, --output FILE     .svg: flamegraph; .folded: folded stacks; .json: JSON with every value;\n"
    "                        anything else: text table (default: table of the top stacks on stdout)\n";

/// A number with an optional unit from units (name, scale); bare numbers take bare_scale.
bool parse_scaled(const std::string& text, double bare_scale, std::initializer_list<std::pair<const char*, double>> units,
                  double& out) {
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  if (digits == 0) return false;
  char* end = nullptr;
  std::string number = text.substr(0, digits);
  double value = std::strtod(number.c_str(), &end);
  if (*end || !(value >= 0)) return false;
  std::string unit = text.substr(digits);
  double scale = 0;
  if (unit.empty()) scale = bare_scale;
  for (const auto& [name, s] : units)
    if (unit == name) scale = s;
  if (scale == 0) return false;
  out = value * scale;
  return out <= 1e18;
}

/// "30s", "500ms", "2us", "10ns"; a bare number is in bare_scale ns.
bool parse_time(const std::string& text, double bare_scale, uint64_t& ns) {
  double v = 0;
  if (!parse_scaled(text, bare_scale, {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}}, v)) return false;
  ns = static_cast<uint64_t>(std::llround(v));
  return true;
}

/// "512KiB", "1MiB", "64k", "4096".
bool parse_size(const std::string& text, uint64_t& bytes) {
  double v = 0;
  if (!parse_scaled(text, 1, {{"B", 1}, {"k", 1024}, {"K", 1024}, {"KiB", 1024}, {"KB", 1024}, {"m", 1 << 20},
                              {"M", 1 << 20}, {"MiB", 1 << 20}, {"MB", 1 << 20}},
                    v))
    return false;
  bytes = static_cast<uint64_t>(std::llround(v));
  return true;
}

/// "2%", "0.5", "1%": per mille.
bool parse_percent_permille(const std::string& text, uint32_t& permille) {
  double v = 0;
  if (!parse_scaled(text, 1, {{"%", 1}}, v) || v > 100) return false;
  permille = static_cast<uint32_t>(std::llround(v * 10));
  return true;
}

/// "1ms", "250us", "2s", "10ns", or a bare number of microseconds; false when it is none of these.
bool parse_block_time(const std::string& text, uint64_t& ns) { return parse_time(text, 1e3, ns); }

}  // namespace

void print_error(const Error& e) {
  std::cerr << "scorch: " << e.message() << "\n";
  if (!e.hint.empty()) std::cerr << "HINT: " << e.hint << "\n";
}

namespace {

// Sends the request, shows progress until the result arrives (Ctrl-C asks for it early), and
// decodes it.
Result<Profile> fetch_profile(const GlobalOptions& g, const proto::ProfileRequest& req, const std::string& label,
                              const std::string& events) {
  auto client = Client::connect(g.socket_path);
  if (!client) return client.error();
  if (auto r = client->send(proto::MsgType::kProfileRequest, proto::encode(req)); !r) return r.error();
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  auto reply = await_reply(*client, ::isatty(STDERR_FILENO) != 0, label, events);
  if (!reply) return reply.error();
  if (reply->type == proto::MsgType::kErrorReply) {
    auto e = proto::decode_error_reply(reply->payload);
    return e ? to_error(*e) : e.error();
  }
  if (reply->type != proto::MsgType::kProfileResult)
    return Error{"read profile from scorchd", std::string("unexpected ") + proto::type_name(reply->type), EPROTO, {}};
  return proto::decode_profile(reply->payload);
}

// Prints rendered output, or writes it to the file; then the profile's notes, to stderr.
bool emit(const Profile& p, const std::string& rendered, const std::string& output) {
  if (output.empty()) {
    std::cout << rendered;
    if (!rendered.empty() && rendered.back() != '\n') std::cout << "\n";
  } else if (auto r = write_file(output, rendered); !r) {
    print_error(r.error());
    return false;
  }
  for (const auto& n : p.notes) std::cerr << "scorch: note: " << n << "\n";
  return true;
}

// Output of scorch malloc: the table of top stacks by default; flamegraph/folded by the weight.
int render_malloc(const GlobalOptions& g, Profile& p, const std::string& output, const std::string& who) {
  std::string rendered;
  if (ends_with(output, ".svg") || ends_with(output, ".folded")) {
    Profile weighted = p;
    std::erase_if(weighted.stacks, [](const StackCount& s) { return s.count == 0; });
    if (ends_with(output, ".svg")) {
      FlameOptions fo;
      fo.title = p.unit == "live bytes" ? "scorch live heap by allocating stack" : "scorch allocations (" + p.unit + ")";
      fo.subtitle = who + ", " + format_seconds(p.duration_ns / 1'000'000);
      fo.unit = p.unit;
      rendered = render_flamegraph_svg(weighted, fo);
    } else {
      rendered = render_folded(weighted);
    }
  } else if (ends_with(output, ".json") || (output.empty() && g.json)) {
    rendered = render_json(p);
  } else {
    rendered = render_stack_values_table(p, 25);
  }
  if (!emit(p, rendered, output)) return 1;
  uint64_t calls = 0, bytes = 0;
  for (const auto& s : p.stacks)
    if (s.values.size() >= 2) {
      calls += s.values[0];
      bytes += s.values[1];
    }
  std::cerr << "scorch: " << (output.empty() ? std::string("traced") : "wrote " + output) << ": " << calls
            << " allocator calls, " << bytes << " bytes in " << format_seconds(p.duration_ns / 1'000'000)
            << "; drops: " << drops_summary(p.drops) << "\n";
  return 0;
}

int run_profile(const GlobalOptions& g, const std::vector<std::string>& args, proto::Measure measure) {
  const bool offcpu_command = measure == proto::Measure::kOffCpu;
  const bool malloc_command = measure == proto::Measure::kMalloc;
  const char* usage = offcpu_command ? kOffCpuUsage : malloc_command ? kMallocUsage : kProfileUsage;
  const std::string command = offcpu_command ? "offcpu" : malloc_command ? "malloc" : "profile";
  proto::ProfileRequest req;
  req.measure = measure;
  std::string output;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    } else if (a == "--outstanding" && malloc_command) {
      req.outstanding = true;
    } else if (a == "--min-age" && malloc_command) {
      if (!value(v)) return usage_error(a + " needs a time", usage);
      if (!parse_time(v, 1e9, req.min_age_ns)) return usage_error("'" + v + "' is not a time (e.g. 30s, 500ms)", usage);
    } else if (a == "--sample-bytes" && malloc_command) {
      if (!value(v)) return usage_error(a + " needs a size", usage);
      if (!parse_size(v, req.sample_bytes) || req.sample_bytes == 0 || req.sample_bytes > proto::kMaxSampleBytes)
        return usage_error("--sample-bytes takes 1 byte .. 16 MiB (e.g. 512KiB), not '" + v + "'", usage);
    } else if (a == "--duty" && malloc_command) {
      if (!value(v)) return usage_error(a + " needs a percentage", usage);
      if (!parse_percent_permille(v, req.duty_permille) || req.duty_permille == 0 || req.duty_permille > 1000)
        return usage_error("--duty takes 0.1%..100%, not '" + v + "'", usage);
      if (req.duty_permille == 1000) req.duty_permille = 0;  // always attached
    } else if (a == "--weight" && malloc_command) {
      if (!value(v) || (v != "bytes" && v != "calls")) return usage_error("--weight takes bytes or calls", usage);
      req.weight_calls = v == "calls";
    } else if (a == "--wall" && !offcpu_command && !malloc_command) {
      req.measure = proto::Measure::kWall;
    } else if ((a == "--min-block" || a == "--max-block") && offcpu_command) {
      if (!value(v)) return usage_error(a + " needs a time", usage);
      uint64_t ns = 0;
      if (!parse_block_time(v, ns)) return usage_error("'" + v + "' is not a time (e.g. 500us, 1ms, 2s)", usage);
      (a == "--min-block" ? req.min_block_ns : req.max_block_ns) = ns;
    } else if (a == "--state" && offcpu_command) {
      if (!value(v)) return usage_error(a + " needs a list of states", usage);
      auto mask = proto::parse_offcpu_states(v);
      if (!mask) return usage_error(mask.error().message() + " (" + mask.error().hint + ")", usage);
      req.states = *mask;
    } else if (a == "--by-state" && offcpu_command) {
      req.by_state = true;
    } else if ((a == "-U" || a == "--user-stacks-only") && offcpu_command) {
      if (req.stacks == proto::kKernelStack) return usage_error("-U and -K exclude each other", usage);
      req.stacks = proto::kUserStack;
    } else if ((a == "-K" || a == "--kernel-stacks-only") && offcpu_command) {
      if (req.stacks == proto::kUserStack) return usage_error("-U and -K exclude each other", usage);
      req.stacks = proto::kKernelStack;
    } else if (a == "-p" || a == "--pid") {
      if (!value(v)) return usage_error(a + " needs a PID", usage);
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) {
        uint32_t pid = 0;
        if (!parse_u32(item, pid) || pid == 0 || pid > proto::kMaxPid)
          return usage_error("'" + item + "' is not a PID", usage);
        req.pids.push_back(pid);
      }
    } else if (a == "-d" || a == "--duration") {
      if (!value(v)) return usage_error(a + " needs seconds", usage);
      char* end = nullptr;
      double secs = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(secs > 0) || secs * 1000 > static_cast<double>(proto::kMaxDurationMs))
        return usage_error("'" + v + "' is not a duration in seconds", usage);
      req.duration_ms = static_cast<uint64_t>(std::llround(secs * 1000));
      if (req.duration_ms == 0) req.duration_ms = 1;
    } else if (a == "-F" || a == "--frequency") {
      if (!value(v)) return usage_error(a + " needs a frequency", usage);
      if (!parse_u32(v, req.frequency_hz) || req.frequency_hz == 0 || req.frequency_hz > proto::kMaxFrequencyHz)
        return usage_error("-F takes 1.." + std::to_string(proto::kMaxFrequencyHz) + " Hz, not '" + v + "'",
                           usage);
    } else if (a == "-o" || a == "--output") {
      if (!value(output)) return usage_error(a + " needs a file", usage);
    } else {
      return usage_error("unknown option '" + a + "' for " + command, usage);
    }
  }
  if (req.pids.size() > proto::kMaxPids) return usage_error("too many PIDs", usage);
  if (req.min_block_ns > req.max_block_ns) return usage_error("--min-block is above --max-block", usage);
  if (malloc_command) {
    if (req.pids.empty()) return usage_error("malloc needs -p PID (it attaches to running processes)", usage);
    if (req.outstanding && (req.sample_bytes || req.duty_permille))
      return usage_error("--outstanding needs every call: it does not go with --sample-bytes or --duty", usage);
    if (req.min_age_ns && !req.outstanding) return usage_error("--min-age goes with --outstanding", usage);
  }
  if (!output.empty()) {
    if (auto r = check_writable(output); !r) {
      print_error(r.error());
      return 1;
    }
  }

  const bool time_unit = req.measure != proto::Measure::kCpu;
  std::string verb = offcpu_command || malloc_command ? "tracing " : "profiling ";
  std::string label = req.pids.empty() ? verb + "all processes" : verb + "PID " + std::to_string(req.pids[0]);
  if (req.pids.size() > 1) label += " and " + std::to_string(req.pids.size() - 1) + " more";
  auto profile = fetch_profile(g, req, label, offcpu_command ? "blocks" : malloc_command ? "calls" : "samples");
  if (!profile) {
    print_error(profile.error());
    return 1;
  }
  if (malloc_command) return render_malloc(g, *profile, output, label.substr(verb.size()));
  Profile& p = *profile;

  std::string rendered;
  if (ends_with(output, ".svg")) {
    FlameOptions fo;
    fo.title = req.measure == proto::Measure::kOffCpu ? "scorch off-CPU flamegraph"
               : req.measure == proto::Measure::kWall ? "scorch wall-clock flamegraph (blue: off-CPU)"
                                                      : "scorch on-CPU flamegraph";
    fo.subtitle = (p.pids.empty() ? std::string("all processes") : label.substr(verb.size())) + ", " +
                  format_seconds(p.duration_ns / 1'000'000);
    if (req.measure != proto::Measure::kOffCpu)
      fo.subtitle += ", " + std::to_string(p.period_ns ? 1'000'000'000 / p.period_ns : 0) + " Hz";
    fo.unit = p.unit;
    fo.off_cpu = req.measure == proto::Measure::kOffCpu;
    rendered = render_flamegraph_svg(p, fo);
  } else if (ends_with(output, ".folded")) {
    rendered = render_folded(p);
  } else if (ends_with(output, ".json") || (output.empty() && g.json)) {
    rendered = render_json(p);
  } else {
    rendered = render_top_table(p, 25);
  }
  if (!emit(p, rendered, output)) return 1;
  if (g.json && !output.empty()) {
    JsonWriter w;
    w.begin_object();
    w.key("output").value(output);
    w.key("total").value(p.total());
    w.key("duration_ns").value(p.duration_ns);
    write_drops_json(w, p.drops);
    w.end_object();
    std::cout << w.str() << "\n";
  } else {
    std::string amount = time_unit ? format_seconds(p.total() / 1000) + " of " +
                                         (offcpu_command ? "blocked time (" : "thread time (") +
                                         std::to_string(p.drops.samples) + (offcpu_command ? " blocks)" : " events)")
                                   : std::to_string(p.total()) + " samples";
    std::cerr << "scorch: " << (output.empty() ? std::string(offcpu_command ? "traced" : "profiled") : "wrote " + output)
              << ": " << amount << " in " << format_seconds(p.duration_ns / 1'000'000)
              << "; drops: " << drops_summary(p.drops) << "\n";
  }
  if (p.total() == 0)
    std::cerr << (offcpu_command ? "scorch: note: nothing blocked: no block of the target ended while traced\n"
                                 : "scorch: note: no samples: the target never ran on a CPU while profiled\n");
  return 0;
}

}  // namespace

int cmd_profile(const GlobalOptions& g, const std::vector<std::string>& args) {
  return run_profile(g, args, proto::Measure::kCpu);
}

int cmd_offcpu(const GlobalOptions& g, const std::vector<std::string>& args) {
  return run_profile(g, args, proto::Measure::kOffCpu);
}

int cmd_malloc(const GlobalOptions& g, const std::vector<std::string>& args) {
  return run_profile(g, args, proto::Measure::kMalloc);
}



int cmd_status(const GlobalOptions& g, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << "usage: scorch status\n";
      return 0;
    }
    return usage_error("unknown option '" + a + "' for status", "usage: scorch status\n");
  }
  auto client = Client::connect(g.socket_path);
  if (!client) {
    print_error(client.error());
    return 1;
  }
  if (auto r = client->send(proto::MsgType::kStatusRequest, proto::encode(proto::StatusRequest{})); !r) {
    print_error(r.error());
    return 1;
  }
  auto got = client->receive(10s);
  if (!got) {
    print_error(got.error());
    return 1;
  }
  if (!*got) {
    print_error(Error{"read status from scorchd", "no answer within 10 s", ETIMEDOUT, {}});
    return 1;
  }
  if ((*got)->type == proto::MsgType::kErrorReply) {
    auto e = proto::decode_error_reply((*got)->payload);
    print_error(e ? to_error(*e) : e.error());
    return 1;
  }
  auto st = proto::decode_status_reply((*got)->payload);
  if (!st) {
    print_error(st.error());
    return 1;
  }
  if (g.json) {
    JsonWriter w;
    w.begin_object();
    w.key("version").value(st->version);
    w.key("pid").value(st->daemon_pid);
    w.key("uptime_ms").value(st->uptime_ms);
    w.key("socket").value(g.socket_path);
    w.key("features").begin_array();
    for (const auto& f : st->features) {
      w.begin_object().key("name").value(f.name).key("available").value(f.available).key("detail").value(f.detail);
      w.end_object();
    }
    w.end_array();
    w.key("sessions").begin_array();
    for (const auto& s : st->sessions) {
      w.begin_object().key("id").value(s.id).key("uid").value(s.uid).key("pids").begin_array();
      for (uint32_t pid : s.pids) w.value(pid);
      w.end_array();
      w.key("measure").value(proto::measure_name(s.measure));
      w.key("frequency_hz").value(s.frequency_hz).key("elapsed_ms").value(s.elapsed_ms);
      w.key("duration_ms").value(s.duration_ms).key("samples").value(s.samples).end_object();
    }
    w.end_array();
    write_drops_json(w, st->drops);
    w.key("symbol_cache_bytes").value(st->symbol_cache_bytes);
    w.end_object();
    std::cout << w.str() << "\n";
    return 0;
  }
  std::cout << "scorchd " << st->version << " (pid " << st->daemon_pid << ", up " << format_seconds(st->uptime_ms)
            << ") on " << g.socket_path << "\n\nkernel features:\n";
  for (const auto& f : st->features) {
    std::string name = f.name;
    name.resize(std::max<size_t>(name.size(), 18), ' ');
    std::cout << "  " << name << (f.available ? "yes  " : "no   ") << f.detail << "\n";
  }
  std::cout << "\nsessions: " << st->sessions.size() << "\n";
  for (const auto& s : st->sessions) {
    std::string who;
    if (s.pids.empty()) {
      who = "all processes";
    } else {
      who = "PID";
      for (uint32_t pid : s.pids) who += " " + std::to_string(pid);
    }
    const bool offcpu = s.measure == proto::Measure::kOffCpu;
    std::cout << "  #" << s.id << " uid " << s.uid << ": " << proto::measure_name(s.measure) << " " << who << ", ";
    if (!offcpu) std::cout << s.frequency_hz << " Hz, ";
    std::cout << format_seconds(s.elapsed_ms);
    if (s.duration_ms) std::cout << " / " << format_seconds(s.duration_ms);
    std::cout << ", " << s.samples << (offcpu ? " blocks\n" : " samples\n");
  }
  std::cout << "\nsamples since start: " << st->drops.samples << "\ndrops since start: " << drops_summary(st->drops)
            << "\nsymbol cache: " << st->symbol_cache_bytes / 1024 << " KiB\n";
  for (const auto& n : st->notes) std::cout << "note: " << n << "\n";
  return 0;
}

}  // namespace scorch::cli
