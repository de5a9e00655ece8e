#include "server/access.h"

#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/proc_status.h"

namespace scorch {

Result<PeerCred> peer_credentials(int socket_fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return make_errno_error("read the client's credentials (SO_PEERCRED)", errno);
  return PeerCred{static_cast<uint32_t>(cred.pid), cred.uid, cred.gid};
}

std::optional<ProcessUids> read_process_uids(uint32_t pid) {
  auto status = read_proc_status(pid);
  if (!status || !status->uid) return std::nullopt;
  const ProcStatus::Ids& u = *status->uid;
  return ProcessUids{u[0], u[1], u[2]};
}

std::optional<ProcessState> parse_process_state(std::string_view line) {
  // "pid (comm) S ppid pgrp session tty_nr tpgid flags ...": fields after the last ')'.
  size_t paren = line.rfind(')');
  if (paren == std::string_view::npos || paren + 2 >= line.size()) return std::nullopt;
  std::istringstream fields{std::string(line.substr(paren + 2))};
  ProcessState st;
  long long skip = 0;
  unsigned long long flags = 0;
  if (!(fields >> st.state)) return std::nullopt;
  for (int i = 0; i < 5; ++i)
    if (!(fields >> skip)) return std::nullopt;
  if (!(fields >> flags)) return std::nullopt;
  constexpr unsigned long long kPfKthread = 0x00200000;  // include/linux/sched.h
  st.kernel_thread = (flags & kPfKthread) != 0;
  return st;
}

std::optional<ProcessState> read_process_state(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return parse_process_state(line);
}

Result<void> check_targets(const std::vector<uint32_t>& pids, bool needs_user_space, std::string_view verb,
                           const StateLookup& lookup) {
  for (uint32_t pid : pids) {
    const std::string what = std::string(verb) + " PID " + std::to_string(pid);
    auto st = lookup(pid);
    if (!st) return Error{what, "no such process", ESRCH, "check the PID with: ps -p " + std::to_string(pid)};
    if (st->state == 'Z' || st->state == 'X')
      return Error{what, "no such process (it has exited: a zombie its parent has not reaped yet)", ESRCH,
                   "check the PID with: ps -p " + std::to_string(pid)};
    if (needs_user_space && st->kernel_thread)
      return Error{what, "PID " + std::to_string(pid) + " is a kernel thread: it has no user-space allocator", EINVAL,
                   "a kernel thread's kernel stacks are shown by scorch profile -p " + std::to_string(pid) +
                       " and scorch offcpu -p " + std::to_string(pid) + " (as root)"};
  }
  return {};
}

Result<void> authorize_profile(uint32_t uid, const std::vector<uint32_t>& pids, const UidLookup& lookup,
                               std::string_view verb) {
  const std::string v(verb);
  if (pids.empty() && uid != 0)
    return Error{v + " the whole system", "only root may profile every process", EPERM,
                 "name your own processes with -p PID, or run scorch as root"};
  for (uint32_t pid : pids) {
    auto uids = lookup(pid);
    if (!uids)
      return Error{v + " PID " + std::to_string(pid), "no such process", ESRCH,
                   "check the PID with: ps -p " + std::to_string(pid)};
    if (uid == 0) continue;
    if (uids->real != uid || uids->effective != uid || uids->saved != uid)
      return Error{v + " PID " + std::to_string(pid),
                   "permission denied: the process belongs to uid " + std::to_string(uids->effective) +
                       ", you are uid " + std::to_string(uid),
                   EPERM, "a non-root user may profile only its own processes; run scorch as root for others"};
  }
  return {};
}

}  // namespace scorch
