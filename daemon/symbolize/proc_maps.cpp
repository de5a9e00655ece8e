#include "symbolize/proc_maps.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/safe_file.h"

namespace scorch {

namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

// Splits off the next space-separated field of line, skipping leading spaces.
std::string_view next_field(std::string_view& line) {
  size_t begin = line.find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(begin);
  size_t end = line.find(' ');
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  return field;
}

template <typename T>
bool parse_number(std::string_view text, int base, T& out) {
  if (text.empty()) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Splits "first<sep>second" and parses both halves as hex.
template <typename T>
bool parse_hex_pair(std::string_view text, char sep, T& first, T& second) {
  size_t pos = text.find(sep);
  if (pos == std::string_view::npos) {
    return false;
  }
  return parse_number(text.substr(0, pos), 16, first) && parse_number(text.substr(pos + 1), 16, second);
}

bool parse_line(std::string_view line, MapEntry& entry) {
  std::string_view range = next_field(line);
  std::string_view perms = next_field(line);
  std::string_view offset = next_field(line);
  std::string_view dev = next_field(line);
  std::string_view inode = next_field(line);
  if (!parse_hex_pair(range, '-', entry.start, entry.end) || entry.end < entry.start) {
    return false;
  }
  if (perms.size() != 4 || !parse_number(offset, 16, entry.offset)) {
    return false;
  }
  if (!parse_hex_pair(dev, ':', entry.dev_major, entry.dev_minor) || !parse_number(inode, 10, entry.inode)) {
    return false;
  }
  entry.perms = std::string(perms);

  // The rest of the line, after the padding spaces, is the path; it may itself contain spaces.
  size_t path_begin = line.find_first_not_of(' ');
  std::string_view path = path_begin == std::string_view::npos ? std::string_view() : line.substr(path_begin);
  if (path.size() > kDeletedSuffix.size() && path.ends_with(kDeletedSuffix)) {
    path.remove_suffix(kDeletedSuffix.size());
    entry.deleted = true;
  }
  entry.path = std::string(path);
  return true;
}

}  // namespace

std::vector<MapEntry> parse_proc_maps(std::string_view text) {
  std::vector<MapEntry> entries;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    MapEntry entry;
    if (parse_line(line, entry)) {
      entries.push_back(std::move(entry));
    }
  }
  return entries;
}

Result<std::vector<MapEntry>> read_proc_maps(uint32_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/maps";
  auto text = safe_file::read_proc_file(path, safe_file::kProcMapsCap);
  if (!text) {
    int err = text.error().err;
    if (err == ENOENT || err == ESRCH) {
      return Error{"read " + path, "no such process", err, {}};
    }
    return Error{"read " + path, text.error().reason, err, {}};
  }
  return parse_proc_maps(*text);
}

Result<MappedFile> open_mapped_file(uint32_t pid, const MapEntry& m, const safe_file::Credentials* reader) {
  safe_file::Rules rules;
  rules.max_size = safe_file::kElfCap;
  rules.reader = reader;
  char range[64];
  std::snprintf(range, sizeof(range), "/map_files/%llx-%llx", static_cast<unsigned long long>(m.start),
                static_cast<unsigned long long>(m.end));
  const std::string via_map_files = "/proc/" + std::to_string(pid) + range;
  auto fd = safe_file::open_trusted(via_map_files, rules);
  if (fd) return MappedFile{std::move(fd).value(), via_map_files};
  // A refusal of the mapped file itself stands; the path is only tried when map_files is not there.
  if (fd.error().err != ENOENT && fd.error().err != EPERM) return fd.error();
  if (m.deleted || m.path.empty() || m.path.front() != '/') return fd.error();
  auto by_path = safe_file::open_in_process_root(pid, m.path, rules);
  if (!by_path) return by_path.error();
  struct stat st {};
  if (::fstat(by_path->get(), &st) != 0 || st.st_ino != m.inode || major(st.st_dev) != m.dev_major ||
      minor(st.st_dev) != m.dev_minor)
    return Error{
        "open " + m.path, "not the file PID " + std::to_string(pid) + " maps there (another inode)", ESTALE, {}};
  return MappedFile{std::move(by_path).value(), m.path};
}

const MapEntry* find_mapping(const std::vector<MapEntry>& entries, uint64_t address) {
  // First entry whose end is above address; entries are sorted and do not overlap.
  auto it = std::upper_bound(entries.begin(), entries.end(), address,
                             [](uint64_t a, const MapEntry& e) { return a < e.end; });
  if (it != entries.end() && it->contains(address)) {
    return &*it;
  }
  return nullptr;
}

}  // namespace scorch
