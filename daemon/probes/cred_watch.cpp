#include "probes/cred_watch.h"

#include <bpf/bpf.h>
#include <linux/types.h>

#include <cerrno>

#include "creds.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_cred_watch) == 40);

const char* const kIdNames[6] = {"real uid", "real gid", "saved uid", "saved gid", "effective uid", "effective gid"};

}  // namespace

std::optional<ProcessCreds> creds_from_status(const ProcStatus& status) {
  if (!status.uid || !status.gid || !status.cap_permitted) return std::nullopt;
  const ProcStatus::Ids& u = *status.uid;
  const ProcStatus::Ids& g = *status.gid;
  // /proc lists real, effective, saved; struct cred's order is real, saved, effective per kind.
  ProcessCreds c;
  c.ids = {u[0], g[0], u[2], g[2], u[1], g[1]};
  c.cap_permitted = *status.cap_permitted;
  return c;
}

std::optional<ProcessCreds> read_process_creds(uint32_t pid) {
  auto status = read_proc_status(pid);
  if (!status) return std::nullopt;
  return creds_from_status(*status);
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
      return Error{
          "trace PID " + std::to_string(pid),
          "its credentials changed while tracing began (" + describe_cred_change(it->second.creds, creds) + ")",
          EPERM,
          {}};
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
