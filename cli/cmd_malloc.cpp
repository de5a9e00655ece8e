// scorch malloc: allocator calls, bytes and live blocks of running processes, by call stack.
#include <algorithm>

#include "cli/session.h"
#include "export/text_table.h"
#include "proto/malloc_options.h"

namespace scorch::cli {
namespace {

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

proto::MallocOptions req;

std::vector<Option> malloc_options() {
  return {
      flag({"--outstanding"}, req.outstanding),
      {{"--min-age"},
       "a time",
       [](const std::string& v) {
         return parse_time(v, 1e9, req.min_age_ns) ? "" : "'" + v + "' is not a time (e.g. 30s, 500ms)";
       }},
      {{"--sample-bytes"},
       "a size",
       [](const std::string& v) {
         if (parse_size(v, req.sample_bytes) && req.sample_bytes != 0 && req.sample_bytes <= proto::kMaxSampleBytes)
           return std::string();
         return "--sample-bytes takes 1 byte .. 16 MiB (e.g. 512KiB), not '" + v + "'";
       }},
      {{"--duty"},
       "a percentage",
       [](const std::string& v) {
         if (!parse_percent_permille(v, req.duty_permille) || req.duty_permille == 0 || req.duty_permille > 1000)
           return "--duty takes 0.1%..100%, not '" + v + "'";
         if (req.duty_permille == 1000) req.duty_permille = 0;  // always attached
         return std::string();
       }},
      {{"--weight"},
       "bytes or calls",
       [](const std::string& v) {
         if (v != "bytes" && v != "calls") return std::string("--weight takes bytes or calls");
         req.weight_calls = v == "calls";
         return std::string();
       },
       "--weight takes bytes or calls"},
  };
}

std::string check(const SessionArgs& args) {
  if (args.request.pids.empty()) return "malloc needs -p PID (it attaches to running processes)";
  if (req.outstanding && (req.sample_bytes || req.duty_permille))
    return "--outstanding needs every call: it does not go with --sample-bytes or --duty";
  if (req.min_age_ns && !req.outstanding) return "--min-age goes with --outstanding";
  return "";
}

void encode(proto::ProfileRequest& r) {
  r.measure = proto::kMallocMeasure;
  r.options = proto::encode(req);
}

// The table of top stacks by default; flamegraph and folded stacks by the weight, without the
// stacks it gives nothing.
std::string render(const SessionRun& run, const Profile& p) {
  FlameOptions fo;
  fo.title = p.unit == "live bytes" ? "scorch live heap by allocating stack" : "scorch allocations (" + p.unit + ")";
  fo.subtitle = run.who + ", " + format_seconds(p.duration_ns / 1'000'000);
  fo.unit = p.unit;
  auto table = [](const Profile& q, size_t limit) { return render_stack_values_table(q, limit); };
  if (run.format != OutputFormat::kSvg && run.format != OutputFormat::kFolded)
    return render_profile(p, run.format, fo, table);
  Profile weighted = p;
  std::erase_if(weighted.stacks, [](const StackCount& s) { return s.count == 0; });
  return render_profile(weighted, run.format, fo, table);
}

void summarize(const SessionRun& run, const Profile& p) {
  uint64_t calls = 0, bytes = 0;
  for (const auto& s : p.stacks)
    if (s.values.size() >= 2) {
      calls += s.values[0];
      bytes += s.values[1];
    }
  print_summary(p, run.args.output, "traced",
                std::to_string(calls) + " allocator calls, " + std::to_string(bytes) + " bytes");
}

}  // namespace

int cmd_malloc(const GlobalOptions& g, const std::vector<std::string>& args) {
  static const SessionCommand kMalloc{"malloc", kMallocUsage, "tracing", "calls",  malloc_options,
                                      check,    encode,       render,    summarize};
  return run_session_command(g, args, kMalloc);
}

}  // namespace scorch::cli
