// scorch profile: sampled on-CPU stacks, or wall-clock time (on-CPU plus off-CPU) with --wall.
#include "cli/session.h"
#include "export/text_table.h"
#include "proto/wall_options.h"

namespace scorch::cli {
namespace {

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

proto::WallOptions options;  // the on-CPU part alone unless --wall
bool wall_clock = false;

std::vector<Option> profile_options() {
  return {
      frequency_option(options.cpu.frequency_hz),
      flag({"--wall"}, wall_clock),
  };
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
                std::to_string(p.period_ns ? 1'000'000'000 / p.period_ns : 0) + " Hz";
  fo.unit = p.unit;
  return render_profile(p, run.format, fo, [](const Profile& q, size_t limit) { return render_top_table(q, limit); });
}

void summarize(const SessionRun& run, const Profile& p) {
  std::string amount =
      wall(run) ? format_seconds(p.total() / 1000) + " of thread time (" + std::to_string(p.drops.samples) + " events)"
                : std::to_string(p.total()) + " samples";
  summarize_stacks(run, p, "profiled", amount, "no samples: the target never ran on a CPU while profiled");
}

}  // namespace

int cmd_profile(const GlobalOptions& g, const std::vector<std::string>& args) {
  static const SessionCommand kProfile{"profile", kProfileUsage,   "profiling",
                                       "samples", profile_options, [](const SessionArgs&) { return std::string(); },
                                       encode,    render,          summarize};
  return run_session_command(g, args, kProfile);
}

}  // namespace scorch::cli
