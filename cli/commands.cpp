#include "cli/commands.h"

#include <algorithm>

namespace scorch::cli {

// Each in its own cmd_<name>.cpp.
int cmd_status(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_profile(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_offcpu(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_malloc(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_locks(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_stat(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_llc(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_list(const GlobalOptions& g, const std::vector<std::string>& args);

namespace {

const Command kCommands[] = {
    {"status", "daemon version, kernel features, active sessions, drops", cmd_status},
    {"profile", "on-CPU sampled stacks of processes or the whole system (scorch profile -h)", cmd_profile},
    {"offcpu", "time threads spend blocked, by stack (scorch offcpu -h)", cmd_offcpu},
    {"malloc", "allocator calls, bytes and live blocks, by stack (scorch malloc -h)", cmd_malloc},
    {"locks", "time threads wait for locks, by stack, and who held them (scorch locks -h)", cmd_locks},
    {"stat", "exact counts of perf events, per process or system-wide (scorch stat -h)", cmd_stat},
    {"llc", "last-level cache misses, cycles and IPC per process; --stacks by stack (scorch llc -h)", cmd_llc},
    {"list", "the perf events this machine has, and why the others are missing", cmd_list},
};

}  // namespace

std::span<const Command> commands() { return kCommands; }

std::string usage() {
  std::string text = "usage: scorch [--socket PATH] [-j] [-v] COMMAND [ARGS]\n\ncommands:\n";
  for (const auto& c : kCommands) {
    std::string name = c.name;
    name.resize(std::max<size_t>(name.size() + 1, 11), ' ');
    text += "  " + name + c.summary + "\n";
  }
  text +=
      "\n"
      "  --socket PATH   scorchd's socket (default $SCORCH_SOCKET or /run/scorch/scorchd.sock)\n"
      "  -j, --json      JSON output for scripts\n"
      "  -v, --verbose   debug output\n"
      "  --version       print the version\n";
  return text;
}

}  // namespace scorch::cli
