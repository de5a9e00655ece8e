#pragma once
/// The flow every measuring command shares: parse, run one session in scorchd, write its profile.

#include <functional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/output.h"
#include "model/profile.h"
#include "proto/protocol.h"
#include "proto/cpu_options.h"

namespace scorch::cli {

/// What a measuring command gathers from its arguments.
struct SessionArgs {
  proto::ProfileRequest request;
  std::string output;  // -o FILE; empty: stdout
};

/// A finished session as the command's writer sees it.
struct SessionRun {
  const GlobalOptions& global;
  const SessionArgs& args;
  std::string who;  // "all processes", "PID 12", "PID 12 and 2 more"
  OutputFormat format;
};

/// The measure's own parts of a measuring command.
struct SessionCommand {
  std::string name;    // in messages: "unknown option 'x' for offcpu"
  const char* usage;   // printed by -h and after a usage error
  std::string verb;    // the progress line's: "profiling", "tracing"
  std::string events;  // what progress counts: "samples", "blocks", "calls"
  // The command's own options, bound to its measure's options; tried before the shared ones (-p, -d, -o).
  std::function<std::vector<Option>()> options;
  // After parsing: "" or the usage message for options that do not go together.
  std::function<std::string(const SessionArgs& args)> check;
  // Then: the measure's id and its options, encoded by its proto/<measure>_options.cpp.
  std::function<void(proto::ProfileRequest& req)> encode;
  std::function<std::string(const SessionRun& run, const Profile& p)> render;
  // After the output is written: the summary line (and notes) on stderr.
  std::function<void(const SessionRun& run, const Profile& p)> summarize;
};

/// -F HZ, bound to a sampling frequency.
Option frequency_option(uint32_t& hz);

/// Runs the command: an exit code (0 ok, 1 failure, 2 usage).
int run_session_command(const GlobalOptions& g, const std::vector<std::string>& args, const SessionCommand& command);

/// The summary of a profile of time or samples (profile, offcpu): a JSON object on stdout with -j
/// and -o, else print_summary's line; then empty_note when nothing was counted.
void summarize_stacks(const SessionRun& run, const Profile& p, const std::string& done, const std::string& amount,
                      const std::string& empty_note);

}  // namespace scorch::cli
