#include "common/proc_status.h"

#include <charconv>
#include <string>
#include <utility>

#include "common/safe_file.h"

namespace scorch {
namespace {

// The blank-separated numbers of a line's value; nullopt at a token that is not one whole number
// of T (a sign, a stray letter, or more digits than T holds).
template <typename T>
std::optional<std::vector<T>> numbers(std::string_view text, int base) {
  std::vector<T> out;
  while (true) {
    const size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return out;
    text.remove_prefix(begin);
    const std::string_view token = text.substr(0, text.find_first_of(" \t"));
    T v{};
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v, base);
    if (ec != std::errc{} || end != token.data() + token.size()) return std::nullopt;
    out.push_back(v);
    text.remove_prefix(token.size());
  }
}

std::optional<ProcStatus::Ids> four_ids(std::string_view text) {
  auto ids = numbers<uint32_t>(text, 10);
  if (!ids || ids->size() != 4) return std::nullopt;
  return ProcStatus::Ids{(*ids)[0], (*ids)[1], (*ids)[2], (*ids)[3]};
}

std::optional<uint64_t> one_hex(std::string_view text) {
  auto caps = numbers<uint64_t>(text, 16);
  if (!caps || caps->size() != 1) return std::nullopt;
  return caps->front();
}

}  // namespace

ProcStatus parse_proc_status(std::string_view text) {
  ProcStatus s;
  bool uid = false, gid = false, groups = false, caps = false;  // the first line of a name counts
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    if (name == "Uid" && !std::exchange(uid, true)) {
      s.uid = four_ids(value);
    } else if (name == "Gid" && !std::exchange(gid, true)) {
      s.gid = four_ids(value);
    } else if (name == "Groups" && !std::exchange(groups, true)) {
      s.groups = numbers<uint32_t>(value, 10);
    } else if (name == "CapPrm" && !std::exchange(caps, true)) {
      s.cap_permitted = one_hex(value);
    }
  }
  return s;
}

Result<ProcStatus> read_proc_status(uint32_t pid) {
  auto text = safe_file::read_proc_file("/proc/" + std::to_string(pid) + "/status");
  if (!text) return text.error();
  return parse_proc_status(*text);
}

}  // namespace scorch
