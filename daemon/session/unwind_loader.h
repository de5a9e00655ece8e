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
#include "symbolize/proc_maps.h"
#include "unwind/segment_map.h"

namespace scorch {

class UnwindLoader {
 public:
  explicit UnwindLoader(UnwindMaps& maps) : maps_(maps) {}
  UnwindMaps& maps() const { return maps_; }

  /// What attach() installed: mappings with a table, and files left to frame pointers.
  struct Attached {
    size_t with_tables = 0;
    std::vector<std::string> without_tables;
    std::vector<uint32_t> file_ids;     // every executable file mapped, with a table or not (file_frames)
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

  /// How the frames of one file (or, id 0, of pcs in no file: vdso, JIT, bad addresses) were
  /// unwound, over every walk since the file got its id.
  struct FileFrames {
    uint32_t id = 0;
    std::string file;  // the path of the first mapping seen
    bool has_table = false;
    UnwindMaps::FileFrames frames;
  };
  /// Counts of every file id in use, indexed by id (a snapshot, to diff over a profile).
  std::vector<UnwindMaps::FileFrames> file_frames_now() const {
    return maps_.file_frames(static_cast<uint32_t>(file_names_.size()));
  }
  /// The files of ids with frames counted since before (indexed by id; shorter means zero).
  std::vector<FileFrames> file_frames_since(const std::vector<UnwindMaps::FileFrames>& before,
                                            const std::vector<uint32_t>& ids) const;
  /// One line per file with frames counted, most frames first (at most max_files, then how many
  /// more): for scorch status.
  std::vector<std::string> file_notes(const std::vector<UnwindMaps::FileFrames>& now, size_t max_files = 16) const;
  /// "/lib/libc.so.6: 120 from its unwind table, 3 by frame pointer, 0 lost (the walk stopped there)".
  static std::string describe(const FileFrames& f);

 private:
  struct Loaded {
    uint32_t first_row = 0;
    uint32_t nrows = 0;
    uint64_t base_pc = 0;
    uint32_t first_bucket = 0;
    uint32_t nbuckets = 0;
    uint32_t shift = 0;
    std::vector<SegmentHeader> segments;
    bool ok = false;           // false: no table could be built for this file
    uint64_t image_bytes = 0;  // the vdso only: the size of the image the table was built from
  };
  Result<Loaded> load_file(int fd, const std::string& path);
  /// The vdso's table (from the daemon's own copy: the kernel maps the same image into every
  /// x86-64 process), loaded once; nullptr when it has none or m is not that image.
  const Loaded* vdso_table(const MapEntry& m);
  Result<Attached> install(uint32_t pid);
  /// The file id of key (its path for reports), a new one if needed; 0 once every id is taken.
  uint32_t file_id(const std::string& key, const std::string& path, bool has_table);

  UnwindMaps& maps_;
  std::unordered_map<std::string, Loaded> files_;  // by build id, else "dev:inode"
  std::unordered_map<uint32_t, int> refs_;
  std::map<uint32_t, Attached> attached_;
  uint32_t generation_ = 0;
  struct FileName {
    std::string path;
    bool has_table = false;
  };
  std::unordered_map<std::string, uint32_t> file_ids_;  // by the files_ key
  std::vector<FileName> file_names_{kNoFile};           // by file id
  static inline const FileName kNoFile{"[not in a mapped file: vdso, JIT code or a bad address]", false};
};

}  // namespace scorch
