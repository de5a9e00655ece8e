#include "probes/unwind_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "probes/map_util.h"
#include "unwind/unwind_table.h"
#include "creds.h"
#include "unwind.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_unwind_row) == 12);
// The BPF walk reads the rules by these values.
static_assert(SCORCH_CFA_NO_INFO == static_cast<int>(CfaRule::kNoInfo) &&
              SCORCH_CFA_RSP == static_cast<int>(CfaRule::kRsp) && SCORCH_CFA_RBP == static_cast<int>(CfaRule::kRbp) &&
              SCORCH_CFA_PLT == static_cast<int>(CfaRule::kPlt) &&
              SCORCH_CFA_UNDEFINED == static_cast<int>(CfaRule::kUndefined) &&
              SCORCH_CFA_UNSUPPORTED == static_cast<int>(CfaRule::kUnsupported) &&
              SCORCH_CFA_SIGNAL == static_cast<int>(CfaRule::kSignal));
static_assert(SCORCH_RBP_SAME == static_cast<int>(RbpRule::kSame) &&
              SCORCH_RBP_OFFSET == static_cast<int>(RbpRule::kOffset) &&
              SCORCH_RBP_UNDEFINED == static_cast<int>(RbpRule::kUndefined) &&
              SCORCH_RBP_UNSUPPORTED == static_cast<int>(RbpRule::kUnsupported));
static_assert(sizeof(scorch_unwind_mapping) == 56);
static_assert(sizeof(scorch_unwind_file_frames) == 8 * SCORCH_UNW_HOW_MAX);

Result<UniqueFd> create_map(bpf_map_type type, const char* name, uint32_t key_size, uint32_t value_size,
                            uint32_t max_entries) {
  int fd = bpf_map_create(type, name, key_size, value_size, max_entries, nullptr);
  if (fd < 0) return make_errno_error(std::string("create BPF map ") + name, errno);
  return UniqueFd(fd);
}

