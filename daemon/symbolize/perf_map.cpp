#include "symbolize/perf_map.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "common/safe_file.h"

namespace scorch {

std::vector<PerfMapEntry> parse_perf_map(std::string_view text, size_t max_entries) {
  std::vector<PerfMapEntry> entries;
  size_t pos = 0;
  while (pos < text.size() && entries.size() < max_entries) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // START SIZE NAME, the name running to the end of the line (it may hold spaces).
    size_t a = line.find(' ');
    size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
    if (b == std::string_view::npos || b + 1 >= line.size()) continue;
    PerfMapEntry e;
    auto s1 = std::from_chars(line.data(), line.data() + a, e.start, 16);
    auto s2 = std::from_chars(line.data() + a + 1, line.data() + b, e.size, 16);
    if (s1.ec != std::errc{} || s1.ptr != line.data() + a || s2.ec != std::errc{} || s2.ptr != line.data() + b ||
        e.size == 0)
      continue;
    std::string_view name = line.substr(b + 1);
    if (!name.empty() && name.back() == '\r') name.remove_suffix(1);
    e.name.assign(name);
    entries.push_back(std::move(e));
  }
  // Stable, so that among entries with the same start the last one written is kept.
  std::stable_sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) { return x.start < y.start; });
  size_t kept = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (kept > 0 && entries[kept - 1].start == entries[i].start)
      entries[kept - 1] = std::move(entries[i]);
    else if (kept++ != i)
      entries[kept - 1] = std::move(entries[i]);
  }
  entries.resize(kept);
  return entries;
}

const PerfMapEntry* find_perf_map_entry(const std::vector<PerfMapEntry>& entries, uint64_t ip) {
  auto it = std::upper_bound(entries.begin(), entries.end(), ip,
                             [](uint64_t v, const PerfMapEntry& e) { return v < e.start; });
  if (it == entries.begin()) return nullptr;
  --it;
  return ip - it->start < it->size ? &*it : nullptr;
}

uint32_t namespace_pid(uint32_t pid) {
  auto status = safe_file::read_proc_file("/proc/" + std::to_string(pid) + "/status");
  std::istringstream in(status ? *status : std::string());
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("NStgid:")) continue;
    std::istringstream fields(line.substr(7));
    uint32_t v = 0, last = pid;
    while (fields >> v) last = v;
    return last;
  }
  return pid;
}

}  // namespace scorch
