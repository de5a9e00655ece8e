// Unwind-table build cost for a live process: every executable file it maps, one table per
// distinct build id (as the daemon will cache them), timed, with table memory and peak RSS.
//   scorch_bench_unwind_tables PID
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "symbolize/proc_maps.h"
#include "unwind/table_builder.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PID\n", argv[0]);
    return 2;
  }
  uint32_t pid = static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10));
  auto maps = scorch::read_proc_maps(pid);
  if (!maps) {
    std::fprintf(stderr, "scorch: %s\n", maps.error().message().c_str());
    return 1;
  }
  std::set<std::pair<uint64_t, std::string>> files;  // (inode, path) of executable mappings
  for (const auto& m : *maps)
    if (m.executable() && m.file_backed()) files.insert({m.inode, m.path});

  std::set<std::string> build_ids;
  double total_ms = 0;
  uint64_t total_bytes = 0, total_rows = 0;
  size_t failed = 0, shared = 0;
  for (const auto& [inode, path] : files) {
    std::string via = "/proc/" + std::to_string(pid) + "/root" + path;
    auto t0 = std::chrono::steady_clock::now();
    auto table = scorch::build_unwind_table(via);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!table) {
      ++failed;
      std::printf("%-60s  %s\n", path.c_str(), table.error().message().c_str());
      continue;
    }
    if (!table->build_id.empty() && !build_ids.insert(table->build_id).second) {
      ++shared;  // a second mapping of a file already built: the cache would not build it again
      continue;
    }
    total_ms += ms;
    total_bytes += table->memory_bytes();
    total_rows += table->rows.size();
    std::printf("%-60s %8.1f ms %9zu rows %10llu bytes\n", path.c_str(), ms, table->rows.size(),
                static_cast<unsigned long long>(table->memory_bytes()));
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("\nfiles: %zu (%zu failed, %zu shared by build id)\n", files.size(), failed, shared);
  std::printf("total: %.1f ms, %llu rows, %.1f MiB of tables, peak RSS %.1f MiB\n", total_ms,
              static_cast<unsigned long long>(total_rows), static_cast<double>(total_bytes) / (1 << 20),
              static_cast<double>(ru.ru_maxrss) / 1024.0);
  return failed == files.size() ? 1 : 0;
}
