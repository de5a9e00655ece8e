#pragma once
/// ProcStatus: the credential lines of /proc/PID/status (Uid, Gid, Groups, CapPrm), parsed once
/// for every part of the daemon that asks who a process is.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace scorch {

/// What /proc/PID/status says of a process's credentials, as the daemon's user namespace sees
/// them. Each field is nullopt when its line is missing or malformed; callers require the lines
/// they use.
struct ProcStatus {
  /// In /proc's order: real, effective, saved, file system.
  using Ids = std::array<uint32_t, 4>;
  std::optional<Ids> uid;
  std::optional<Ids> gid;
  std::optional<std::vector<uint32_t>> groups;  // supplementary; an empty line is no groups
  std::optional<uint64_t> cap_permitted;        // CapPrm
};

/// Parses the text of /proc/PID/status. The first line of each name counts; a Uid or Gid line
/// needs exactly four decimal ids that fit 32 bits, CapPrm one hex number that fits 64 bits.
ProcStatus parse_proc_status(std::string_view text);

/// Reads /proc/PID/status through the capped procfs reader (safe_file::read_proc_file); an error
/// (ENOENT) when the process is gone.
Result<ProcStatus> read_proc_status(uint32_t pid);

}  // namespace scorch
