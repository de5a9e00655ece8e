#pragma once
/// Features: what this kernel supports for tracing, probed once at daemon start and passed around.

#include <string>
#include <vector>

namespace scorch {

enum class Feature {
  kBtf,            // /sys/kernel/btf/vmlinux: CO-RE relocations
  kPerfEventProg,  // BPF programs on perf events
  kPerfSoftware,   // cpu-clock sampling
  kPerfHardware,   // hardware PMU (cycles, LLC misses)
  kStackTraceMap,  // BPF_MAP_TYPE_STACK_TRACE
  kRingBuffer,     // BPF_MAP_TYPE_RINGBUF
  kBatchMapOps,    // bpf_map_lookup_batch
  kTpBtf,          // tp_btf programs (sched_switch)
  kRawTracepoint,  // raw_tracepoint programs
  kUprobes,        // uprobe PMU
  kKprobes,        // kprobe PMU
  kFentry,         // fentry/fexit trampolines
  kTracefs,        // tracefs mounted (tracepoint ids for syscalls:*: the lock measure)
  kCount,
};

/// One probed feature: whether it works and, either way, a short why.
struct FeatureResult {
  Feature feature;
  std::string name;
  bool available = false;
  std::string detail;
};

/// The result of probing the kernel; probe() runs every check once.
class Features {
 public:
  static Features probe();
  /// For tests and for a daemon told to pretend a feature is missing.
  static Features from(std::vector<FeatureResult> results);

  bool has(Feature f) const;
  const FeatureResult& get(Feature f) const;
  const std::vector<FeatureResult>& all() const { return results_; }
  /// Human-readable lines, one per feature: "tp_btf        yes  sched_switch attached".
  std::vector<std::string> report() const;

 private:
  std::vector<FeatureResult> results_;
};

}  // namespace scorch
