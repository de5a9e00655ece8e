#include "export/text_table.h"
#include "export/format.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace scorch {

namespace {

/// A FunctionStat plus the index of the last stack that counted toward its total.
struct StatEntry {
  FunctionStat stat;
  size_t last_stack = std::numeric_limits<size_t>::max();
};

std::string pad_left(const std::string& text, size_t width) {
  if (text.size() >= width) return text;
  return std::string(width - text.size(), ' ') + text;
}

std::string plural(uint64_t n, const std::string& singular, const std::string& plural_form) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural_form);
}

/// Names come from the profiled programs: keep control characters (terminal escapes) out of the output.
std::string printable(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return out;
}

std::string drops_line(const DropCounters& drops) {
  std::string line;
  for (const Drop& d : drops.counts) {
    if (d.count == 0) continue;
    line += line.empty() ? "Dropped: " : ", ";
    line += std::to_string(d.count) + " " + drop_label(d.name);
  }
  if (line.empty()) return line;
  if (drops.samples != 0) line += " (of " + std::to_string(drops.samples) + " samples seen)";
  line += '\n';
  return line;
}

std::string pad_right(const std::string& text, size_t width) {
  if (text.size() >= width) return text;
  return text + std::string(width - text.size(), ' ');
}

constexpr size_t kHistogramBar = 40;

/// "[low, high)" of bucket i: [0, 2) first, then [2^i, 2^(i+1)), the last one's high being 2^64.
std::string bucket_range(size_t i) {
  const std::string low = i == 0 ? "0" : std::to_string(uint64_t{1} << i);
  const std::string high =
      i + 1 < Histogram::kMaxBuckets ? std::to_string(uint64_t{1} << (i + 1)) : "18446744073709551616";
  return "[" + low + ", " + high + ")";
}

/// count / max of the bar's width, rounded down; in 128 bits, counts may be near 2^64.
size_t bar_length(uint64_t count, uint64_t max) {
  if (max == 0) return 0;
  return static_cast<size_t>(static_cast<unsigned __int128>(count) * kHistogramBar / max);
}

std::string render_histogram(const Histogram& h) {
  std::string out = "\n" + (h.label.empty() ? std::string("histogram") : printable(h.label));
  if (!h.unit.empty()) out += " (" + printable(h.unit) + ")";
  out += ":\n";
  const size_t n = std::min(h.counts.size(), Histogram::kMaxBuckets);
  size_t first = n, last = 0;
  uint64_t max = 0;
  for (size_t i = 0; i < n; ++i) {
    if (h.counts[i] == 0) continue;
    if (first == n) first = i;
    last = i;
    max = std::max(max, h.counts[i]);
  }
  if (first == n) return out + "(no values)\n";
  size_t range_width = 0, count_width = 0;
  for (size_t i = first; i <= last; ++i) {
    range_width = std::max(range_width, bucket_range(i).size());
    count_width = std::max(count_width, std::to_string(h.counts[i]).size());
  }
  for (size_t i = first; i <= last; ++i) {
    const size_t bar = bar_length(h.counts[i], max);
    out += pad_right(bucket_range(i), range_width) + "  " + pad_left(std::to_string(h.counts[i]), count_width) + " |" +
           std::string(bar, '@') + std::string(kHistogramBar - bar, ' ') + "|\n";
  }
  return out;
}

constexpr size_t kTableRows = 20;

std::string column_header(const std::string& name) {
  std::string h = name;
  for (auto& c : h) c = static_cast<char>(c == '_' ? ' ' : std::toupper(static_cast<unsigned char>(c)));
  return h;
}

std::string render_table(const Table& t) {
  std::string out = "\n" + (t.title.empty() ? std::string("table") : printable(t.title)) + ":\n";
  if (t.rows.empty()) return out + "(no rows)\n";
  const size_t n = std::min(t.rows.size(), kTableRows);
  std::vector<size_t> width(t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) {
    width[i] = column_header(t.columns[i].name).size();
    for (size_t r = 0; r < n; ++r)
      if (i < t.rows[r].size()) width[i] = std::max(width[i], printable(t.rows[r][i]).size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const std::string cell = i < cells.size() ? printable(cells[i]) : std::string();
      if (i) l += "  ";
      const bool last = i + 1 == t.columns.size();
      l += t.columns[i].numeric ? pad_left(cell, width[i]) : last ? cell : pad_right(cell, width[i]);
    }
    return l + "\n";
  };
  std::vector<std::string> header;
  for (const auto& c : t.columns) header.push_back(column_header(c.name));
  out += line(header);
  for (size_t r = 0; r < n; ++r) out += line(t.rows[r]);
  if (n < t.rows.size()) out += "(" + plural(t.rows.size() - n, "more row", "more rows") + ")\n";
  return out;
}

}  // namespace

std::string render_tables(const Profile& profile) {
  std::string out;
  for (const Table& t : profile.tables) out += render_table(t);
  return out;
}

std::string render_histograms(const Profile& profile) {
  std::string out;
  for (const Histogram& h : profile.histograms) out += render_histogram(h);
  return out;
}

