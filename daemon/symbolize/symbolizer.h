#pragma once
/// Symbolizer: turns user and kernel instruction pointers into frame names, caching maps and ELF symbols.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/safe_file.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/kallsyms.h"
#include "symbolize/lru_cache.h"
#include "symbolize/perf_map.h"
#include "symbolize/proc_maps.h"

namespace scorch {

/// The name shown for a raw symbol name: demangled (C++, Rust legacy and v0), see demangle.h.
std::string display_name(std::string_view raw);

/// Cache limits of a Symbolizer and where it reads kernel symbols.
struct SymbolizerOptions {
  size_t max_elf_files = 256;              // ELF symbol tables kept, least recently used evicted
  size_t max_processes = 1024;             // processes whose maps are kept, least recently used evicted
  size_t max_perf_map_entries = 4u << 20;  // JIT perf map entries kept over all processes
  std::string kallsyms_path = "/proc/kallsyms";
  /// Where separate debug files are looked up by build id (DIR/.build-id/xx/rest.debug), first
  /// inside the process's root (/proc/PID/root/DIR: a container's own), then on the host.
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  /// Ask debuginfod servers ($DEBUGINFOD_URLS) for debug files not found locally; off by default
  /// (it reaches the network from the daemon).
  bool debuginfod = false;
};

/// Names user and kernel addresses for the daemon; safe to call from several threads (one lock).
class Symbolizer {
 public:
  explicit Symbolizer(SymbolizerOptions options = {});

  // One name per ip, in the same order: the symbol name; "<module basename>+0x<file offset>" when the
  // file has no symbol there; "[unknown]" outside every mapping (or when pid is gone); "[anon]" in
  // anonymous memory (JIT code); the special mapping's own name ("[vdso]", "[heap]", ...).
  // Maps of pid are re-read at most once per call, when an ip falls outside every known mapping.
  // Callers pass return addresses minus one for non-leaf frames, so that a call at the very end of a
  // function is not named after the next function.
  std::vector<std::string> symbolize_user(uint32_t pid, std::span<const uint64_t> ips);
  /// The kernel symbol at ip, or "[unknown]"; kallsyms is read on first use.
  std::string symbolize_kernel(uint64_t ip);

  /// The data object (an ELF OBJECT symbol: a global or static variable) holding addr in pid's
  /// memory: its name at its first byte, "<name>+0x<offset>" inside it; empty when none holds it
  /// (heap, stack, anonymous memory, a file without symbols there, pid gone). Objects are those of
  /// the main executable and shared libraries, .data and .bss: the file is the one whose load bias
  /// and PT_LOAD segments (p_vaddr + p_memsz) cover addr, so the .bss tail that the maps show as an
  /// anonymous mapping after the file's last mapping counts. Names are shown as display_name does.
  /// Maps of pid are re-read at most once per call, when addr falls outside every known mapping.
  std::string symbolize_data(uint32_t pid, uint64_t addr);

  /// Reads pid's maps and the symbols of its executable files now, while it lives, so that samples
  /// drained after it exited (or exec'd) are still named. Returns false when pid is gone.
  bool prepare(uint32_t pid);

  /// Drops what is cached for pid (call when it exits, so a reused pid is not named with stale maps).
  void forget(uint32_t pid);
  /// Drops the kernel symbols; they are read again on next use (after modules were loaded, ...).
  void refresh_kernel();
  /// Reads /proc/kallsyms now (it takes ~90 ms), so the first profile does not wait for it.
  Result<void> load_kernel();
  /// Why kernel symbols could not be read, once a symbolize_kernel call tried and failed.
  std::optional<Error> kernel_error() const;

  /// Files of pid that were not read and why (a perf map owned by another user, larger than its
  /// cap, not a regular file, ...), one line each, for the notes of its profiles.
  std::vector<std::string> file_notes(uint32_t pid) const;

  /// Rough heap footprint of all caches, for status reporting.
  uint64_t cache_bytes() const;
  size_t cached_elf_files() const;
  size_t cached_processes() const;

 private:
  /// Identifies a mapped file: the same library in many processes is loaded once.
  struct FileKey {
    uint32_t dev_major = 0;
    uint32_t dev_minor = 0;
    uint64_t inode = 0;
    bool operator==(const FileKey&) const = default;
  };
  /// Hash of a FileKey.
  struct FileKeyHash {
    size_t operator()(const FileKey& key) const;
  };
  /// What is known about one process: its maps and the files that could not be loaded for it.
  struct ProcessState {
    std::vector<MapEntry> maps;
    std::vector<FileKey> failed_files;
    bool loaded = false;
    // The JIT's perf map (/tmp/perf-NSPID.map in the process's root), re-read when it grew.
    std::vector<PerfMapEntry> perf_map;
    int64_t perf_map_size = -1;
    uint32_t ns_pid = 0;                                       // the pid in the file's name; 0 until read
    std::chrono::steady_clock::time_point perf_map_checked{};  // re-checked at most every 250 ms
    std::string perf_map_refusal;                              // why the perf map was last not read; empty when it was
    std::optional<safe_file::Credentials> creds;               // what the process may read, with its maps
    std::vector<std::string> notes;                            // files not read for it and why, once each
  };

  /// Adds a note about pid's files once (and logs it once).
  void note(ProcessState& state, std::string text);

  void load_kernel_locked();
  void refresh_maps(uint32_t pid, ProcessState& state);
  const PerfMapEntry* perf_map_lookup(uint32_t pid, ProcessState& state, uint64_t ip);
  std::string symbolize_in_mapping(uint32_t pid, ProcessState& state, const MapEntry& mapping, uint64_t ip);
  std::shared_ptr<const ElfSymbols> elf_for(uint32_t pid, ProcessState& state, const MapEntry& mapping);
  std::shared_ptr<const ElfSymbols> with_debug_file(uint32_t pid, ProcessState& state, const MapEntry& mapping,
                                                    std::shared_ptr<const ElfSymbols> elf);

  SymbolizerOptions options_;
  mutable std::mutex mutex_;
  LruCache<FileKey, std::shared_ptr<const ElfSymbols>, FileKeyHash> elf_cache_;
  LruCache<uint32_t, ProcessState> processes_;
  LruCache<std::string, std::string> demangled_{65536};  // raw name -> display name
  const std::string& display(const std::string& raw);
  std::optional<KernelSymbols> kernel_;
  std::optional<Error> kernel_error_;
  struct DebuginfodDeleter {
    void operator()(void* client) const;
  };
  std::unique_ptr<void, DebuginfodDeleter> debuginfod_;
};

}  // namespace scorch
