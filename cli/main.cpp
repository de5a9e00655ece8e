// scorch: the thin client of scorchd. A command table, global options, exit codes; nothing else.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/log.h"
#include "scorch_version.h"

namespace {

constexpr const char* kUsage =
    "usage: scorch [--socket PATH] [-j] [-v] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  status     daemon version, kernel features, active sessions, drops\n"
    "  profile    on-CPU sampled stacks of processes or the whole system (scorch profile -h)\n"
    "  offcpu     time threads spend blocked, by stack (scorch offcpu -h)\n"
    "  malloc     allocator calls, bytes and live blocks, by stack (scorch malloc -h)\n"
    "\n"
    "  --socket PATH   scorchd's socket (default $SCORCH_SOCKET or /run/scorch/scorchd.sock)\n"
    "  -j, --json      JSON output for scripts\n"
    "  -v, --verbose   debug output\n"
    "  --version       print the version\n";

struct Command {
  const char* name;
  int (*run)(const scorch::cli::GlobalOptions&, const std::vector<std::string>&);
};

const Command kCommands[] = {
    {"status", scorch::cli::cmd_status},
    {"profile", scorch::cli::cmd_profile},
    {"offcpu", scorch::cli::cmd_offcpu},
    {"malloc", scorch::cli::cmd_malloc},
};

}  // namespace

int main(int argc, char** argv) {
  scorch::log::set_program("scorch");
  scorch::cli::GlobalOptions g;
  g.socket_path = scorch::cli::default_socket_path();
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "--socket") {
      if (i + 1 >= argc) {
        std::cerr << "scorch: --socket needs a path\n" << kUsage;
        return 2;
      }
      g.socket_path = argv[++i];
    } else if (a == "-j" || a == "--json") {
      g.json = true;
    } else if (a == "-v" || a == "--verbose") {
      g.verbose = true;
      scorch::log::set_verbose(true);
    } else if (a == "--version") {
      std::cout << "scorch " << scorch::kScorchVersion << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "scorch: unknown option '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (i >= argc) {
    std::cerr << kUsage;
    return 2;
  }
  std::string name = argv[i];
  std::vector<std::string> args(argv + i + 1, argv + argc);
  for (const auto& c : kCommands)
    if (name == c.name) return c.run(g, args);
  std::cerr << "scorch: unknown command '" << name << "'\n" << kUsage;
  return 2;
}
