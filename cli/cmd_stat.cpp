// scorch stat: exact counts of perf events, like perf stat; scorch llc: last-level cache misses
// per process; scorch list: which perf events this machine has.
#include <algorithm>
#include <cstdio>
#include <functional>
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
    "usage: scorch stat -e EVENT[,EVENT]... [-p PID]... [-T] [-d SECONDS] [-o FILE]\n"
    "\n"
    "Counts perf events exactly (no sampling), as perf stat does: for each process given with -p\n"
    "(every thread, and threads created later), else for every process on the machine (root\n"
    "only). scorch list shows the events this machine has.\n"
    "\n"
    "  -e, --event LIST     events to count, comma-separated (e.g. page-faults,context-switches)\n"
    "  -p, --pid PID        count this process (repeat or comma-separate)\n"
    "  -T, --per-thread     one row per thread, not per process\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "  -o, --output FILE    .json: every value; anything else: the table (default: on stdout)\n";

constexpr const char* kLlcUsage =
    "usage: scorch llc [-p PID]... [-T] [-d SECONDS] [-o FILE]\n"
    "       scorch llc --stacks -p PID... [-c PERIOD] [-d SECONDS] [-o FILE]\n"
    "\n"
    "Last-level cache misses and references, miss %, cycles, instructions and IPC, for each\n"
    "process given with -p, else for every process on the machine. Needs a hardware PMU (many\n"
    "VMs have none).\n"
    "\n"
    "  -p, --pid PID        count this process (repeat or comma-separate)\n"
    "  -T, --per-thread     one row per thread, not per process\n"
    "  -d, --duration SECS  stop after this long (default: until Ctrl-C)\n"
    "      --stacks         sampled LLC misses by stack instead (scorch profile -e cache-misses,\n"
    "                       one sample every -c misses, default 10000; weight = misses)\n"
    "  -o, --output FILE    .json: every value; with --stacks also .svg, .folded\n";

const char* kLlcEvents[] = {"cache-misses", "cache-references", "cycles", "instructions"};

proto::StatOptions req;

Option per_thread_flag() { return flag({"-T", "--per-thread"}, req.per_thread); }

