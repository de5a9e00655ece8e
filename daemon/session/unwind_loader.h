#pragma once
/// UnwindLoader: installs the unwind tables of a process's executable files in the on-CPU program,
/// building each file's table once (cached by build id), so its user stacks need no frame pointers.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "probes/oncpu_probe.h"

namespace scorch {

class UnwindLoader {
 public:
  explicit UnwindLoader(OnCpuProbe& probe) : probe_(probe) {}

  /// What attach() installed: mappings with a table, and files left to frame pointers.
  struct Attached {
    size_t with_tables = 0;
    std::vector<std::string> without_tables;
  };
  /// Loads tables for pid's executable mappings (reference-counted per pid). Files without CFI
  /// (or that cannot be read) are left to frame pointers, and named in the result.
  Result<Attached> attach(uint32_t pid);
  void detach(uint32_t pid);
  /// Rows loaded into the kernel so far, in bytes.
  uint64_t table_bytes() const;

 private:
  struct Loaded {
    uint32_t first_row = 0;
    uint32_t nrows = 0;
    uint64_t base_pc = 0;
    bool ok = false;  // false: no table could be built for this file
  };

  OnCpuProbe& probe_;
  std::unordered_map<std::string, Loaded> files_;  // by build id, else "dev:inode"
  std::unordered_map<uint32_t, int> refs_;
};

}  // namespace scorch
