#include "session/session.h"

namespace scorch {

Session::Session(uint64_t session_id, SessionSpec session_spec, UidLimits& memory)
    : id(session_id), spec(std::move(session_spec)), memory_(memory) {
  pids.insert(spec.pids.begin(), spec.pids.end());
}

std::vector<uint32_t> Session::targets() const {
  if (pids.empty()) return {kPidAny};
  std::vector<uint32_t> t;
  for (uint32_t pid : pids)
    if (traces(pid)) t.push_back(pid);
  return t;
}

bool Session::charge(uint64_t bytes) {
  if (memory_.try_acquire(spec.uid, bytes) != UidLimits::Verdict::kOk) {
    ++dropped_stacks_;
    return false;
  }
  if (spec.uid != 0) held_bytes_ += bytes;
  return true;
}

void Session::release_memory() {
  memory_.release(spec.uid, held_bytes_);
  held_bytes_ = 0;
}

void Session::add(uint32_t pid, std::string_view comm, const std::vector<Frame>& frames, uint64_t count,
                  uint64_t new_events) {
  std::string key = std::to_string(pid);
  key.push_back('\0');
  key.append(comm);
  for (const auto& f : frames) {
    key.push_back(f.kernel ? '\2' : '\1');
    key.append(f.name);
  }
  events += new_events;
  auto it = index_.find(key);
  if (it == index_.end()) {
    // What a new stack holds: its key, its frames and their names, the table entries.
    uint64_t bytes = 2 * key.size() + frames.size() * sizeof(Frame) + sizeof(StackCount) + 64;
    if (!charge(bytes)) {
      // Real keys start with a pid, so this one is apart.
      static const std::string kDropped = "[dropped]";
      it = index_.find(kDropped);
      if (it == index_.end()) {
        it = index_.emplace(kDropped, stacks_.size()).first;
        stacks_.push_back(
            StackCount{0, "[dropped]", {Frame{"[dropped: memory cap of this user's sessions]", false}}, 0, {}});
      }
      stacks_[it->second].count += count;
      return;
    }
    it = index_.emplace(std::move(key), stacks_.size()).first;
    stacks_.push_back(StackCount{pid, std::string(comm), frames, 0, {}});
  }
  stacks_[it->second].count += count;
}

}  // namespace scorch
