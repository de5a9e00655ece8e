#pragma once
/// CredWatch: stops a process's tracing for a non-root user the moment its credentials change
/// (a set-user-ID or set-group-ID exec, setresuid, a file-capability exec): every measure's
/// program checks the watched processes' credentials before it records anything of them.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/proc_status.h"
#include "common/result.h"

namespace scorch {

/// The credentials ptrace's rule compares, as the initial user namespace sees them.
struct ProcessCreds {
  /// In struct cred's order: uid, gid, suid, sgid, euid, egid.
  std::array<uint32_t, 6> ids{};
  uint64_t cap_permitted = 0;
  bool operator==(const ProcessCreds&) const = default;
};

/// From a parsed /proc/PID/status (its Uid, Gid and CapPrm lines); nullopt when a line is missing.
std::optional<ProcessCreds> creds_from_status(const ProcStatus& status);
/// nullopt when the process is gone.
std::optional<ProcessCreds> read_process_creds(uint32_t pid);
/// What differs, e.g. "effective uid 65534 -> 0, saved uid 65534 -> 0".
std::string describe_cred_change(const ProcessCreds& was, const ProcessCreds& now);

class CredWatch {
 public:
  /// The maps cred_watch and cred_watch_on (bpf/creds.h) that every program shares.
  CredWatch(int map_fd, int on_fd) : map_fd_(map_fd), on_fd_(on_fd) {}

  /// Starts the check of pid against creds (reference-counted: each session that needs it).
  Result<void> watch(uint32_t pid, const ProcessCreds& creds);
  void unwatch(uint32_t pid);
  bool watched(uint32_t pid) const { return watched_.count(pid) > 0; }

  struct Change {
    uint32_t pid = 0;
    std::string what;  // what changed, for the note
  };
  /// Watched processes whose credentials are no longer those watched: flagged by a program, or
  /// seen in /proc now (a program flags only a process it sees an event of). A process found
  /// changed is flagged in the map too, so every program drops it from then on.
  std::vector<Change> changes() const;

 private:
  struct Entry {
    int refs = 0;
    ProcessCreds creds;
  };
  void publish_count() const;
  int map_fd_;
  int on_fd_;
  std::map<uint32_t, Entry> watched_;
};

}  // namespace scorch
