#pragma once
/// Output every command shares: errors, durations, drops, and profiles rendered and written.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "export/flamegraph.h"
#include "export/json_writer.h"
#include "model/profile.h"

namespace scorch::cli {

/// Prints "scorch: failed to ...: ..." and the hint, to stderr.
void print_error(const Error& e);

/// "1.5s" for 1500 ms.
std::string format_seconds(uint64_t ms);

/// "3 map full, 2 lost stacks", or "none".
std::string drops_summary(const DropCounters& d);

/// The "drops" member of a JSON object.
void write_drops_json(JsonWriter& w, const DropCounters& d);

/// Writes content to path through a temporary file, so a reader never sees half of it.
Result<void> write_file(const std::string& path, const std::string& content);

/// Fails when path's directory is not writable: checked before profiling for minutes.
Result<void> check_writable(const std::string& path);

/// What -o FILE asks for, by its ending; without a file, JSON with -j, else the table.
enum class OutputFormat { kSvg, kFolded, kJson, kTable };
OutputFormat output_format(const std::string& output, bool json);

/// Renders the profile as the format asks; the table has at most 25 stacks.
std::string render_profile(const Profile& p, OutputFormat format, const FlameOptions& flame,
                           const std::function<std::string(const Profile&, size_t)>& table);

/// Prints rendered to stdout, or writes it to output; then the profile's notes, to stderr.
bool emit(const Profile& p, const std::string& rendered, const std::string& output);

/// "scorch: <done or wrote FILE>: <amount> in <duration>; drops: <drops>", to stderr.
void print_summary(const Profile& p, const std::string& output, const std::string& done, const std::string& amount);

}  // namespace scorch::cli
