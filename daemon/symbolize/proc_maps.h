#pragma once
/// Parsing /proc/PID/maps into memory mappings.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/safe_file.h"
#include "common/unique_fd.h"

namespace scorch {

/// One line of /proc/PID/maps: an address range and what backs it.
struct MapEntry {
  uint64_t start = 0;   // first address of the mapping
  uint64_t end = 0;     // one past the last address
  uint64_t offset = 0;  // file offset mapped at start
  uint64_t inode = 0;   // 0 for anonymous and special mappings
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  std::string perms;     // "r-xp"
  std::string path;      // file path, "[vdso]", "[heap]", or empty; " (deleted)" removed
  bool deleted = false;  // path ended in " (deleted)"

  bool executable() const { return perms.size() >= 3 && perms[2] == 'x'; }
  bool contains(uint64_t address) const { return address >= start && address < end; }
  // Backed by a regular file (not anonymous, not a "[...]" special mapping).
  bool file_backed() const { return inode != 0 && !path.empty() && path[0] != '['; }
};

/// Parses the text of /proc/PID/maps; malformed lines are skipped. Entries keep the file's order (by start).
std::vector<MapEntry> parse_proc_maps(std::string_view text);

/// Reads and parses /proc/PID/maps; a process that is gone gives "read /proc/PID/maps: no such process".
Result<std::vector<MapEntry>> read_proc_maps(uint32_t pid);

/// A mapped file opened for reading, and the name it goes by in messages.
struct MappedFile {
  UniqueFd fd;
  std::string name;
};

/// Opens the file behind mapping m of pid: through /proc/PID/map_files (the very file mapped, even
/// deleted or in another mount namespace), else by its path inside the process's root when that is
/// the same inode; with safe_file's checks (an ELF's cap; readable by reader when given).
Result<MappedFile> open_mapped_file(uint32_t pid, const MapEntry& m, const safe_file::Credentials* reader);

/// The mapping containing address in entries sorted by start, or nullptr.
const MapEntry* find_mapping(const std::vector<MapEntry>& entries, uint64_t address);

}  // namespace scorch
