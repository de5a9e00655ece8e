#include "server/access.h"

#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <string>

namespace scorch {

Result<PeerCred> peer_credentials(int socket_fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return make_errno_error("read the client's credentials (SO_PEERCRED)", errno);
  return PeerCred{static_cast<uint32_t>(cred.pid), cred.uid, cred.gid};
}

std::optional<ProcessUids> read_process_uids(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    ProcessUids u;
    if (fields >> u.real >> u.effective >> u.saved) return u;
    return std::nullopt;
  }
  return std::nullopt;
}

Result<void> authorize_profile(uint32_t uid, const std::vector<uint32_t>& pids, const UidLookup& lookup) {
  if (pids.empty() && uid != 0)
    return Error{"profile the whole system", "only root may profile every process", EPERM,
                 "name your own processes with -p PID, or run scorch as root"};
  for (uint32_t pid : pids) {
    auto uids = lookup(pid);
    if (!uids)
      return Error{"profile PID " + std::to_string(pid), "no such process", ESRCH,
                   "check the PID with: ps -p " + std::to_string(pid)};
    if (uid == 0) continue;
    if (uids->real != uid || uids->effective != uid || uids->saved != uid)
      return Error{"profile PID " + std::to_string(pid),
                   "permission denied: the process belongs to uid " + std::to_string(uids->effective) +
                       ", you are uid " + std::to_string(uid),
                   EPERM, "a non-root user may profile only its own processes; run scorch as root for others"};
  }
  return {};
}

}  // namespace scorch
