// scorch profile: sampled on-CPU stacks, or wall-clock time (on-CPU plus off-CPU) with --wall.
#include "cli/session.h"
#include "export/text_table.h"
#include "proto/perf_events.h"
#include "proto/wall_options.h"

namespace scorch::cli {
namespace {

constexpr const char* kProfileUsage =
    "usage: scorch profile [-p PID]... [-d SECONDS] [-F HZ] [--wall] [-o FILE]\n"
    "       scorch profile -e EVENT [-c PERIOD | -F HZ] [-p PID]... [-d SECONDS] [-o FILE]\n"
    "\n"
    "  -p, --pid PID        profile this process (repeat or comma-separate; default: whole system, root only)\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "  -F, --frequency HZ   samples per second per CPU (default 99, at most 10000)\n"
    "  -e, --event EVENT    sample this perf event instead of cpu-clock (scorch list shows them): each\n"
    "                       stack then weighs the events its samples stand for\n"
    "  -c, --count PERIOD   one sample every PERIOD events (ns for cpu-clock and task-clock)\n"
    "      --wall           wall-clock time: on-CPU samples (scaled by their period) plus off-CPU time,\n"
    "                       in microseconds; blocked stacks end in an [off-cpu: STATE] frame (blue)\n"
    "  -o, --output FILE    .svg: interactive flamegraph; .folded: folded stacks; .json: JSON;\n"
    "                       anything else: text table (default: table on stdout)\n";

proto::WallOptions options;  // the on-CPU part alone unless --wall
bool wall_clock = false;

bool frequency_given = false;

std::vector<Option> profile_options() {
  Option freq = frequency_option(options.cpu.frequency_hz);
  auto apply = freq.apply;
  freq.apply = [apply](const std::string& v) {
    frequency_given = true;
    return apply(v);
  };
  return {
      freq,
      flag({"--wall"}, wall_clock),
      {{"-e", "--event"},
       "an event",
       [](const std::string& v) {
         if (!proto::find_perf_event(v)) return "unknown event '" + v + "' (scorch list shows the events)";
         options.cpu.event = v;
         return std::string();
       }},
      {{"-c", "--count"},
       "a period",
       [](const std::string& v) {
         uint32_t n = 0;
         if (!parse_u32(v, n) || n == 0) return "-c takes a number of events from 1, not '" + v + "'";
         options.cpu.period = n;
         return std::string();
       }},
  };
}

std::string check(const SessionArgs&) {
  if (options.cpu.period && frequency_given) return "give -c PERIOD or -F HZ, not both";
  if (wall_clock && (!options.cpu.event.empty() || options.cpu.period))
    return "--wall samples cpu-clock: -e and -c go without it";
  return "";
}

void encode(proto::ProfileRequest& req) {
  req.measure = wall_clock ? proto::kWallMeasure : proto::kCpuMeasure;
  req.options = wall_clock ? proto::encode(options) : proto::encode(options.cpu);
}

bool wall(const SessionRun& run) { return run.args.request.measure == proto::kWallMeasure; }

std::string render(const SessionRun& run, const Profile& p) {
  FlameOptions fo;
  fo.title = wall(run) ? "scorch wall-clock flamegraph (blue: off-CPU)" : "scorch on-CPU flamegraph";
  fo.subtitle = (p.pids.empty() ? std::string("all processes") : run.who) + ", " +
                format_seconds(p.duration_ns / 1'000'000) + ", " +
                (p.period_ns ? std::to_string(1'000'000'000 / p.period_ns) + " Hz" : "width: " + p.unit);
  if (!options.cpu.event.empty()) fo.title = "scorch " + options.cpu.event + " flamegraph";
  fo.unit = p.unit;
  return render_profile(p, run.format, fo, [](const Profile& q, size_t limit) { return render_top_table(q, limit); });
}

void summarize(const SessionRun& run, const Profile& p) {
  std::string amount =
      wall(run) ? format_seconds(p.total() / 1000) + " of thread time (" + std::to_string(p.drops.samples) + " events)"
                : std::to_string(p.total()) + " " + p.unit;
  summarize_stacks(run, p, "profiled", amount, "no samples: the target never ran on a CPU while profiled");
}

}  // namespace

int cmd_profile(const GlobalOptions& g, const std::vector<std::string>& args) {
  options = {};
  wall_clock = frequency_given = false;
  static const SessionCommand kProfile{"profile", kProfileUsage, "profiling", "samples", profile_options,
                                       check,     encode,        render,      summarize};
  return run_session_command(g, args, kProfile);
}

}  // namespace scorch::cli
