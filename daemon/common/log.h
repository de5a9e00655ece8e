#pragma once
/// A tiny leveled logger to stderr ("scorchd: warning: ..."); debug lines only with -v. Every call
/// site is rate-limited, so a line repeated in a loop cannot fill the disk.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <source_location>
#include <string_view>
#include <utility>

namespace scorch::log {

enum class Level { kDebug, kInfo, kWarning, kError };

/// Token bucket per key (a call site): a burst of `burst` lines, then one every `refill`. Lines
/// over the budget are counted, and the next line admitted says how many were left out.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using Key = std::pair<const void*, uint32_t>;  // file name (or libbpf format) and line

  RateLimiter(uint32_t burst, Clock::duration refill) : burst_(burst), refill_(refill) {}

  /// nullopt: leave this line out. Otherwise how many lines of this key were left out before it.
  std::optional<uint64_t> admit(Key key, Clock::time_point now);
  /// Keys with lines left out and not yet reported, with their counts (cleared).
  std::map<Key, uint64_t> take_suppressed();

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;
    uint64_t suppressed = 0;
  };
  uint32_t burst_;
  Clock::duration refill_;
  std::map<Key, Bucket> buckets_;
};

void set_verbose(bool verbose);
bool verbose();
void set_program(std::string_view name);
/// Writes one line unless its key is over its rate (see RateLimiter; 20 lines, then one per 3 s).
void write(Level level, std::string_view message, RateLimiter::Key key);
/// Reports lines still held back ("... and N more like it"); called at exit.
void flush_suppressed();

inline RateLimiter::Key site(const std::source_location& l) { return {l.file_name(), l.line()}; }
inline void debug(std::string_view m, std::source_location l = std::source_location::current()) {
  write(Level::kDebug, m, site(l));
}
inline void info(std::string_view m, std::source_location l = std::source_location::current()) {
  write(Level::kInfo, m, site(l));
}
inline void warning(std::string_view m, std::source_location l = std::source_location::current()) {
  write(Level::kWarning, m, site(l));
}
inline void error(std::string_view m, std::source_location l = std::source_location::current()) {
  write(Level::kError, m, site(l));
}

/// Routes libbpf's own messages into this logger (warnings as warnings, the rest as debug).
void route_libbpf();

}  // namespace scorch::log
