#include "probes/cpus.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace scorch {

std::optional<std::vector<uint32_t>> parse_cpu_list(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::vector<uint32_t> cpus;
  if (text.empty()) return cpus;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    size_t dash = item.find('-');
    uint32_t lo = 0, hi = 0;
    auto num = [](std::string_view s, uint32_t& out) {
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      return ec == std::errc() && p == s.data() + s.size() && !s.empty();
    };
    if (dash == std::string_view::npos) {
      if (!num(item, lo)) return std::nullopt;
      hi = lo;
    } else if (!num(item.substr(0, dash), lo) || !num(item.substr(dash + 1), hi) || hi < lo || hi - lo > 65536) {
      return std::nullopt;
    }
    for (uint32_t c = lo; c <= hi; ++c) cpus.push_back(c);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return cpus;
}

Result<std::vector<uint32_t>> online_cpus() {
  const char* path = "/sys/devices/system/cpu/online";
  std::ifstream in(path);
  if (!in) return make_errno_error(std::string("read ") + path, errno);
  std::stringstream ss;
  ss << in.rdbuf();
  auto cpus = parse_cpu_list(ss.str());
  if (!cpus) return Error{std::string("parse ") + path, "malformed CPU list '" + ss.str() + "'", EINVAL, {}};
  return *cpus;
}

}  // namespace scorch
