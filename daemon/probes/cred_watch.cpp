#include "probes/cred_watch.h"

#include <bpf/bpf.h>
#include <linux/types.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "creds.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_cred_watch) == 40);

// The values after a "Name:" line's tab; empty when the line is missing.
std::vector<std::string_view> status_fields(std::string_view status, std::string_view name) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < status.size()) {
    size_t end = status.find('\n', pos);
    if (end == std::string_view::npos) end = status.size();
    std::string_view line = status.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() <= name.size() || line.substr(0, name.size()) != name || line[name.size()] != ':') continue;
    line.remove_prefix(name.size() + 1);
    while (!line.empty()) {
      size_t start = line.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      size_t stop = line.find_first_of(" \t");
      fields.push_back(line.substr(0, stop));
      if (stop == std::string_view::npos) break;
      line.remove_prefix(stop);
    }
    break;
  }
  return fields;
}

bool parse_number(std::string_view text, uint64_t& out, int base) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc{} && end == text.data() + text.size();
}

const char* const kIdNames[6] = {"real uid", "real gid", "saved uid", "saved gid", "effective uid", "effective gid"};

}  // namespace

std::optional<ProcessCreds> parse_process_creds(std::string_view status) {
  auto uids = status_fields(status, "Uid");
  auto gids = status_fields(status, "Gid");
  auto caps = status_fields(status, "CapPrm");
  if (uids.size() < 3 || gids.size() < 3 || caps.size() != 1) return std::nullopt;
  // /proc lists real, effective, saved; struct cred's order is real, saved, effective per kind.
  const std::string_view* order[6] = {&uids[0], &gids[0], &uids[2], &gids[2], &uids[1], &gids[1]};
  ProcessCreds c;
  for (int i = 0; i < 6; ++i) {
    uint64_t v = 0;
    if (!parse_number(*order[i], v, 10) || v > UINT32_MAX) return std::nullopt;
    c.ids[i] = static_cast<uint32_t>(v);
  }
  if (!parse_number(caps[0], c.cap_permitted, 16)) return std::nullopt;
  return c;
}

std::optional<ProcessCreds> read_process_creds(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return parse_process_creds(text.str());
}

std::string describe_cred_change(const ProcessCreds& was, const ProcessCreds& now) {
  std::string out;
  // Effective ids first: they are what a set-user-ID or set-group-ID exec changes.
  for (int i : {4, 5, 0, 1, 2, 3}) {
    if (was.ids[i] == now.ids[i]) continue;
    if (!out.empty()) out += ", ";
    out += std::string(kIdNames[i]) + " " + std::to_string(was.ids[i]) + " -> " + std::to_string(now.ids[i]);
  }
  if (was.cap_permitted != now.cap_permitted) {
    if (!out.empty()) out += ", ";
    out += "it gained or lost capabilities";
  }
  return out.empty() ? "its credentials changed" : out;
}

Result<void> CredWatch::watch(uint32_t pid, const ProcessCreds& creds) {
  auto [it, inserted] = watched_.try_emplace(pid);
  if (!inserted) {
    if (it->second.creds != creds)
      return Error{"trace PID " + std::to_string(pid), "its credentials changed while tracing began (" +
                                                           describe_cred_change(it->second.creds, creds) + ")",
                   EPERM, {}};
    ++it->second.refs;
    return {};
  }
  scorch_cred_watch w{};
  for (int i = 0; i < SCORCH_CRED_IDS; ++i) w.ids[i] = creds.ids[i];
  w.cap_permitted = creds.cap_permitted;
  if (bpf_map_update_elem(map_fd_, &pid, &w, BPF_ANY) != 0) {
    int err = errno;
    watched_.erase(it);
    return make_errno_error("watch the credentials of PID " + std::to_string(pid), err);
  }
  it->second = Entry{1, creds};
  publish_count();
  return {};
}

void CredWatch::unwatch(uint32_t pid) {
  auto it = watched_.find(pid);
  if (it == watched_.end() || --it->second.refs > 0) return;
  watched_.erase(it);
  bpf_map_delete_elem(map_fd_, &pid);
  publish_count();
}

void CredWatch::publish_count() const {
  uint32_t zero = 0, n = static_cast<uint32_t>(watched_.size());
  bpf_map_update_elem(on_fd_, &zero, &n, BPF_ANY);
}

std::vector<CredWatch::Change> CredWatch::changes() const {
  std::vector<Change> out;
  for (const auto& [pid, e] : watched_) {
    scorch_cred_watch w{};
    bool flagged = bpf_map_lookup_elem(map_fd_, &pid, &w) == 0 && w.changed != 0;
    auto now = read_process_creds(pid);
    if (!flagged && (!now || *now == e.creds)) continue;  // unchanged, or gone (exits are reported apart)
    if (!flagged) {
      w.changed = SCORCH_CRED_IDS + 1;
      bpf_map_update_elem(map_fd_, &pid, &w, BPF_EXIST);
    }
    out.push_back(Change{pid, now ? describe_cred_change(e.creds, *now) : "its credentials changed"});
  }
  return out;
}

}  // namespace scorch
