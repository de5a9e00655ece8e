#pragma once
/// The malloc measure: allocator calls, bytes and live blocks by stack (uprobes, probes/malloc_probe).

#include <memory>
#include <vector>

#include "probes/malloc_probe.h"
#include "proto/malloc_options.h"
#include "session/measure.h"

namespace scorch {

class MallocSession;

class MallocMeasure : public Measure {
 public:
  MallocMeasure(std::unique_ptr<MallocProbe> probe, Symbolizer& symbolizer);
  static Result<std::unique_ptr<Measure>> load(MeasureEnv& env);

  Result<std::unique_ptr<MeasureSession>> start(Session& core, std::span<const uint8_t> options) override;
  void drain() override;
  void execed(uint32_t pid) override;
  std::vector<std::string> status() const override;
  DropCounters totals() const override;

 private:
  friend class MallocSession;
  std::unique_ptr<MallocProbe> probe_;
  Symbolizer& symbolizer_;
  std::vector<MallocSession*> sessions_;
};

}  // namespace scorch
