#pragma once
/// The off-CPU measure: time threads spend blocked, by stack (sched_switch, probes/offcpu_probe).

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "probes/offcpu_probe.h"
#include "proto/offcpu_options.h"
#include "session/measure.h"

namespace scorch {

/// What the off-CPU measure needs of its probe (OffCpuProbe; a fake in the unit tests).
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual Result<void> add_filter(uint32_t target, const OffCpuProbe::Filter& filter) = 0;
  virtual void remove_filter(uint32_t target) = 0;
  virtual Result<void> drain(const std::function<void(const RawBlock&)>& fn) = 0;
  /// A block of thread tid still in progress, if any.
  virtual std::optional<OffCpuProbe::Pending> pending(uint32_t tid) const = 0;
  virtual OffCpuProbe::Counters counters() const = 0;
};

class OffCpuMeasure;

/// One off-CPU session, or the off-CPU part of a wall-clock one.
class OffCpuSession : public MeasureSession {
 public:
  /// in_wall: the blocked part of a wall profile (marked by a leaf of its own).
  OffCpuSession(OffCpuMeasure& measure, Session& core, const proto::OffCpuOptions& options, bool in_wall);
  ~OffCpuSession() override;
  Result<void> attach();

  std::string detail() const override;
  void lose(uint32_t pid) override;
  /// Adds the blocks still in progress, turns ns into us and says what off-CPU time counts.
  void finish(Profile& p) override;

  Session& core() { return core_; }
  void add_block(uint32_t tgid, std::string_view comm, uint32_t state, const std::vector<Frame>& frames, uint64_t ns,
                 uint64_t blocks);

 private:
  uint64_t add_pending_blocks();

  OffCpuMeasure& measure_;
  Session& core_;
  proto::OffCpuOptions options_;
  bool in_wall_;
  std::vector<uint32_t> filters_;  // targets with a filter entry
  OffCpuProbe::Counters at_start_;
};

class OffCpuMeasure : public Measure {
 public:
  OffCpuMeasure(std::unique_ptr<OffCpuProbe> probe, std::unique_ptr<BlockSource> source, Symbolizer& symbolizer);
  /// tp_btf when the kernel has it (setting "offcpu-hook": auto, tp_btf, raw_tp), else the raw tracepoint.
  static Result<std::unique_ptr<Measure>> load(MeasureEnv& env);

  Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) override;
  Result<std::unique_ptr<OffCpuSession>> start_part(Session& core, const proto::OffCpuOptions& options, bool in_wall);
  void drain() override;
  std::vector<std::string> status() const override;
  DropCounters totals() const override;

  BlockSource& source() { return *source_; }
  /// Frames of a blocked thread's stacks, root first.
  void frames(uint32_t tgid, std::span<const uint64_t> user_ips, std::span<const uint64_t> kernel_ips,
              std::vector<Frame>& out);

 private:
  friend class OffCpuSession;
  std::unique_ptr<OffCpuProbe> probe_;
  std::unique_ptr<BlockSource> source_;
  Symbolizer& symbolizer_;
  std::vector<OffCpuSession*> sessions_;
};

}  // namespace scorch
