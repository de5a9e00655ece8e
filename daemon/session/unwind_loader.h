#pragma once
/// UnwindLoader: installs the unwind tables of a process's executable files in the shared unwind
/// maps (every measure's BPF program reads them), building each file's table once, cached by
/// build id, so its user stacks need no frame pointers.

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "probes/unwind_maps.h"

namespace scorch {

class UnwindLoader {
 public:
  explicit UnwindLoader(UnwindMaps& maps) : maps_(maps) {}

  /// What attach() installed: mappings with a table, and files left to frame pointers.
  struct Attached {
    size_t with_tables = 0;
    std::vector<std::string> without_tables;
    uint64_t exe_dev = 0, exe_ino = 0;  // the program at attach time, to notice an exec
  };
  /// Loads tables for pid's executable mappings (reference-counted per pid). Files without CFI
  /// (or that cannot be read) are left to frame pointers, and named in the result.
  Result<Attached> attach(uint32_t pid);
  void detach(uint32_t pid);
  /// After pid exec'd another program (its /proc/PID/exe changed), installs the new program's
  /// tables; otherwise returns what is installed.
  Result<Attached> reload_if_exec(uint32_t pid);
  /// Rows and index loaded into the kernel, in bytes.
  uint64_t table_bytes() const { return maps_.bytes_used(); }
  /// Processes unwound from tables now, with what attach() found.
  const std::map<uint32_t, Attached>& processes() const { return attached_; }
  UnwindMaps::Counters counters() const { return maps_.counters(); }

 private:
  struct Loaded {
    uint32_t first_row = 0;
    uint32_t nrows = 0;
    uint64_t base_pc = 0;
    uint32_t first_bucket = 0;
    uint32_t nbuckets = 0;
    uint32_t shift = 0;
    bool ok = false;  // false: no table could be built for this file
  };
  Result<Loaded> load_file(int fd, const std::string& path);
  Result<Attached> install(uint32_t pid);

  UnwindMaps& maps_;
  std::unordered_map<std::string, Loaded> files_;  // by build id, else "dev:inode"
  std::unordered_map<uint32_t, int> refs_;
  std::map<uint32_t, Attached> attached_;
  uint32_t generation_ = 0;
};

}  // namespace scorch
