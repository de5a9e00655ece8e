#pragma once
/// The scorch commands: each takes its own arguments and returns an exit code (0 ok, 1 failure, 2 usage).

#include <string>
#include <vector>

#include "common/result.h"

namespace scorch::cli {

/// What every command shares: where the daemon is and how to print.
struct GlobalOptions {
  std::string socket_path;
  bool json = false;
  bool verbose = false;
};

int cmd_status(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_profile(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_offcpu(const GlobalOptions& g, const std::vector<std::string>& args);
int cmd_malloc(const GlobalOptions& g, const std::vector<std::string>& args);

/// Prints "scorch: failed to ...: ..." and the hint, to stderr.
void print_error(const Error& e);

}  // namespace scorch::cli
