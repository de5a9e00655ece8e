#pragma once
/// Option parsing every command shares: the option table, the parser, and the value parsers.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scorch::cli {

/// One option of a command: its spellings, whether it takes a value, and what it does with it.
struct Option {
  std::vector<std::string> names;                              // {"-p", "--pid"}
  std::string needs;                                           // the value, for "<option> needs <needs>"; empty: a flag
  std::function<std::string(const std::string& value)> apply;  // "" when accepted, else the usage message
  std::string missing = {};  // the whole message when the value is missing, if not "<option> needs ..."
};

/// A flag that sets target.
Option flag(std::vector<std::string> names, bool& target);

/// Parses args against options (in order); -h and --help print usage. nullopt: go on; else the
/// exit code to return (0 after help, 2 after a usage error, which is printed with usage).
std::optional<int> parse_options(const std::vector<std::string>& args, const std::vector<Option>& options,
                                 std::string_view command, const char* usage);

/// Prints "scorch: <message>" and the usage to stderr; returns 2.
int usage_error(const std::string& message, const char* usage);

/// A whole decimal number that fits in 32 bits.
bool parse_u32(std::string_view text, uint32_t& out);

/// A number with an optional unit from units (name, scale); bare numbers take bare_scale.
bool parse_scaled(const std::string& text, double bare_scale,
                  std::initializer_list<std::pair<const char*, double>> units, double& out);

/// "30s", "500ms", "2us", "10ns", "1m"; a bare number is in bare_scale ns.
bool parse_time(const std::string& text, double bare_scale, uint64_t& ns);

/// "512KiB", "1MiB", "64k", "4096".
bool parse_size(const std::string& text, uint64_t& bytes);

/// "2%", "0.5", "1%": per mille.
bool parse_percent_permille(const std::string& text, uint32_t& permille);

/// Seconds ("10", "0.5") as milliseconds, at least 1 and at most max_ms.
bool parse_seconds(const std::string& text, uint64_t max_ms, uint64_t& ms);

/// "12", "12,34": appends each PID (1..max_pid) to pids; on failure bad is the item that is not one.
bool parse_pids(const std::string& text, uint32_t max_pid, std::vector<uint32_t>& pids, std::string& bad);

}  // namespace scorch::cli
