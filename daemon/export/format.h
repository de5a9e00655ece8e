#pragma once
/// Number formatting shared by the exporters.

#include <charconv>
#include <cstdint>
#include <string>

namespace scorch {

/// 100 * part / whole with a fixed number of decimals ("12.5"); 0 when whole is 0.
inline std::string format_percent(uint64_t part, uint64_t whole, int decimals) {
  const double value = whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed, decimals);
  return std::string(buf, res.ptr);
}

}  // namespace scorch
