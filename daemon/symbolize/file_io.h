#pragma once
/// Small file helpers private to the symbolize library: opening and whole-file reads.

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace scorch::symbolize_io {

/// Opens path read-only (O_CLOEXEC); the error names the path.
Result<UniqueFd> open_read_only(const std::string& path);

/// Reads a whole file (also /proc files, whose size stat reports as 0).
Result<std::string> read_whole_file(const std::string& path);

}  // namespace scorch::symbolize_io
