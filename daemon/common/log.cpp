#include "common/log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace scorch::log {

std::optional<uint64_t> RateLimiter::admit(Key key, Clock::time_point now) {
  auto [it, fresh] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = burst_;
    b.last = now;
  } else if (now > b.last) {
    const double earned = std::chrono::duration<double>(now - b.last) / std::chrono::duration<double>(refill_);
    b.tokens = std::min<double>(burst_, b.tokens + earned);
    b.last = now;
  }
  if (b.tokens < 1) {
    ++b.suppressed;
    return std::nullopt;
  }
  b.tokens -= 1;
  return std::exchange(b.suppressed, 0);
}

std::map<RateLimiter::Key, uint64_t> RateLimiter::take_suppressed() {
  std::map<Key, uint64_t> out;
  for (auto& [key, b] : buckets_)
    if (b.suppressed) out.emplace(key, std::exchange(b.suppressed, 0));
  return out;
}

namespace {

bool g_verbose = false;
std::string g_program = "scorchd";
std::mutex g_mutex;
RateLimiter g_limiter(20, std::chrono::seconds(3));

const char* tag(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug: ";
    case Level::kInfo:
      return "";
    case Level::kWarning:
      return "warning: ";
    case Level::kError:
      return "error: ";
  }
  return "";
}

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_verbose) return 0;
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n < 0) return n;
  std::string buf(static_cast<size_t>(n) + 1, '\0');  // verifier logs run to many KiB
  vsnprintf(buf.data(), buf.size(), format, args);
  std::string_view msg(buf.data(), static_cast<size_t>(n));
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  // libbpf's own call site is its format string.
  write(level == LIBBPF_WARN ? Level::kWarning : Level::kDebug, std::string("libbpf: ") + std::string(msg),
        {format, 0});
  return n;
}

}  // namespace

void set_verbose(bool v) { g_verbose = v; }
bool verbose() { return g_verbose; }
void set_program(std::string_view name) { g_program = name; }

void write(Level level, std::string_view message, RateLimiter::Key key) {
  if (level == Level::kDebug && !g_verbose) return;
  std::lock_guard lock(g_mutex);
  auto left_out = g_limiter.admit(key, RateLimiter::Clock::now());
  if (!left_out) return;
  if (*left_out)
    std::fprintf(stderr, "%s: %s%.*s (… and %llu more like it)\n", g_program.c_str(), tag(level),
                 static_cast<int>(message.size()), message.data(), static_cast<unsigned long long>(*left_out));
  else
    std::fprintf(stderr, "%s: %s%.*s\n", g_program.c_str(), tag(level), static_cast<int>(message.size()),
                 message.data());
}

void flush_suppressed() {
  std::lock_guard lock(g_mutex);
  for (const auto& [key, n] : g_limiter.take_suppressed()) {
    if (key.second)
      std::fprintf(stderr, "%s: … and %llu more lines like the last from %s:%u\n", g_program.c_str(),
                   static_cast<unsigned long long>(n), static_cast<const char*>(key.first), key.second);
    else
      std::fprintf(stderr, "%s: … and %llu more libbpf lines like the last\n", g_program.c_str(),
                   static_cast<unsigned long long>(n));
  }
}

void route_libbpf() { libbpf_set_print(libbpf_print); }

}  // namespace scorch::log