std::vector<Option> stat_options() {
  return {per_thread_flag(), {{"-e", "--event"}, "a list of events", [](const std::string& v) {
                                size_t start = 0;
                                while (start <= v.size()) {
                                  size_t comma = v.find(',', start);
                                  std::string name =
                                      v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                                  if (!proto::find_perf_event(name))
                                    return "unknown event '" + name + "' (scorch list shows the events)";
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

/// One process or thread of the counts table: event -> {count, running %}.
struct Count {
  std::string count, running_pct;
};
struct Task {
  std::string pid, tid, comm;
  std::map<std::string, Count> events;
  double number(const std::string& event) const {
    auto it = events.find(event);
    return it == events.end() ? 0 : std::stod(it->second.count);
  }
};

/// The counts table's tasks, in the order of their first rows.
std::vector<Task> tasks_of(const Profile& p) {
  std::vector<Task> out;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const Table& t : p.tables) {
    if (t.title != "counts") continue;
    auto col = [&](const char* name) {
      for (size_t i = 0; i < t.columns.size(); ++i)
        if (t.columns[i].name == name) return i;
      return t.columns.size();
    };
    const size_t pid = col("pid"), tid = col("tid"), comm = col("comm"), event = col("event"), count = col("count"),
                 pct = col("running_pct");
    for (const auto& row : t.rows) {
      if (std::max({pid, tid, comm, event, count, pct}) >= row.size()) continue;
      auto [it, added] = index.try_emplace({row[pid], row[tid]}, out.size());
      if (added) out.push_back(Task{row[pid], row[tid], row[comm], {}});
      out[it->second].events[row[event]] = Count{row[count], row[pct]};
    }
  }
  return out;
}

constexpr size_t kTopRows = 25;

/// A row per task, heaviest first by the first event (then the next); past kTopRows, how many more.
std::string render_rows(std::vector<Task> tasks, const std::vector<std::string>& events,
                        const std::function<std::string(const Task&)>& cells, const std::string& header) {
  std::stable_sort(tasks.begin(), tasks.end(), [&](const Task& a, const Task& b) {
    for (const auto& e : events)
      if (a.number(e) != b.number(e)) return a.number(e) > b.number(e);
    return false;
  });
  const bool threads = !tasks.empty() && tasks.front().tid != "0";
  char line[96];
  std::snprintf(line, sizeof(line), "%8s %-16s", threads ? "TID" : "PID", "COMM");
  std::string out = std::string(line) + header + "\n";
  for (size_t i = 0; i < tasks.size() && i < kTopRows; ++i) {
    const Task& t = tasks[i];
    std::snprintf(line, sizeof(line), "%8s %-16s", (threads ? t.tid : t.pid).c_str(), t.comm.c_str());
    out += line + cells(t) + "\n";
  }
  if (tasks.size() > kTopRows)
    out += "... and " + std::to_string(tasks.size() - kTopRows) + " more " + (threads ? "threads" : "processes") +
           " (every one: -o FILE.json)\n";
  return out;
}

std::string target_name(const Task& t) { return "PID " + t.pid + (t.comm.empty() ? "" : " (" + t.comm + ")"); }

/// The table's layout: a block per process given with -p (as perf stat), rows otherwise.
bool one_block_per_process(const SessionRun& run) { return !run.args.request.pids.empty() && !req.per_thread; }

std::string render_stat(const SessionRun& run, const Profile& p) {
  if (run.format == OutputFormat::kJson) return render_json(p);
  const std::vector<Task> tasks = tasks_of(p);
  if (tasks.empty()) return "No counts.\n";
  const std::string span = format_seconds(p.duration_ns / 1'000'000);
  if (!one_block_per_process(run)) {
    std::string header;
    for (const auto& name : req.events) {
      char h[64];
      std::snprintf(h, sizeof(h), " %18s", name.c_str());
      header += h;
    }
    return "\nCounts, " + span + ":\n\n" +
           render_rows(
               tasks, req.events,
               [](const Task& t) {
                 std::string cells;
                 for (const auto& name : req.events) {
                   char c[64];
                   auto it = t.events.find(name);
                   std::snprintf(c, sizeof(c), " %18s", it == t.events.end() ? "-" : it->second.count.c_str());
                   cells += c;
                 }
                 return cells;
               },
               header);
  }
  std::string out;
  for (const Task& t : tasks) {
    out += "\nCounts for " + target_name(t) + " (" + span + "):\n\n";
    for (const auto& name : req.events) {
      auto it = t.events.find(name);
      if (it == t.events.end()) continue;
      char line[160];
      std::snprintf(line, sizeof(line), "%20s  %s", it->second.count.c_str(), name.c_str());
      out += line;
      if (it->second.running_pct != "100.0") out += "   (counted " + it->second.running_pct + "% of the time, scaled)";
      out += "\n";
    }
  }
  return out;
}

void summarize_stat(const SessionRun& run, const Profile& p) {
  if (!run.args.output.empty())
    print_summary(p, run.args.output, "counted", std::to_string(p.drops.samples) + " events");
}

std::string render_llc(const SessionRun& run, const Profile& p) {
  if (run.format == OutputFormat::kJson) return render_json(p);
  char header[160];
  std::snprintf(header, sizeof(header), " %14s %14s %7s %16s %16s %6s", "LLC MISSES", "LLC REFS", "MISS %", "CYCLES",
                "INSTRUCTIONS", "IPC");
  const std::vector<Task> tasks = tasks_of(p);
  if (tasks.empty()) return "No counts.\n";
  return "LLC misses, " + format_seconds(p.duration_ns / 1'000'000) + ":\n" +
         render_rows(
             tasks, req.events,
             [](const Task& t) {
               const double misses = t.number("cache-misses"), refs = t.number("cache-references"),
                            cycles = t.number("cycles"), instructions = t.number("instructions");
               char cells[160];
               std::snprintf(cells, sizeof(cells), " %14.0f %14.0f %7.2f %16.0f %16.0f %6.2f", misses, refs,
                             refs > 0 ? 100.0 * misses / refs : 0.0, cycles, instructions,
                             cycles > 0 ? instructions / cycles : 0.0);
               return std::string(cells);
             },
             header);
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
                                   [] { return std::vector<Option>{per_thread_flag()}; },
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
