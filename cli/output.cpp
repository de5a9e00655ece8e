#include "cli/output.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "export/folded.h"
#include "export/json.h"

namespace scorch::cli {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void print_error(const Error& e) {
  std::cerr << "scorch: " << e.message() << "\n";
  if (!e.hint.empty()) std::cerr << "HINT: " << e.hint << "\n";
}

std::string format_seconds(uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string drops_summary(const DropCounters& d) {
  std::string s;
  for (const Drop& c : d.counts) {
    if (c.count == 0) continue;
    if (!s.empty()) s += ", ";
    s += std::to_string(c.count) + " " + drop_label(c.name);
  }
  return s.empty() ? "none" : s;
}

void write_drops_json(JsonWriter& w, const DropCounters& d) {
  w.key("drops").begin_object();
  w.key("samples").value(d.samples);
  for (const Drop& c : d.counts) w.key(c.name).value(c.count);
  w.end_object();
}

Result<void> write_file(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_errno_error("write " + path, errno);
    out << content;
    out.flush();
    if (!out) return make_errno_error("write " + path, errno);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return make_errno_error("write " + path, e);
  }
  return {};
}

Result<void> check_writable(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  if (::access(dir.c_str(), W_OK) != 0) return make_errno_error("write " + path, errno);
  return {};
}

OutputFormat output_format(const std::string& output, bool json) {
  if (ends_with(output, ".svg")) return OutputFormat::kSvg;
  if (ends_with(output, ".folded")) return OutputFormat::kFolded;
  if (ends_with(output, ".json") || (output.empty() && json)) return OutputFormat::kJson;
  return OutputFormat::kTable;
}

std::string render_profile(const Profile& p, OutputFormat format, const FlameOptions& flame,
                           const std::function<std::string(const Profile&, size_t)>& table) {
  switch (format) {
    case OutputFormat::kSvg:
      return render_flamegraph_svg(p, flame);
    case OutputFormat::kFolded:
      return render_folded(p);
    case OutputFormat::kJson:
      return render_json(p);
    case OutputFormat::kTable:
      break;
  }
  return table(p, 25);
}

bool emit(const Profile& p, const std::string& rendered, const std::string& output) {
  if (output.empty()) {
    std::cout << rendered;
    if (!rendered.empty() && rendered.back() != '\n') std::cout << "\n";
  } else if (auto r = write_file(output, rendered); !r) {
    print_error(r.error());
    return false;
  }
  for (const auto& n : p.notes) std::cerr << "scorch: note: " << n << "\n";
  return true;
}

void print_summary(const Profile& p, const std::string& output, const std::string& done, const std::string& amount) {
  std::cerr << "scorch: " << (output.empty() ? done : "wrote " + output) << ": " << amount << " in "
            << format_seconds(p.duration_ns / 1'000'000) << "; drops: " << drops_summary(p.drops) << "\n";
}

}  // namespace scorch::cli