std::vector<FunctionStat> function_stats(const Profile& profile) {
  std::map<std::pair<std::string, bool>, StatEntry> entries;
  for (size_t i = 0; i < profile.stacks.size(); ++i) {
    const StackCount& stack = profile.stacks[i];
    for (const Frame& frame : stack.frames) {
      StatEntry& entry = entries[{frame.name, frame.kernel}];
      if (entry.last_stack != i) {  // count each function once per stack, however deep the recursion
        entry.last_stack = i;
        entry.stat.total += stack.count;
      }
    }
    if (!stack.frames.empty()) {
      const Frame& leaf = stack.frames.back();
      entries[{leaf.name, leaf.kernel}].stat.self += stack.count;
    }
  }

  std::vector<FunctionStat> stats;
  stats.reserve(entries.size());
  for (auto& [key, entry] : entries) {
    entry.stat.name = key.first;
    entry.stat.kernel = key.second;
    stats.push_back(std::move(entry.stat));
  }
  std::sort(stats.begin(), stats.end(), [](const FunctionStat& a, const FunctionStat& b) {
    if (a.self != b.self) return a.self > b.self;
    if (a.total != b.total) return a.total > b.total;
    if (a.name != b.name) return a.name < b.name;
    return a.kernel < b.kernel;
  });
  return stats;
}

std::string render_top_table(const Profile& profile, size_t limit) {
  const uint64_t total = profile.total();
  std::string out;
  if (total == 0) {
    out += "No samples recorded.\n";
    out += render_tables(profile);
    out += render_histograms(profile);
    out += drops_line(profile.drops);
    return out;
  }

  std::set<uint32_t> pids;
  for (const StackCount& stack : profile.stacks) pids.insert(stack.pid);
  out += "Total: " + std::to_string(total) + " " + profile.unit + " from " +
         plural(pids.size(), "process", "processes") + "\n";

  const std::vector<FunctionStat> stats = function_stats(profile);
  const size_t rows = limit == 0 ? stats.size() : std::min(limit, stats.size());
  out += pad_left("SELF%", 6) + "  " + pad_left("TOTAL%", 6) + "  " + pad_left("SAMPLES", 10) + "  FUNCTION\n";
  for (size_t i = 0; i < rows; ++i) {
    const FunctionStat& stat = stats[i];
    out += pad_left(format_percent(stat.self, total, 1), 6) + "  " + pad_left(format_percent(stat.total, total, 1), 6) +
           "  " + pad_left(std::to_string(stat.self), 10) + "  " + printable(stat.name) + (stat.kernel ? " [k]" : "") +
           "\n";
  }
  if (rows < stats.size()) {
    out += '(';
    out += plural(stats.size() - rows, "more function", "more functions");
    out += ")\n";
  }
  out += render_tables(profile);
  out += render_histograms(profile);
  out += drops_line(profile.drops);
  return out;
}

std::string render_stack_values_table(const Profile& profile, size_t limit, size_t frames) {
  std::vector<const StackCount*> rows;
  for (const StackCount& stack : profile.stacks)
    if (!stack.values.empty()) rows.push_back(&stack);
  if (rows.empty())
    return "No allocations recorded.\n" + render_tables(profile) + render_histograms(profile) +
           drops_line(profile.drops);
  std::stable_sort(rows.begin(), rows.end(), [](const StackCount* a, const StackCount* b) {
    if (a->count != b->count) return a->count > b->count;
    return a->values < b->values;
  });
  std::vector<uint64_t> totals(profile.value_names.size(), 0);
  for (const StackCount* r : rows)
    for (size_t i = 0; i < r->values.size() && i < totals.size(); ++i) totals[i] += r->values[i];
  std::string out = "Total:";
  for (size_t i = 0; i < totals.size(); ++i)
    if (profile.value_names[i] != "oldest_age_ms")
      out += " " + std::to_string(totals[i]) + " " + profile.value_names[i];
  out += "\n";
  std::vector<std::string> header;
  for (const auto& name : profile.value_names) header.push_back(column_header(name));
  for (const auto& h : header) out += pad_left(h, std::max<size_t>(h.size(), 12)) + "  ";
  out += "STACK (leaf first)\n";
  const size_t n = limit == 0 ? rows.size() : std::min(limit, rows.size());
  for (size_t r = 0; r < n; ++r) {
    const StackCount& st = *rows[r];
    for (size_t i = 0; i < header.size(); ++i)
      out +=
          pad_left(i < st.values.size() ? std::to_string(st.values[i]) : "", std::max<size_t>(header[i].size(), 12)) +
          "  ";
    size_t shown = 0;
    for (size_t j = st.frames.size(); j-- > 0 && shown < frames; ++shown) {
      if (shown) out += " <- ";
      out += printable(st.frames[j].name);
    }
    if (st.frames.size() > frames) out += " <- ...";
    out += "\n";
  }
  if (n < rows.size()) out += "(" + plural(rows.size() - n, "more stack", "more stacks") + ")\n";
  out += render_tables(profile);
  out += render_histograms(profile);
  out += drops_line(profile.drops);
  return out;
}

}  // namespace scorch
