// scorch offcpu: time threads spend blocked, by the stack where they blocked.
#include "cli/session.h"
#include "export/text_table.h"
#include "proto/offcpu_options.h"

namespace scorch::cli {
namespace {

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

// "1ms", "250us", "2s", "10ns", or a bare number of microseconds, into ns; the usage message if not.
std::string parse_block_time(const std::string& v, uint64_t& ns) {
  return parse_time(v, 1e3, ns) ? "" : "'" + v + "' is not a time (e.g. 500us, 1ms, 2s)";
}

// -U and -K: only one kind of stack.
proto::OffCpuOptions req;

std::string only_stacks(uint8_t stacks) {
  if (req.stacks != proto::kBothStacks && req.stacks != stacks) return "-U and -K exclude each other";
  req.stacks = stacks;
  return "";
}

std::vector<Option> offcpu_options() {
  return {
      {{"--min-block"}, "a time", [](const std::string& v) { return parse_block_time(v, req.min_block_ns); }},
      {{"--max-block"}, "a time", [](const std::string& v) { return parse_block_time(v, req.max_block_ns); }},
      {{"--state"},
       "a list of states",
       [](const std::string& v) {
         auto mask = proto::parse_offcpu_states(v);
         if (!mask) return mask.error().message() + " (" + mask.error().hint + ")";
         req.states = *mask;
         return std::string();
       }},
      flag({"--by-state"}, req.by_state),
      {{"-U", "--user-stacks-only"}, "", [](const std::string&) { return only_stacks(proto::kUserStack); }},
      {{"-K", "--kernel-stacks-only"}, "", [](const std::string&) { return only_stacks(proto::kKernelStack); }},
  };
}

std::string check(const SessionArgs& args) {
  (void)args;
  return req.min_block_ns > req.max_block_ns ? "--min-block is above --max-block" : "";
}

void encode(proto::ProfileRequest& r) {
  r.measure = proto::kOffCpuMeasure;
  r.options = proto::encode(req);
}

std::string render(const SessionRun& run, const Profile& p) {
  FlameOptions fo;
  fo.title = "scorch off-CPU flamegraph";
  fo.subtitle =
      (p.pids.empty() ? std::string("all processes") : run.who) + ", " + format_seconds(p.duration_ns / 1'000'000);
  fo.unit = p.unit;
  fo.off_cpu = true;
  return render_profile(p, run.format, fo, [](const Profile& q, size_t limit) { return render_top_table(q, limit); });
}

void summarize(const SessionRun& run, const Profile& p) {
  std::string amount =
      format_seconds(p.total() / 1000) + " of blocked time (" + std::to_string(p.drops.samples) + " blocks)";
  summarize_stacks(run, p, "traced", amount, "nothing blocked: no block of the target ended while traced");
}

}  // namespace

int cmd_offcpu(const GlobalOptions& g, const std::vector<std::string>& args) {
  static const SessionCommand kOffCpu{"offcpu", kOffCpuUsage, "tracing", "blocks", offcpu_options,
                                      check,    encode,       render,    summarize};
  return run_session_command(g, args, kOffCpu);
}

}  // namespace scorch::cli
