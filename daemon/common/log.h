#pragma once
/// A tiny leveled logger to stderr ("scorchd: warning: ..."); debug lines only with -v.

#include <string_view>

namespace scorch::log {

enum class Level { kDebug, kInfo, kWarning, kError };

void set_verbose(bool verbose);
bool verbose();
void set_program(std::string_view name);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::kDebug, m); }
inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void warning(std::string_view m) { write(Level::kWarning, m); }
inline void error(std::string_view m) { write(Level::kError, m); }

/// Routes libbpf's own messages into this logger (warnings as warnings, the rest as debug).
void route_libbpf();

}  // namespace scorch::log
