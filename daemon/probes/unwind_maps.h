#pragma once
/// UnwindMaps: the BPF maps of table-driven unwinding (rows, bucket index, per-process mappings,
/// counters), created once by the daemon and shared by every measure's BPF object, so a table
/// built for one measure serves them all.

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "common/unique_fd.h"

struct bpf_object;
struct scorch_unwind_proc;

namespace scorch {

class UnwindMaps {
 public:
  static Result<std::unique_ptr<UnwindMaps>> create();

  /// Makes obj's maps of the same names use these; call after open, before load.
  Result<void> share_with(bpf_object* obj) const;

  /// Appends rows (the layout of scorch::UnwindRow) or index buckets; returns the first's position.
  Result<uint32_t> add_rows(const void* rows, uint32_t count);
  Result<uint32_t> add_buckets(const uint32_t* buckets, uint32_t count);
  /// Forgets every row and bucket (callers must have removed every process first).
  void reset() { next_row_ = next_bucket_ = 0; }
  uint32_t rows_free() const;
  uint32_t buckets_free() const;
  /// Rows and index loaded, in bytes.
  uint64_t bytes_used() const;

  /// Installs (or replaces) a process's executable mappings; without them its user stacks are
  /// walked by frame pointers.
  Result<void> set_process(uint32_t tgid, const scorch_unwind_proc& proc);
  void remove_process(uint32_t tgid);

  struct Counters {
    uint64_t stacks = 0;    // user stacks unwound from tables
    uint64_t fp_steps = 0;  // frames where no table applied
    uint64_t frames = 0;    // frames in those stacks
  };
  Counters counters() const;

 private:
  UnwindMaps() = default;
  UniqueFd rows_, index_, procs_, counters_;
  uint32_t next_row_ = 0;
  uint32_t next_bucket_ = 0;
};

}  // namespace scorch
