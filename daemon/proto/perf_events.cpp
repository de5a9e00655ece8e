#include "proto/perf_events.h"

#include <linux/perf_event.h>

namespace scorch::proto {
namespace {

// A hardware-cache event's config: cache | operation << 8 | result << 16 (perf_event_open(2)).
constexpr uint64_t cache(uint64_t id, uint64_t op, uint64_t result) { return id | (op << 8) | (result << 16); }

constexpr PerfEventDef kEvents[] = {
    {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, false, "CPU cycles"},
    {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, false, "instructions retired"},
    {"cache-references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES, false,
     "last-level cache accesses (as the CPU defines them)"},
    {"cache-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, false, "last-level cache misses"},
    {"branch-instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS, false, "branches retired"},
    {"branch-misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES, false, "mispredicted branches"},
    {"LLC-loads", PERF_TYPE_HW_CACHE,
     cache(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_ACCESS), false,
     "last-level cache loads"},
    {"LLC-load-misses", PERF_TYPE_HW_CACHE,
     cache(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS), false,
     "last-level cache load misses"},
    {"cpu-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, true, "CPU time, by a timer per CPU (ns)"},
    {"task-clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, true, "CPU time of the task (ns)"},
    {"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, false, "page faults, minor and major"},
    {"minor-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN, false, "page faults served without I/O"},
    {"major-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ, false, "page faults that waited for I/O"},
    {"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, false,
     "context switches, voluntary and not"},
    {"cpu-migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS, false, "moves of a task to another CPU"},
};

}  // namespace

std::span<const PerfEventDef> perf_events() { return kEvents; }

std::optional<PerfEventDef> find_perf_event(std::string_view name) {
  for (const PerfEventDef& e : kEvents)
    if (e.name == name) return e;
  // perf's other spellings of the same events.
  if (name == "cpu-cycles") return find_perf_event("cycles");
  if (name == "faults") return find_perf_event("page-faults");
  if (name == "cs") return find_perf_event("context-switches");
  if (name == "migrations") return find_perf_event("cpu-migrations");
  if (name == "branches") return find_perf_event("branch-instructions");
  return std::nullopt;
}

std::string_view perf_event_kind(uint32_t type) {
  switch (type) {
    case PERF_TYPE_HARDWARE:
      return "hardware";
    case PERF_TYPE_SOFTWARE:
      return "software";
    case PERF_TYPE_HW_CACHE:
      return "hardware cache";
  }
  return "other";
}

}  // namespace scorch::proto
