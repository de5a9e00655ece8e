#pragma once
/// Opening files on behalf of a traced process: inside its root, regular files only, size-capped, never blocking.
///
/// scorchd runs as root and reads files a traced process names: its perf map, its binaries, their
/// debug files, its /proc files. Any local user can make those names point anywhere (a symlink in
/// a mount namespace of its own), so every such file is
///   - resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) inside the process's root
///     (/proc/PID/root): symlinks and ".." never leave it, /proc magic links are refused;
///   - opened O_PATH first, which runs no driver's open and waits for no FIFO writer, then checked
///     with fstat/fstatfs: a regular file, not on a pseudo file system (procfs, sysfs, tracefs,
///     FUSE, ...: their "regular" files can block or never end), no larger than its cap, readable
///     by the process's own credentials (permission bits), and for perf maps owned by the process's
///     user; only then reopened for reading (O_RDONLY | O_NONBLOCK | O_NOCTTY) through /proc/self/fd;
///   - read up to its cap and no further.

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/proc_status.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace scorch::safe_file {

inline constexpr uint64_t kPerfMapCap = 64ull << 20;    // text of a JIT's perf map
inline constexpr uint64_t kPerfMapEntries = 1u << 20;   // entries kept from one perf map
inline constexpr uint64_t kElfCap = 4ull << 30;         // an ELF or debug file (mapped, not read)
inline constexpr uint64_t kProcMapsCap = 64ull << 20;   // /proc/PID/maps: 65,530 mappings with long paths
inline constexpr uint64_t kProcSmallCap = 1ull << 20;   // /proc/PID/status, stat, comm
inline constexpr uint64_t kKallsymsCap = 512ull << 20;  // /proc/kallsyms

/// "64 MiB", "1.0 GiB", "512 bytes": sizes in messages.
std::string human_size(uint64_t bytes);

/// The credentials a traced process reads files with, from /proc/PID/status (as the daemon's
/// user namespace sees them).
struct Credentials {
  uint32_t uid[4] = {0, 0, 0, 0};  // real, effective, saved, file system
  uint32_t gid[4] = {0, 0, 0, 0};
  std::vector<uint32_t> groups;  // supplementary

  uint32_t fsuid() const { return uid[3]; }
  uint32_t fsgid() const { return gid[3]; }
  /// Whether permission bits let these credentials read a file with st's owner, group and mode
  /// (fs uid 0 reads anything; ACLs are not consulted, so an ACL-only grant is not seen).
  bool may_read(const struct stat& st) const;
};

/// The credentials in a parsed /proc/PID/status; an error when its Uid, Gid or Groups line is missing.
Result<Credentials> credentials_from_status(const ProcStatus& status);
/// The credentials of process pid now.
Result<Credentials> read_credentials(uint32_t pid);

/// What a file must be before it is read.
struct Rules {
  uint64_t max_size = kElfCap;
  /// When set, the file must be readable by these credentials (the traced process's).
  const Credentials* reader = nullptr;
  /// Perf maps: owned by the reader's own user (as perf requires); root's file only for a process
  /// that runs as root, so a link to a root-only file is never read for another user.
  bool owned_by_reader = false;
  /// The file may be on procfs (/proc/kallsyms, /proc/PID/maps): stat says 0 bytes there, so the
  /// cap applies to what is read.
  bool procfs_ok = false;
};

/// Opens path (as the process sees it, absolute or relative) inside root_dir, an O_PATH descriptor
/// of a directory (the process's root): symlinks and ".." resolve inside it, magic links are
/// refused. The error says "open <name>" and why ("not a regular file (a FIFO)", "owned by uid 0,
/// not by the process's user (uid 65534)", "larger than the 64 MiB cap (1.0 GiB)", ...).
Result<UniqueFd> open_in_root(int root_dir, const std::string& path, const Rules& rules, const std::string& name);
/// The same inside /proc/PID/root; name in errors is path.
Result<UniqueFd> open_in_process_root(uint32_t pid, const std::string& path, const Rules& rules);
/// Opens a path whose every step the daemon trusts (the host's own files, /proc/PID/map_files/
/// magic links, which lead to the very file a process maps), then the same checks.
Result<UniqueFd> open_trusted(const std::string& path, const Rules& rules);

/// Reads fd from its current offset to its end, at most max bytes: a longer file is an error
/// ("read <name>: larger than the 64 MiB cap"), nothing is read past the cap.
Result<std::string> read_capped(int fd, uint64_t max, const std::string& name);
/// Opens a /proc file of the daemon's procfs (never a link) and reads it up to max bytes.
Result<std::string> read_proc_file(const std::string& path, uint64_t max = kProcSmallCap);

}  // namespace scorch::safe_file
