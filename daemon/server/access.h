#pragma once
/// Access: who is on the other end of the socket, and what that user may profile.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace scorch {

/// The peer's credentials as the kernel reports them (SO_PEERCRED).
struct PeerCred {
  uint32_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

Result<PeerCred> peer_credentials(int socket_fd);

/// A process's real, effective and saved uids (from /proc/PID/status).
struct ProcessUids {
  uint32_t real = 0, effective = 0, saved = 0;
};
/// nullopt when the process does not exist.
using UidLookup = std::function<std::optional<ProcessUids>(uint32_t pid)>;
std::optional<ProcessUids> read_process_uids(uint32_t pid);

/// What /proc/PID/stat says of a process: its state letter and whether it is a kernel thread.
struct ProcessState {
  char state = '?';
  bool kernel_thread = false;  // PF_KTHREAD
};
/// nullopt when the process does not exist.
using StateLookup = std::function<std::optional<ProcessState>(uint32_t pid)>;
std::optional<ProcessState> read_process_state(uint32_t pid);
/// Parses one /proc/PID/stat line (the command may hold spaces and parentheses).
std::optional<ProcessState> parse_process_state(std::string_view stat_line);

/// Refuses targets that cannot be traced: a zombie (exited, not yet reaped) for every measure, and
/// a kernel thread where a user-space process is needed (malloc). `verb` starts the error's what
/// ("profile", "trace allocations of").
Result<void> check_targets(const std::vector<uint32_t>& pids, bool needs_user_space, std::string_view verb,
                           const StateLookup& lookup);

/// Root may profile anything; another user only its own processes (all three uids its own,
/// as ptrace requires) and never the whole system. Unknown PIDs are refused for everyone.
Result<void> authorize_profile(uint32_t uid, const std::vector<uint32_t>& pids, const UidLookup& lookup,
                               std::string_view verb = "profile");

}  // namespace scorch
