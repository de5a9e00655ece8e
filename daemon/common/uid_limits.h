#pragma once
/// UidLimits: what each non-root user holds of a resource (connections, sessions, bytes) against a
/// per-user cap and a cap on all users together; root is never counted, so it always gets through.

#include <cstdint>
#include <map>

namespace scorch {

class UidLimits {
 public:
  /// per_user, all_users: 0 means no cap.
  UidLimits(uint64_t per_user, uint64_t all_users) : per_user_(per_user), all_users_(all_users) {}

  enum class Verdict { kOk, kUserLimit, kAllUsersLimit };

  /// Takes n for uid unless that would pass a cap; root always succeeds and holds nothing.
  Verdict try_acquire(uint32_t uid, uint64_t n = 1) {
    if (uid == 0) return Verdict::kOk;
    uint64_t& mine = held_[uid];
    if (per_user_ && mine + n > per_user_) {
      if (mine == 0) held_.erase(uid);
      return Verdict::kUserLimit;
    }
    if (all_users_ && total_ + n > all_users_) {
      if (mine == 0) held_.erase(uid);
      return Verdict::kAllUsersLimit;
    }
    mine += n;
    total_ += n;
    return Verdict::kOk;
  }
  /// Gives back what try_acquire took (never more than uid holds).
  void release(uint32_t uid, uint64_t n = 1) {
    if (uid == 0) return;
    auto it = held_.find(uid);
    if (it == held_.end()) return;
    uint64_t give = n < it->second ? n : it->second;
    it->second -= give;
    total_ -= give;
    if (it->second == 0) held_.erase(it);
  }

  uint64_t held(uint32_t uid) const {
    auto it = held_.find(uid);
    return it == held_.end() ? 0 : it->second;
  }
  uint64_t total() const { return total_; }
  uint64_t per_user() const { return per_user_; }
  uint64_t all_users() const { return all_users_; }
  void set_caps(uint64_t per_user, uint64_t all_users) {
    per_user_ = per_user;
    all_users_ = all_users;
  }

 private:
  uint64_t per_user_, all_users_;
  uint64_t total_ = 0;
  std::map<uint32_t, uint64_t> held_;
};

}  // namespace scorch
