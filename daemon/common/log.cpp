#include "common/log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace scorch::log {
namespace {

bool g_verbose = false;
std::string g_program = "scorchd";
std::mutex g_mutex;

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
  write(level == LIBBPF_WARN ? Level::kWarning : Level::kDebug, std::string("libbpf: ") + std::string(msg));
  return n;
}

}  // namespace

void set_verbose(bool v) { g_verbose = v; }
bool verbose() { return g_verbose; }
void set_program(std::string_view name) { g_program = name; }

void write(Level level, std::string_view message) {
  if (level == Level::kDebug && !g_verbose) return;
  const char* tag = "";
  switch (level) {
    case Level::kDebug: tag = "debug: "; break;
    case Level::kInfo: tag = ""; break;
    case Level::kWarning: tag = "warning: "; break;
    case Level::kError: tag = "error: "; break;
  }
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s: %s%.*s\n", g_program.c_str(), tag, static_cast<int>(message.size()), message.data());
}

void route_libbpf() { libbpf_set_print(libbpf_print); }

}  // namespace scorch::log
