#pragma once
/// UnwindMaps: the BPF maps every measure's BPF object shares, created once by the daemon: those
/// of table-driven unwinding (rows, bucket index, per-process mappings, counters), so a table
/// built for one measure serves them all, and the credential watch (see CredWatch).

#include <cstdint>
#include <memory>
#include <vector>

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
    uint64_t stacks = 0;  // user stacks unwound from tables
    uint64_t frames = 0;  // frames in those stacks (how each was got past: file_frames)
  };
  Counters counters() const;

  /// How one file's frames were unwound (bpf/unwind.h, scorch_unwind_how): from its table, by a
  /// frame-pointer step, or where the walk stopped before the stack's outermost frame.
  struct FileFrames {
    uint64_t by_table = 0;
    uint64_t by_frame_pointer = 0;
    uint64_t lost = 0;
    uint64_t total() const { return by_table + by_frame_pointer + lost; }
  };
  /// Summed over CPUs for file ids [0, count) (at most SCORCH_UNWIND_MAX_FILES), indexed by id.
  std::vector<FileFrames> file_frames(uint32_t count) const;
  /// Zeroes one file id's counts, before the id is given to another file.
  void clear_file_frames(uint32_t file_id);

  /// The credential watch maps (bpf/creds.h), for CredWatch.
  int cred_watch_fd() const { return cred_watch_.get(); }
  int cred_watch_on_fd() const { return cred_watch_on_.get(); }

 private:
  UnwindMaps() = default;
  UniqueFd rows_, index_, procs_, counters_, file_frames_, cred_watch_, cred_watch_on_;
  uint32_t next_row_ = 0;
  uint32_t next_bucket_ = 0;
};

}  // namespace scorch
