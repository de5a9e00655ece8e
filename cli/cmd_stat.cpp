// scorch stat: exact counts of perf events, like perf stat; scorch llc: last-level cache misses
// per process; scorch list: which perf events this machine has.
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/client.h"
#include "cli/session.h"
#include "export/json.h"
#include "export/json_writer.h"
#include "export/text_table.h"
#include "proto/perf_events.h"
#include "proto/stat_options.h"

namespace scorch::cli {

int cmd_profile(const GlobalOptions& g, const std::vector<std::string>& args);

namespace {

constexpr const char* kStatUsage =
    "usage: scorch stat -e EVENT[,EVENT]... [-p PID]... [-d SECONDS] [-o FILE]\n"
    "\n"
    "Counts perf events exactly (no sampling), as perf stat does: per process with -p (every\n"
    "thread, and threads created later), else over every CPU (root only). scorch list shows the\n"
    "events this machine has.\n"
    "\n"
    "  -e, --event LIST     events to count, comma-separated (e.g. page-faults,context-switches)\n"
    "  -p, --pid PID        count this process (repeat or comma-separate)\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "  -o, --output FILE    .json: every value; anything else: the table (default: on stdout)\n";

constexpr const char* kLlcUsage =
    "usage: scorch llc [-p PID]... [-d SECONDS] [-o FILE]\n"
    "       scorch llc --stacks -p PID... [-c PERIOD] [-d SECONDS] [-o FILE]\n"
    "\n"
    "Last-level cache misses and references, miss %, cycles, instructions and IPC, per process\n"
    "with -p, else for every CPU together. Needs a hardware PMU (many VMs have none).\n"
    "\n"
    "  -p, --pid PID        count this process (repeat or comma-separate)\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "      --stacks         sampled LLC misses by stack instead (scorch profile -e cache-misses,\n"
    "                       one sample every -c misses, default 10000; weight = misses)\n"
    "  -o, --output FILE    .json: every value; with --stacks also .svg, .folded\n";

const char* kLlcEvents[] = {"cache-misses", "cache-references", "cycles", "instructions"};

proto::StatOptions req;

std::vector<Option> stat_options() {
  return {{{"-e", "--event"}, "a list of events", [](const std::string& v) {
             size_t start = 0;
             while (start <= v.size()) {
               size_t comma = v.find(',', start);
               std::string name = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
               if (!proto::find_perf_event(name)) return "unknown event '" + name + "' (scorch list shows the events)";
               for (const auto& e : req.events)
                 if (e == name) return "event '" + name + "' given twice";
               if (req.events.size() == proto::kMaxStatEvents)
                 return "at most " + std::to_string(proto::kMaxStatEvents) + " events at once";
               req.events.push_back(name);
               if (comma == std::string::npos) break;
               start = comma + 1;
             }
             return std::string();
           }}};
}

std::string check_output(const SessionArgs& args) {
  const auto f = output_format(args.output, false);
  if (f == OutputFormat::kSvg || f == OutputFormat::kFolded) return "counts have no stacks: -o FILE.json or a table";
  return "";
}

void encode(proto::ProfileRequest& r) {
  r.measure = proto::kStatMeasure;
  r.options = proto::encode(req);
}

/// The counts table's rows by pid: event -> {count, running %}.
struct Count {
  std::string count, running_pct;
};
std::map<std::string, std::map<std::string, Count>> counts_by_pid(const Profile& p) {
  std::map<std::string, std::map<std::string, Count>> out;
  for (const Table& t : p.tables) {
    if (t.title != "counts") continue;
    auto col = [&](const char* name) {
      for (size_t i = 0; i < t.columns.size(); ++i)
        if (t.columns[i].name == name) return i;
      return t.columns.size();
    };
    const size_t pid = col("pid"), event = col("event"), count = col("count"), pct = col("running_pct");
    for (const auto& row : t.rows)
      if (pid < row.size() && event < row.size() && count < row.size() && pct < row.size())
        out[row[pid]][row[event]] = Count{row[count], row[pct]};
  }
  return out;
}

std::string target_name(const std::string& pid) { return pid == "0" ? "all CPUs" : "PID " + pid; }

std::string render_stat(const SessionRun& run, const Profile& p) {
  if (run.format == OutputFormat::kJson) return render_json(p);
  std::string out;
  for (const auto& [pid, events] : counts_by_pid(p)) {
    out += "\nCounts for " + target_name(pid) + " (" + format_seconds(p.duration_ns / 1'000'000) + "):\n\n";
    for (const auto& name : req.events) {
      auto it = events.find(name);
      if (it == events.end()) continue;
      char line[160];
      std::snprintf(line, sizeof(line), "%20s  %s", it->second.count.c_str(), name.c_str());
      out += line;
      if (it->second.running_pct != "100.0") out += "   (counted " + it->second.running_pct + "% of the time, scaled)";
      out += "\n";
    }
  }
  return out.empty() ? "No counts.\n" : out;
}

void summarize_stat(const SessionRun& run, const Profile& p) {
  if (!run.args.output.empty())
    print_summary(p, run.args.output, "counted", std::to_string(p.drops.samples) + " events");
}

double number(const std::map<std::string, Count>& m, const char* name) {
  auto it = m.find(name);
  return it == m.end() ? 0 : std::stod(it->second.count);
}

std::string render_llc(const SessionRun& run, const Profile& p) {
  if (run.format == OutputFormat::kJson) return render_json(p);
  std::string out = "LLC misses, " + format_seconds(p.duration_ns / 1'000'000) + ":\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-12s %14s %14s %7s %16s %16s %6s\n", "TARGET", "LLC MISSES", "LLC REFS", "MISS %",
                "CYCLES", "INSTRUCTIONS", "IPC");
  out += line;
  for (const auto& [pid, ev] : counts_by_pid(p)) {
    const double misses = number(ev, "cache-misses"), refs = number(ev, "cache-references"),
                 cycles = number(ev, "cycles"), instructions = number(ev, "instructions");
    std::snprintf(line, sizeof(line), "%-12s %14.0f %14.0f %7.2f %16.0f %16.0f %6.2f\n", target_name(pid).c_str(),
                  misses, refs, refs > 0 ? 100.0 * misses / refs : 0.0, cycles, instructions,
                  cycles > 0 ? instructions / cycles : 0.0);
    out += line;
  }
  return out;
}

}  // namespace

int cmd_stat(const GlobalOptions& g, const std::vector<std::string>& args) {
  req = {};
  static const SessionCommand kStat{"stat",
                                    kStatUsage,
                                    "counting",
                                    "events",
                                    stat_options,
                                    [](const SessionArgs& a) {
                                      if (req.events.empty()) return std::string("stat needs -e EVENT[,EVENT]...");
                                      return check_output(a);
                                    },
                                    encode,
                                    render_stat,
                                    summarize_stat};
  return run_session_command(g, args, kStat);
}

int cmd_llc(const GlobalOptions& g, const std::vector<std::string>& args) {
  req = {};
  // --stacks: a sampled profile of cache-misses (every 10000 unless -c says).
  for (const auto& a : args)
    if (a == "--stacks") {
      std::vector<std::string> rest = {"-e", "cache-misses"};
      bool period = false;
      for (const auto& b : args) {
        if (b == "--stacks") continue;
        period |= b == "-c" || b == "--count";
        rest.push_back(b);
      }
      if (!period) rest.insert(rest.end(), {"-c", "10000"});
      return cmd_profile(g, rest);
    }
  static const SessionCommand kLlc{"llc",
                                   kLlcUsage,
                                   "counting",
                                   "events",
                                   [] { return std::vector<Option>{}; },
                                   [](const SessionArgs& a) {
                                     req.events.assign(std::begin(kLlcEvents), std::end(kLlcEvents));
                                     req.purpose = "count LLC misses";
                                     return check_output(a);
                                   },
                                   encode,
                                   render_llc,
                                   summarize_stat};
  return run_session_command(g, args, kLlc);
}

int cmd_list(const GlobalOptions& g, const std::vector<std::string>& args) {
  if (auto exit_code = parse_options(args, {}, "list", "usage: scorch list\n")) return *exit_code;
  auto st = fetch_status(g.socket_path);
  if (!st) {
    print_error(st.error());
    return 1;
  }
  if (g.json) {
    JsonWriter w;
    w.begin_array();
    for (const auto& e : st->events)
      w.begin_object()
          .key("name")
          .value(e.name)
          .key("available")
          .value(e.available)
          .key("detail")
          .value(e.detail)
          .end_object();
    w.end_array();
    std::cout << w.str() << "\n";
    return 0;
  }
  std::cout << "perf events on this machine (scorch profile -e, scorch stat -e):\n";
  for (const auto& e : st->events) {
    char line[64];
    std::snprintf(line, sizeof(line), "  %-20s %-4s ", e.name.c_str(), e.available ? "yes" : "no");
    std::cout << line << e.detail << "\n";
  }
  return 0;
}

}  // namespace scorch::cli
