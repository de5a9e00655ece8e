#pragma once
/// The command table: each command takes its own arguments and returns an exit code (0 ok, 1 failure, 2 usage).

#include <span>
#include <string>
#include <vector>

namespace scorch::cli {

/// What every command shares: where the daemon is and how to print.
struct GlobalOptions {
  std::string socket_path;
  bool json = false;
  bool verbose = false;
};

/// One command of scorch: its name, its line in the usage, and the function that runs it.
struct Command {
  const char* name;
  const char* summary;
  int (*run)(const GlobalOptions& g, const std::vector<std::string>& args);
};

/// Every command, in the order the usage lists them.
std::span<const Command> commands();

/// scorch's usage: the global options and the table's commands.
std::string usage();

}  // namespace scorch::cli
