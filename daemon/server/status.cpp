#include "server/status.h"

#include "symbolize/symbolizer.h"

namespace scorch {

std::vector<std::string> status_notes(const Profiler& profiler, const Symbolizer& symbolizer) {
  std::vector<std::string> notes;
  if (auto k = symbolizer.kernel_error()) notes.push_back("kernel frames unnamed: " + k->message());
  if (const OffCpuProbe* off = profiler.offcpu()) {
    auto c = off->counters();
    notes.push_back(std::string("off-CPU: program ") + (off->attached() ? "attached" : "loaded, not attached") + "; " +
                    std::to_string(c.switch_outs) + " switch-outs traced, " + std::to_string(c.blocks) +
                    " blocks counted, " + std::to_string(c.filtered) + " filtered out; kernel stacks: " +
                    std::to_string(c.kstack_walks) + " walked, " + std::to_string(c.kstack_kept) +
                    " unchanged since the thread's last switch-out; lost: " + std::to_string(c.no_storage) +
                    " (no task storage), " + std::to_string(c.map_full) + " (map full), " +
                    std::to_string(c.stack_errors) + " stack errors, " + std::to_string(c.lost_stacks) + " stacks");
  } else {
    notes.push_back("off-CPU: unavailable");
  }
  if (const MallocProbe* m = profiler.malloc()) {
    auto c = m->counters();
    notes.push_back("malloc: " + std::to_string(c.calls) + " allocator calls traced, " + std::to_string(c.frees) +
                    " frees, " + std::to_string(c.sampled) + " sampled, " + std::to_string(c.nested) +
                    " nested (not counted twice), " + std::to_string(c.other_process) +
                    " hits in untraced processes (fork children); stacks: " + std::to_string(c.walks) + " walked, " +
                    std::to_string(c.memo_hits) +
                    " unchanged since their site's last walk; lost: " + std::to_string(c.map_full) +
                    " (counts map full), " + std::to_string(c.live_full) + " (live map full), " +
                    std::to_string(c.stack_lost) + " stacks, " + std::to_string(c.no_storage) + " (no thread storage)");
  } else {
    notes.push_back("malloc: unavailable");
  }
  const UnwindLoader& unwinder = profiler.unwinder();
  auto uc = unwinder.counters();
  const std::vector<UnwindMaps::FileFrames> files = unwinder.file_frames_now();  // one read of the BPF map
  UnwindMaps::FileFrames all;  // over every file, since the tables were last emptied
  for (const UnwindMaps::FileFrames& f : files) {
    all.by_frame_pointer += f.by_frame_pointer;
    all.lost += f.lost;
  }
  notes.push_back("user stacks: -p profiles unwind from .eh_frame tables (" +
                  std::to_string(unwinder.table_bytes() / 1024) + " KiB of tables loaded; " +
                  std::to_string(uc.stacks) + " stacks, " + std::to_string(uc.frames) + " frames unwound, " +
                  std::to_string(all.by_frame_pointer) + " by frame pointer where no table applied, " +
                  std::to_string(all.lost) + " lost); whole-system profiles use frame pointers");
  for (const auto& [pid, a] : unwinder.processes()) {
    std::string line = "unwinding PID " + std::to_string(pid) + ": tables for " + std::to_string(a.with_tables) +
                       " mapping" + (a.with_tables == 1 ? "" : "s");
    if (!a.without_tables.empty()) {
      line += "; frame pointers for";
      for (const auto& f : a.without_tables) line += " " + f;
    }
    notes.push_back(line);
  }
  for (auto& line : unwinder.file_notes(files)) notes.push_back(std::move(line));
  return notes;
}

}  // namespace scorch
