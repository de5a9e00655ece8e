#include "server/status.h"

#include "symbolize/symbolizer.h"

namespace scorch {

std::vector<std::string> status_notes(const Profiler& profiler, const Symbolizer& symbolizer) {
  std::vector<std::string> notes;
  if (auto k = symbolizer.kernel_error()) notes.push_back("kernel frames unnamed: " + k->message());
  for (auto& line : profiler.measure_status()) notes.push_back(std::move(line));
  if (!profiler.unwinder()) return notes;
  const UnwindLoader& unwinder = *profiler.unwinder();
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
