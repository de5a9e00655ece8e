#pragma once
/// The lock-contention measure: time threads wait for locks, by waiter stack and lock, and
/// the releasers that ended the waits (probes/locks_probe).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "probes/locks_probe.h"
#include "proto/locks_options.h"
#include "session/measure.h"

namespace scorch {

class LocksSession;

class LocksMeasure : public Measure {
 public:
  LocksMeasure(std::unique_ptr<LocksProbe> probe, Symbolizer& symbolizer);
  static Result<std::unique_ptr<Measure>> load(MeasureEnv& env);

  Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) override;
  void drain() override;
  std::vector<std::string> status() const override;
  DropCounters totals() const override;

 private:
  friend class LocksSession;
  /// The lock's name and address ("mutex_a (0x55..)"), or its address alone.
  std::string lock_name(uint32_t tgid, uint32_t kind, uint32_t flags, uint64_t addr);
  /// The name of thread tid of tgid (as read at an earlier drain when it is gone since); none
  /// for a tid that never was one of its threads.
  std::optional<std::string> thread_comm(uint32_t tgid, uint32_t tid);
  static constexpr size_t kMaxThreadNames = 64 * 1024;
  std::unique_ptr<LocksProbe> probe_;
  Symbolizer& symbolizer_;
  std::vector<LocksSession*> sessions_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> threads_;  // {tgid, tid} -> comm, as last read
};

/// What a futex wait of this kind is, named from the waiter's frames (root first); empty when it
/// is not lock contention (a condition variable, a semaphore, pthread_join, an idle futex).
std::string lock_kind_name(uint32_t kind, uint32_t flags, const std::vector<Frame>& frames);

}  // namespace scorch
