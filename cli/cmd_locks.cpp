// scorch locks: time threads wait for locks, by the waiter's stack, and who held them.
#include "cli/session.h"
#include "export/text_table.h"
#include "proto/locks_options.h"

namespace scorch::cli {
namespace {

constexpr const char* kLocksUsage =
    "usage: scorch locks -p PID... [-d SECONDS] [--min-wait TIME] [--holders] [-o FILE]\n"
    "       scorch locks --kernel [-p PID]... [-d SECONDS] [--min-wait TIME] [-o FILE]\n"
    "\n"
    "Time threads waited for locks, by the stack where they waited and the lock, then the threads\n"
    "that owned the mutexes when the waits began (top holders); values in microseconds. User space: pthread mutexes of "
    "every kind (std::mutex), rwlocks\n"
    "(std::shared_mutex), PI mutexes, a condition variable re-taking its mutex; a condition\n"
    "variable's own wait, a semaphore or pthread_join is not lock contention and is left out.\n"
    "\n"
    "  -p, --pid PID        trace this process (repeat or comma-separate)\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "      --min-wait TIME  count only waits at least this long (e.g. 100us, 1ms; a bare number is us)\n"
    "      --holders        stacks of the threads that released the locks, weighted by the waits\n"
    "                       their releases ended\n"
    "      --kernel         kernel locks (spinlocks, mutexes, rwsems) instead, with kernel stacks;\n"
    "                       without -p, of every process (root only)\n"
    "  -o, --output FILE    .svg: flamegraph (width: time waited); .folded; .json: every value;\n"
    "                       anything else: text table (default: table on stdout)\n";

proto::LocksOptions req;

std::vector<Option> locks_options() {
  return {
      {{"--min-wait"},
       "a time",
       [](const std::string& v) {
         return parse_time(v, 1e3, req.min_wait_ns) ? "" : "'" + v + "' is not a time (e.g. 100us, 1ms)";
       }},
      flag({"--holders"}, req.holders),
      flag({"--kernel"}, req.kernel),
  };
}

std::string check(const SessionArgs& args) {
  if (req.kernel && req.holders) return "--holders goes with user-space locks, not --kernel";
  if (!req.kernel && args.request.pids.empty()) return "locks needs -p PID (or --kernel for every process)";
  return "";
}

void encode(proto::ProfileRequest& r) {
  r.measure = proto::kLocksMeasure;
  r.options = proto::encode(req);
}

std::string render(const SessionRun& run, const Profile& p) {
  FlameOptions fo;
  fo.title = req.holders ? "scorch lock holders (width: time others waited)" : "scorch lock waits";
  fo.subtitle =
      (p.pids.empty() ? std::string("all processes") : run.who) + ", " + format_seconds(p.duration_ns / 1'000'000);
  fo.unit = p.unit;
  return render_profile(p, run.format, fo,
                        [](const Profile& q, size_t limit) { return render_stack_values_table(q, limit); });
}

void summarize(const SessionRun& run, const Profile& p) {
  std::string amount = format_seconds(p.total() / 1000) + " waited (" + std::to_string(p.drops.samples) + " waits)";
  summarize_stacks(run, p, "traced", amount, "no lock contention: no thread waited for a lock while traced");
}

}  // namespace

int cmd_locks(const GlobalOptions& g, const std::vector<std::string>& args) {
  static const SessionCommand kLocks{"locks", kLocksUsage, "tracing", "waits",  locks_options,
                                     check,   encode,      render,    summarize};
  return run_session_command(g, args, kLocks);
}

}  // namespace scorch::cli