// Writes count values at keys first, first+1, ... of an array map, in batches where the kernel has them.
Result<void> fill_array(int fd, uint32_t first, const void* values, uint32_t count, size_t value_size,
                        const char* what) {
  const auto* bytes = static_cast<const uint8_t*>(values);
  std::vector<uint32_t> keys;
  constexpr uint32_t kBatch = 4096;
  for (uint32_t done = 0; done < count; done += kBatch) {
    uint32_t n = std::min(kBatch, count - done);
    keys.resize(n);
    for (uint32_t i = 0; i < n; ++i) keys[i] = first + done + i;
    uint32_t batch = n;
    if (bpf_map_update_batch(fd, keys.data(), bytes + done * value_size, &batch, nullptr) == 0) continue;
    for (uint32_t i = 0; i < n; ++i)  // kernels without batch ops: one at a time
      if (bpf_map_update_elem(fd, &keys[i], bytes + (done + i) * value_size, BPF_ANY) != 0)
        return make_errno_error(std::string("load ") + what, errno);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<UnwindMaps>> UnwindMaps::create() {
  std::unique_ptr<UnwindMaps> m(new UnwindMaps());
  auto rows = create_map(BPF_MAP_TYPE_ARRAY, "unwind_rows", 4, sizeof(scorch_unwind_row), SCORCH_UNWIND_MAX_ROWS);
  if (!rows) return rows.error();
  auto index = create_map(BPF_MAP_TYPE_ARRAY, "unwind_index", 4, 4, SCORCH_UNWIND_MAX_BUCKETS);
  if (!index) return index.error();
  auto procs = create_map(BPF_MAP_TYPE_HASH, "unwind_procs", 4, sizeof(scorch_unwind_proc), SCORCH_UNWIND_MAX_PROCS);
  if (!procs) return procs.error();
  auto counters = create_map(BPF_MAP_TYPE_PERCPU_ARRAY, "unwind_counters", 4, 8, SCORCH_UNW_MAX);
  if (!counters) return counters.error();
  auto file_frames = create_map(BPF_MAP_TYPE_PERCPU_ARRAY, "unwind_file_frames", 4, sizeof(scorch_unwind_file_frames),
                                SCORCH_UNWIND_MAX_FILES);
  if (!file_frames) return file_frames.error();
  auto watch = create_map(BPF_MAP_TYPE_HASH, "cred_watch", 4, sizeof(scorch_cred_watch), SCORCH_CRED_WATCH_MAX);
  if (!watch) return watch.error();
  auto watch_on = create_map(BPF_MAP_TYPE_ARRAY, "cred_watch_on", 4, 4, 1);
  if (!watch_on) return watch_on.error();
  m->cred_watch_ = std::move(*watch);
  m->cred_watch_on_ = std::move(*watch_on);
  m->rows_ = std::move(*rows);
  m->index_ = std::move(*index);
  m->procs_ = std::move(*procs);
  m->counters_ = std::move(*counters);
  m->file_frames_ = std::move(*file_frames);
  return m;
}

Result<void> UnwindMaps::share_with(bpf_object* obj) const {
  const std::pair<const char*, int> maps[] = {{"unwind_rows", rows_.get()},
                                              {"unwind_index", index_.get()},
                                              {"unwind_procs", procs_.get()},
                                              {"unwind_counters", counters_.get()},
                                              {"unwind_file_frames", file_frames_.get()},
                                              {"cred_watch", cred_watch_.get()},
                                              {"cred_watch_on", cred_watch_on_.get()}};
  for (const auto& [name, fd] : maps) {
    bpf_map* map = bpf_object__find_map_by_name(obj, name);
    if (!map) return Error{"share BPF map " + std::string(name), "the BPF object has no such map", ENOENT, {}};
    if (int err = bpf_map__reuse_fd(map, fd); err) return make_errno_error("share BPF map " + std::string(name), -err);
  }
  return {};
}

uint32_t UnwindMaps::rows_free() const { return SCORCH_UNWIND_MAX_ROWS - next_row_; }
uint32_t UnwindMaps::buckets_free() const { return SCORCH_UNWIND_MAX_BUCKETS - next_bucket_; }

uint64_t UnwindMaps::bytes_used() const {
  return static_cast<uint64_t>(next_row_) * sizeof(scorch_unwind_row) + static_cast<uint64_t>(next_bucket_) * 4;
}

Result<uint32_t> UnwindMaps::add_rows(const void* rows, uint32_t count) {
  if (count > rows_free())
    return Error{
        "load unwind rows", "the row array is full (" + std::to_string(SCORCH_UNWIND_MAX_ROWS) + " rows)", ENOSPC, {}};
  uint32_t first = next_row_;
  if (auto r = fill_array(rows_.get(), first, rows, count, sizeof(scorch_unwind_row), "unwind rows"); !r)
    return r.error();
  next_row_ += count;
  return first;
}

Result<uint32_t> UnwindMaps::add_buckets(const uint32_t* buckets, uint32_t count) {
  if (count > buckets_free()) return Error{"load unwind index", "the index array is full", ENOSPC, {}};
  uint32_t first = next_bucket_;
  if (auto r = fill_array(index_.get(), first, buckets, count, sizeof(uint32_t), "unwind index"); !r) return r.error();
  next_bucket_ += count;
  return first;
}

Result<void> UnwindMaps::set_process(uint32_t tgid, const scorch_unwind_proc& proc) {
  if (bpf_map_update_elem(procs_.get(), &tgid, &proc, BPF_ANY) != 0)
    return make_errno_error("load the mappings of PID " + std::to_string(tgid) + " for unwinding", errno);
  return {};
}

void UnwindMaps::remove_process(uint32_t tgid) { bpf_map_delete_elem(procs_.get(), &tgid); }

UnwindMaps::Counters UnwindMaps::counters() const {
  uint64_t sums[SCORCH_UNW_MAX] = {};
  sum_percpu_counters(counters_.get(), SCORCH_UNW_MAX, sums);
  return Counters{sums[SCORCH_UNW_STACKS], sums[SCORCH_UNW_FRAMES]};
}

}  // namespace scorch

namespace scorch {

std::vector<UnwindMaps::FileFrames> UnwindMaps::file_frames(uint32_t count) const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return {};
  count = std::min<uint32_t>(count, SCORCH_UNWIND_MAX_FILES);
  const auto cpus = static_cast<size_t>(ncpu);
  std::vector<FileFrames> out(count);
  auto add = [&](uint32_t id, const scorch_unwind_file_frames* per_cpu) {
    for (size_t c = 0; c < cpus; ++c) {
      out[id].by_table += per_cpu[c].frames[SCORCH_UNW_BY_TABLE];
      out[id].by_frame_pointer += per_cpu[c].frames[SCORCH_UNW_BY_FP];
      out[id].lost += per_cpu[c].frames[SCORCH_UNW_LOST];
    }
  };
  if (count == 0) return out;
  // Status reads these every 100 ms: one batch read of ids [0, count) where the kernel has it.
  std::vector<uint32_t> keys(count);
  std::vector<scorch_unwind_file_frames> values(count * cpus);
  uint32_t got = count, next = 0;
  int err = bpf_map_lookup_batch(file_frames_.get(), nullptr, &next, keys.data(), values.data(), &got, nullptr);
  if ((err == 0 || errno == ENOENT) && got == count) {
    for (uint32_t i = 0; i < got; ++i)
      if (keys[i] < count) add(keys[i], &values[i * cpus]);
    return out;
  }
  for (uint32_t id = 0; id < count; ++id)
    if (bpf_map_lookup_elem(file_frames_.get(), &id, values.data()) == 0) add(id, values.data());
  return out;
}

void UnwindMaps::clear_file_frames(uint32_t file_id) {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0 || file_id >= SCORCH_UNWIND_MAX_FILES) return;
  std::vector<scorch_unwind_file_frames> zeros(static_cast<size_t>(ncpu));
  bpf_map_update_elem(file_frames_.get(), &file_id, zeros.data(), BPF_ANY);
}

}  // namespace scorch
