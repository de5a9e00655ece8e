#include "cli/options.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace scorch::cli {

int usage_error(const std::string& message, const char* usage) {
  std::cerr << "scorch: " << message << "\n" << usage;
  return 2;
}

Option flag(std::vector<std::string> names, bool& target) {
  return {std::move(names), "", [&target](const std::string&) {
            target = true;
            return std::string();
          }};
}

std::optional<int> parse_options(const std::vector<std::string>& args, const std::vector<Option>& options,
                                 std::string_view command, const char* usage) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    }
    const Option* found = nullptr;
    for (const auto& o : options)
      for (const auto& name : o.names)
        if (a == name) found = &o;
    if (!found) return usage_error("unknown option '" + a + "' for " + std::string(command), usage);
    std::string value;
    if (!found->needs.empty()) {
      if (i + 1 >= args.size())
        return usage_error(found->missing.empty() ? a + " needs " + found->needs : found->missing, usage);
      value = args[++i];
    }
    if (std::string message = found->apply(value); !message.empty()) return usage_error(message, usage);
  }
  return std::nullopt;
}

bool parse_u32(std::string_view text, uint32_t& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

bool parse_scaled(const std::string& text, double bare_scale,
                  std::initializer_list<std::pair<const char*, double>> units, double& out) {
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0) return false;
  char* end = nullptr;
  std::string number = text.substr(0, digits);
  double value = std::strtod(number.c_str(), &end);
  if (*end || !(value >= 0)) return false;
  std::string unit = text.substr(digits);
  double scale = 0;
  if (unit.empty()) scale = bare_scale;
  for (const auto& [name, s] : units)
    if (unit == name) scale = s;
  if (scale == 0) return false;
  out = value * scale;
  return out <= 1e18;
}

bool parse_time(const std::string& text, double bare_scale, uint64_t& ns) {
  double v = 0;
  if (!parse_scaled(text, bare_scale, {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}}, v)) return false;
  ns = static_cast<uint64_t>(std::llround(v));
  return true;
}

bool parse_size(const std::string& text, uint64_t& bytes) {
  double v = 0;
  if (!parse_scaled(text, 1,
                    {{"B", 1},
                     {"k", 1024},
                     {"K", 1024},
                     {"KiB", 1024},
                     {"KB", 1024},
                     {"m", 1 << 20},
                     {"M", 1 << 20},
                     {"MiB", 1 << 20},
                     {"MB", 1 << 20}},
                    v))
    return false;
  bytes = static_cast<uint64_t>(std::llround(v));
  return true;
}

bool parse_percent_permille(const std::string& text, uint32_t& permille) {
  double v = 0;
  if (!parse_scaled(text, 1, {{"%", 1}}, v) || v > 100) return false;
  permille = static_cast<uint32_t>(std::llround(v * 10));
  return true;
}

bool parse_seconds(const std::string& text, uint64_t max_ms, uint64_t& ms) {
  char* end = nullptr;
  double secs = std::strtod(text.c_str(), &end);
  if (text.empty() || *end || !(secs > 0) || secs * 1000 > static_cast<double>(max_ms)) return false;
  ms = static_cast<uint64_t>(std::llround(secs * 1000));
  if (ms == 0) ms = 1;
  return true;
}

bool parse_pids(const std::string& text, uint32_t max_pid, std::vector<uint32_t>& pids, std::string& bad) {
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    uint32_t pid = 0;
    if (!parse_u32(item, pid) || pid == 0 || pid > max_pid) {
      bad = item;
      return false;
    }
    pids.push_back(pid);
  }
  return true;
}

}  // namespace scorch::cli
