#include "session/stat_session.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/proc_tasks.h"
#include "probes/switch_counters.h"
#include "proto/perf_events.h"

namespace scorch {

/// One row of counts: a process (tid 0) or a thread, per event in the options' order.
using CountRow = SwitchCounters::TaskCounts;

class StatSession : public MeasureSession {
 public:
  StatSession(StatMeasure& measure, Session& core, proto::StatOptions options)
      : measure_(measure), core_(core), options_(std::move(options)) {
    measure_.sessions_.push_back(this);
  }
  ~StatSession() override { std::erase(measure_.sessions_, this); }

  Result<void> attach() {
    std::vector<proto::PerfEventDef> events;
    for (const auto& name : options_.events) events.push_back(*proto::find_perf_event(name));
    std::string what = options_.purpose;
    if (what.empty()) {
      what = "count";
      for (size_t i = 0; i < options_.events.size(); ++i) what += (i ? "," : " ") + options_.events[i];
    }
    // Per process over the whole system, or per thread: counters per CPU, charged at each context
    // switch to the task that ran (probes/switch_counters). Per process for -p: per-thread
    // counters the kernel inherits into new threads (probes/counter_probe), as perf stat -p.
    if (core_.whole_system() || options_.per_thread) {
      SwitchCounters::Options o;
      o.events = events;
      if (!core_.whole_system()) o.tgids = core_.targets();
      o.per_thread = options_.per_thread;
      auto c = SwitchCounters::start(o, what);
      if (!c) return c.error();
      switch_ = std::move(*c);
      return {};
    }
    for (uint32_t t : core_.targets()) {
      auto g = CounterGroup::open(t, events, what);
      if (!g) {
        Error e = g.error();
        if (e.err == ESRCH) e.what = "count events of PID " + std::to_string(t);
        return e;
      }
      groups_.push_back(std::move(*g));
      comms_[t] = task_comm(t).value_or("");
    }
    return {};
  }

  std::string detail() const override {
    std::string d = "counting";
    for (size_t i = 0; i < options_.events.size(); ++i) d += (i ? "," : " ") + options_.events[i];
    if (options_.per_thread) d += " per thread";
    return d;
  }

  /// Progress: every event counted so far.
  void refresh() {
    uint64_t events = 0;
    for (const CountRow& r : rows()) events += total(r);
    for (const CountRow& r : final_) events += total(r);
    core_.events = events;
  }

  void lose(uint32_t pid) override {
    // Its counts until now stay: read them, then stop counting it.
    if (switch_) {
      switch_->remove_target(pid);
      return;
    }
    for (auto it = groups_.begin(); it != groups_.end(); ++it)
      if (it->target() == pid) {
        final_.push_back(CountRow{pid, 0, comms_[pid], it->read()});
        groups_.erase(it);
        return;
      }
  }

  void stopping() override {
    if (switch_) switch_->stop();
    for (CountRow& r : rows()) final_.push_back(std::move(r));
    groups_.clear();
  }

  void finish(Profile& p) override {
    p.unit = "events";
    Table t;
    t.title = "counts";
    t.columns = {{"pid", true},       {"tid", true},        {"comm", false},      {"event", false},     {"count", true},
                 {"raw_count", true}, {"enabled_ns", true}, {"running_ns", true}, {"running_pct", true}};
    bool multiplexed = false;
    uint64_t over_cap = 0;
    for (const CountRow& row : final_) {
      if (total(row) == 0 && switch_) continue;  // a task that ran no counted event
      size_t bytes = 64 + row.comm.size();
      if (!core_.charge(bytes * row.readings.size())) {
        ++over_cap;
        continue;
      }
      for (size_t i = 0; i < row.readings.size() && i < options_.events.size(); ++i) {
        const CounterReading& r = row.readings[i];
        char pct[16];
        std::snprintf(
            pct, sizeof(pct), "%.1f",
            r.enabled_ns ? 100.0 * static_cast<double>(r.running_ns) / static_cast<double>(r.enabled_ns) : 100.0);
        multiplexed |= r.running_ns < r.enabled_ns;
        t.rows.push_back({std::to_string(row.tgid), std::to_string(row.tid), row.comm, options_.events[i],
                          std::to_string(r.scaled()), std::to_string(r.value), std::to_string(r.enabled_ns),
                          std::to_string(r.running_ns), pct});
        p.drops.samples += r.scaled();
      }
    }
    p.tables.push_back(std::move(t));
    if (switch_) {
      const SwitchCounters::Counters c = switch_->counters();
      p.drops.add("tasks without room in the counts map", c.map_full);
      p.drops.add("counter reads that failed", c.read_errors);
      p.notes.push_back(std::string("counts are per ") + (options_.per_thread ? "thread" : "process") +
                        ": each CPU's counters are read at every context switch and charged to the task that ran "
                        "(context-switches: to the task switched in)");
    }
    if (over_cap)
      p.notes.push_back(std::to_string(over_cap) +
                        " tasks' counts were left out: the profile reached its owner's memory cap");
    if (multiplexed)
      p.notes.push_back(
          "some counters ran part of the time only (more hardware events than the PMU has counters): their "
          "counts are scaled to the whole time, as perf stat does (running_pct says how much)");
  }

 private:
  static uint64_t total(const CountRow& r) {
    uint64_t n = 0;
    for (const CounterReading& c : r.readings) n += c.scaled();
    return n;
  }

  /// The counts so far of every task or target still counted.
  std::vector<CountRow> rows() const {
    if (switch_) return switch_->read();
    std::vector<CountRow> out;
    for (const CounterGroup& g : groups_) {
      auto c = comms_.find(g.target());
      out.push_back(CountRow{g.target(), 0, c != comms_.end() ? c->second : "", g.read()});
    }
    return out;
  }

  StatMeasure& measure_;
  Session& core_;
  proto::StatOptions options_;
  std::vector<CounterGroup> groups_;
  std::unique_ptr<SwitchCounters> switch_;
  std::map<uint32_t, std::string> comms_;
  std::vector<CountRow> final_;
};

Result<std::unique_ptr<Measure>> StatMeasure::load(MeasureEnv&) { return std::unique_ptr<Measure>(new StatMeasure()); }

Result<std::unique_ptr<MeasureSession>> StatMeasure::start(Session& core, std::span<const uint8_t> options) {
  auto o = proto::decode_stat_options(options);
  if (!o) return o.error();
  auto s = std::make_unique<StatSession>(*this, core, std::move(*o));
  if (auto r = s->attach(); !r) return r.error();
  return std::unique_ptr<MeasureSession>(std::move(s));
}

void StatMeasure::drain() {
  for (StatSession* s : sessions_) s->refresh();
}

}  // namespace scorch
