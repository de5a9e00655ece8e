#include "session/stat_session.h"

#include <algorithm>
#include <cstdio>

#include "proto/perf_events.h"

namespace scorch {

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
    for (uint32_t t : core_.targets()) {
      auto g = CounterGroup::open(t, events, what);
      if (!g) {
        Error e = g.error();
        if (e.err == ESRCH) e.what = "count events of PID " + std::to_string(t);
        return e;
      }
      groups_.push_back(std::move(*g));
    }
    return {};
  }

  std::string detail() const override {
    std::string d = "counting";
    for (size_t i = 0; i < options_.events.size(); ++i) d += (i ? "," : " ") + options_.events[i];
    return d;
  }

  void refresh() {
    for (auto& g : groups_) g.add_new_threads();
  }

  void lose(uint32_t pid) override {
    // Its counts until now stay: read them, then close its counters.
    for (auto it = groups_.begin(); it != groups_.end(); ++it)
      if (it->target() == pid) {
        final_.emplace_back(pid, it->read());
        groups_.erase(it);
        return;
      }
  }

  void stopping() override {
    for (auto& g : groups_) final_.emplace_back(g.target(), g.read());
    groups_.clear();
  }

  void finish(Profile& p) override {
    p.unit = "events";
    Table t;
    t.title = "counts";
    t.columns = {{"pid", true},        {"event", false},     {"count", true},      {"raw_count", true},
                 {"enabled_ns", true}, {"running_ns", true}, {"running_pct", true}};
    bool multiplexed = false;
    for (const auto& [target, readings] : final_)
      for (size_t i = 0; i < readings.size() && i < options_.events.size(); ++i) {
        const CounterReading& r = readings[i];
        char pct[16];
        std::snprintf(
            pct, sizeof(pct), "%.1f",
            r.enabled_ns ? 100.0 * static_cast<double>(r.running_ns) / static_cast<double>(r.enabled_ns) : 100.0);
        multiplexed |= r.running_ns < r.enabled_ns;
        t.rows.push_back({std::to_string(target == CounterGroup::kPidAny ? 0 : target), options_.events[i],
                          std::to_string(r.scaled()), std::to_string(r.value), std::to_string(r.enabled_ns),
                          std::to_string(r.running_ns), pct});
        p.drops.samples += r.scaled();
      }
    p.tables.push_back(std::move(t));
    if (multiplexed)
      p.notes.push_back(
          "some counters ran part of the time only (more hardware events than the PMU has counters): their "
          "counts are scaled to the whole time, as perf stat does (running_pct says how much)");
    if (core_.whole_system()) p.notes.push_back("counts are of every CPU: the whole system, not per process");
  }

 private:
  StatMeasure& measure_;
  Session& core_;
  proto::StatOptions options_;
  std::vector<CounterGroup> groups_;
  std::vector<std::pair<uint32_t, std::vector<CounterReading>>> final_;
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
