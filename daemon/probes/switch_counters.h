#pragma once
/// Counting perf events per task over the whole system, or per thread of some processes (scorch
/// stat and scorch llc without -p, or with -T): each event is a counter on every CPU, and a
/// sched_switch program (bpf/stat.bpf.c) charges what a CPU's counters counted to the task that
/// ran, as perf's bperf does. Threads created at any time are counted from their first instant.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "probes/counter_probe.h"
#include "proto/perf_events.h"

struct stat_bpf;
struct bpf_link;

namespace scorch {

class SwitchCounters {
 public:
  struct Options {
    std::vector<proto::PerfEventDef> events;  // at most SCORCH_STAT_MAX_EVENTS
    std::vector<uint32_t> tgids;              // empty: every process
    bool per_thread = false;                  // counts per thread, not per process
    uint32_t max_tasks = 16384;               // processes (threads) with counts; more are dropped
  };
  /// Opens the counters and starts charging. what names the action in errors ("count LLC misses").
  static Result<std::unique_ptr<SwitchCounters>> start(const Options& options, const std::string& what);
  ~SwitchCounters();
  SwitchCounters(const SwitchCounters&) = delete;
  SwitchCounters& operator=(const SwitchCounters&) = delete;

  /// Stops counting tgid (it is no longer traced); what it was charged stays.
  void remove_target(uint32_t tgid);
  /// Charges the tasks running now on every CPU, then stops charging (the end of the count).
  void stop();

  struct TaskCounts {
    uint32_t tgid = 0, tid = 0;  // tid 0 unless per thread
    std::string comm;
    std::vector<CounterReading> readings;  // per event, in the order given
  };
  /// Every task's counts so far (the tasks running now are charged at stop()).
  std::vector<TaskCounts> read() const;

  struct Counters {
    uint64_t switches = 0, charged = 0, map_full = 0, read_errors = 0;
  };
  Counters counters() const;

 private:
  SwitchCounters() = default;
  /// Runs the reader on every CPU: the tasks running there are charged up to now.
  void read_running() const;
  struct SkelDeleter {
    void operator()(stat_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  std::unique_ptr<stat_bpf, SkelDeleter> skel_;
  std::unique_ptr<bpf_link, LinkDeleter> link_;
  std::vector<UniqueFd> fds_;
  std::vector<uint32_t> cpus_;  // online when started
  size_t events_ = 0;
};

}  // namespace scorch
