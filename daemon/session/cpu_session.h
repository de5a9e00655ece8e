#pragma once
/// The on-CPU measure: sampled stacks (perf_event samplers feeding probes/oncpu_probe).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "probes/oncpu_probe.h"
#include "proto/cpu_options.h"
#include "proto/perf_events.h"
#include "session/measure.h"

namespace scorch {

/// What the on-CPU measure needs of its probe (OnCpuProbe; a fake in the unit tests).
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  /// Starts or shares a sampler; its id is the attach cookie its samples carry.
  virtual Result<uint32_t> add_sampler(uint32_t target, const SamplerEvent& event) = 0;
  virtual void remove_sampler(uint32_t target, const SamplerEvent& event) = 0;
  virtual Result<void> drain(const std::function<void(const RawSample&)>& fn) = 0;
  /// Samples seen and lost since load, by name.
  virtual DropCounters counters() const = 0;
};

class CpuMeasure;

/// One on-CPU session, or the on-CPU part of a wall-clock one.
class CpuSession : public MeasureSession {
 public:
  /// time_weighted: each sample counts the ns it stands for (wall profiles), not 1.
  CpuSession(CpuMeasure& measure, Session& core, const proto::CpuOptions& options, bool time_weighted);
  ~CpuSession() override;
  /// A sampler per target (before the first event; undone on failure).
  Result<void> attach();

  std::string detail() const override;
  void lose(uint32_t pid) override;
  void finish(Profile& p) override;

  Session& core() { return core_; }
  bool time_weighted() const { return time_weighted_; }
  /// It samples an event other than a clock: a stack's count is the events its samples stand for.
  bool counts_events() const { return def_ && !def_->time; }
  uint64_t period_ns() const { return event_.period; }
  /// The samplers of this session: target -> sampler id.
  const std::map<uint32_t, uint32_t>& samplers() const { return samplers_; }

 private:
  CpuMeasure& measure_;
  Session& core_;
  proto::CpuOptions options_;
  std::optional<proto::PerfEventDef> def_;  // the -e event; none: cpu-clock
  SamplerEvent event_;
  bool time_weighted_;
  std::map<uint32_t, uint32_t> samplers_;
  DropCounters at_start_;
};

class CpuMeasure : public Measure {
 public:
  /// Owns probe (null in tests) and samples through source.
  CpuMeasure(std::unique_ptr<OnCpuProbe> probe, std::unique_ptr<SampleSource> source, Symbolizer& symbolizer);
  static Result<std::unique_ptr<Measure>> load(MeasureEnv& env);

  Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) override;
  /// A session's on-CPU part (wall profiles), started and registered like a session of its own.
  Result<std::unique_ptr<CpuSession>> start_part(Session& core, const proto::CpuOptions& options, bool time_weighted);
  void drain() override;
  DropCounters totals() const override { return source_->counters(); }

  SampleSource& source() { return *source_; }
  const OnCpuProbe* probe() const { return probe_.get(); }

 private:
  friend class CpuSession;
  std::unique_ptr<OnCpuProbe> probe_;
  std::unique_ptr<SampleSource> source_;
  Symbolizer& symbolizer_;
  std::vector<CpuSession*> sessions_;
};

/// Sampling period for a frequency, in ns.
uint64_t period_for_hz(uint32_t hz);

}  // namespace scorch
