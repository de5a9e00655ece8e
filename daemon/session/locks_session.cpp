#include "session/locks_session.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include <linux/types.h>

#include "common/log.h"
#include "common/proc_tasks.h"
#include "locks.h"
#include "session/frames.h"
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

// contention_begin's flags (include/trace/events/lock.h).
constexpr uint32_t kLcbSpin = 1u << 0, kLcbRead = 1u << 1, kLcbWrite = 1u << 2, kLcbRt = 1u << 3, kLcbPerCpu = 1u << 4,
                   kLcbMutex = 1u << 5;

/// True when a user frame's name, leading underscores left out, begins with prefix (glibc's
/// symbols for one function: pthread_rwlock_rdlock, __pthread_rwlock_rdlock, ..._full64).
bool has_frame(const std::vector<Frame>& frames, std::string_view prefix) {
  return std::any_of(frames.begin(), frames.end(), [&](const Frame& f) {
    if (f.kernel) return false;
    std::string_view name = f.name;
    while (!name.empty() && name.front() == '_') name.remove_prefix(1);
    return name.substr(0, prefix.size()) == prefix;
  });
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string lock_kind_name(uint32_t kind, uint32_t flags, const std::vector<Frame>& frames) {
  switch (kind) {
    case SCORCH_LOCK_LLL: {
      // glibc's contended lock path: a mutex (any kind but PI), or a condvar re-taking its mutex.
      if (has_frame(frames, "pthread_cond_")) return "mutex (condvar re-acquire)";
      // A pthread mutex's own kind, as read from it (glibc's internal locks have none).
      if ((flags & SCORCH_LOCK_F_MUTEX_KIND) && has_frame(frames, "pthread_mutex_")) switch (flags & 3) {
          case 1:
            return "mutex (recursive)";
          case 2:
            return "mutex (error-checking)";
          case 3:
            return "mutex (adaptive)";
        }
      return "mutex";
    }
    case SCORCH_LOCK_PI:
      return "pi-mutex";
    case SCORCH_LOCK_BITSET:
      // Condvars, semaphores and pthread_join wait with FUTEX_WAIT_BITSET too: only rwlocks are locks.
      if (has_frame(frames, "pthread_rwlock_wrlock") || has_frame(frames, "pthread_rwlock_timedwrlock") ||
          has_frame(frames, "pthread_rwlock_clockwrlock"))
        return "rwlock (write)";
      if (has_frame(frames, "pthread_rwlock_")) return "rwlock (read)";
      return "";
    case SCORCH_LOCK_WAIT:
      return "";  // a futex wait of no known lock (std::atomic::wait, a hand-made event)
    case SCORCH_LOCK_KERNEL: {
      std::string k = (flags & kLcbPerCpu)  ? "percpu-rwsem"
                      : (flags & kLcbMutex) ? ((flags & kLcbRt) ? "rt-mutex" : "mutex")
                      : (flags & kLcbSpin)  ? ((flags & (kLcbRead | kLcbWrite)) ? "rwlock" : "spinlock")
                                            : "rwsem";
      if (flags & kLcbRead) k += " (read)";
      if (flags & kLcbWrite) k += " (write)";
      return k;
    }
  }
  return "";
}

class LocksSession : public MeasureSession {
 public:
  LocksSession(LocksMeasure& measure, Session& core, const proto::LocksOptions& options)
      : measure_(measure), core_(core), options_(options) {
    measure_.sessions_.push_back(this);
  }
  ~LocksSession() override {
    for (uint32_t t : filters_) measure_.probe_->remove_filter(t, options_.holders);
    std::erase(measure_.sessions_, this);
  }

  Result<void> attach() {
    at_start_ = measure_.probe_->counters();
    const LocksProbe::Filter f{options_.min_wait_ns, !options_.kernel, options_.kernel};
    for (uint32_t t : core_.targets()) {
      if (auto r = measure_.probe_->add_filter(t, f, options_.holders); !r) return r.error();
      filters_.push_back(t);
    }
    return {};
  }

  std::string detail() const override {
    std::string d = options_.kernel ? "kernel locks" : "user-space locks";
    if (options_.holders) d += ", by holder";
    if (options_.min_wait_ns) d += ", waits >= " + std::to_string(options_.min_wait_ns / 1000) + " us";
    return d;
  }

  void lose(uint32_t pid) override {
    if (auto it = std::find(filters_.begin(), filters_.end(), pid); it != filters_.end()) {
      measure_.probe_->remove_filter(pid, options_.holders);
      filters_.erase(it);
    }
  }

  Session& core() { return core_; }
  bool holders() const { return options_.holders; }

  /// A waiter bucket (frames already named, the lock's leaf included).
  void add_wait(uint32_t tgid, std::string_view comm, const std::vector<Frame>& frames, const RawLockWait& w,
                const std::string& lock) {
    if (options_.holders) return;
    core_.add(tgid, comm, frames, w.total_ns, w.count);
    auto& s = stats_[frames_key(tgid, comm, frames)];
    s.count += w.count;
    s.max_ns = std::max(s.max_ns, w.max_ns);
    auto& h = hist_[{tgid, w.addr}];
    if (h.label.empty()) {
      h.label = "PID " + std::to_string(tgid) + " " + lock;
      h.unit = "ns";
      h.counts.resize(SCORCH_LOCKS_HIST);
    }
    for (size_t i = 0; i < w.hist.size() && i < h.counts.size(); ++i) h.counts[i] += w.hist[i];
  }
  void add_holder(uint32_t tgid, std::string_view comm, const std::vector<Frame>& frames, const RawLockHolder& h) {
    if (!options_.holders) return;
    core_.add(tgid, comm, frames, h.waited_ns, h.count);
    stats_[frames_key(tgid, comm, frames)].count += h.count;
  }
  /// Waits on one mutex that began while thread o.owner (named comm) owned it.
  void add_owner(const std::string& comm, const std::string& lock, const RawLockOwner& o) {
    if (options_.holders) return;
    auto& h = owners_[{o.tgid, o.owner, lock}];
    h.ns += o.waited_ns;
    h.count += o.count;
    thread_names_[{o.tgid, o.owner}] = comm;
  }
  void excluded(uint64_t count) { excluded_ += count; }

  void finish(Profile& p) override {
    p.unit = "us";
    p.value_names = options_.holders ? std::vector<std::string>{"waited_us", "waits"}
                                     : std::vector<std::string>{"wait_us", "contentions", "max_wait_us"};
    for (auto& st : core_.stacks()) {
      const uint64_t ns = st.count;
      st.count = (ns + 500) / 1000;
      auto it = stats_.find(frames_key(st.pid, st.comm, st.frames));
      const Stat s = it == stats_.end() ? Stat{} : it->second;
      if (options_.holders)
        st.values = {st.count, s.count};
      else
        st.values = {st.count, s.count, (s.max_ns + 500) / 1000};
    }
    std::erase_if(core_.stacks(), [](const StackCount& st) { return st.count == 0; });
    LocksProbe::Counters c = measure_.probe_->counters();
    p.drops.add("map_full", c.map_full - at_start_.map_full);
    p.drops.add("stack_errors", c.stack_errors - at_start_.stack_errors);
    p.drops.add("lost_stacks", c.lost_stacks - at_start_.lost_stacks);
    p.drops.add("nested", c.nested - at_start_.nested);
    p.drops.add("no_storage", c.no_storage - at_start_.no_storage);
    if (excluded_)
      p.notes.push_back(std::to_string(excluded_) +
                        " futex waits that are not lock contention left out (condition variables, semaphores, "
                        "pthread_join, other futex waits)");
    if (uint64_t n = c.short_waits - at_start_.short_waits; n)
      p.notes.push_back(std::to_string(n) + " waits shorter than --min-wait not counted (system-wide)");
    p.notes.push_back(
        "a futex wait's time runs from the waiter's futex call to its return, so it includes the "
        "time the woken thread waited for a CPU");
    bool open_bucket = false;
    for (auto& [key, h] : hist_) {
      open_bucket |= h.counts.back() != 0;
      while (!h.counts.empty() && h.counts.back() == 0) h.counts.pop_back();
      if (!h.counts.empty()) p.histograms.push_back(std::move(h));
    }
    // Heaviest locks first, as the table's stacks are.
    std::stable_sort(p.histograms.begin(), p.histograms.end(),
                     [](const Histogram& a, const Histogram& b) { return a.total() > b.total(); });
    if (open_bucket)
      p.notes.push_back("a histogram's last bucket, [2^" + std::to_string(SCORCH_LOCKS_HIST - 1) +
                        ", ...) ns, holds every longer wait too");
    if (!options_.holders && !options_.kernel) p.tables.push_back(holders_table());
  }

 private:
  struct Stat {
    uint64_t count = 0, max_ns = 0, ns = 0;
  };
  using OwnerKey = std::tuple<uint32_t, uint32_t, std::string>;  // pid, holder's tid, lock
  /// The threads that owned the mutexes others waited on, heaviest first.
  Table holders_table() const {
    Table t;
    t.title = "top holders: threads that owned a mutex when others began to wait for it";
    t.columns = {{"wait_us", true}, {"waits", true}, {"pid", true}, {"holder", false}, {"lock", false}};
    std::vector<std::pair<const OwnerKey*, const Stat*>> rows;
    for (const auto& [k, v] : owners_) rows.emplace_back(&k, &v);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second->ns > b.second->ns; });
    for (const auto& [k, v] : rows) {
      const auto [pid, tid, lock] = *k;
      const auto name = thread_names_.find({pid, tid});
      t.rows.push_back({std::to_string((v->ns + 500) / 1000), std::to_string(v->count), std::to_string(pid),
                        "tid " + std::to_string(tid) + " (" + name->second + ")", lock});
    }
    return t;
  }
  static std::string frames_key(uint32_t pid, std::string_view comm, const std::vector<Frame>& frames) {
    std::string k = std::to_string(pid);
    k.push_back('\3');
    k += comm;
    for (const auto& f : frames) {
      k.push_back(f.kernel ? '\2' : '\1');
      k += f.name;
    }
    return k;
  }

  LocksMeasure& measure_;
  Session& core_;
  proto::LocksOptions options_;
  std::vector<uint32_t> filters_;
  LocksProbe::Counters at_start_;
  std::unordered_map<std::string, Stat> stats_;
  std::map<std::pair<uint32_t, uint64_t>, Histogram> hist_;  // by {pid, lock address}
  std::map<OwnerKey, Stat> owners_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> thread_names_;  // {pid, tid} -> comm
  uint64_t excluded_ = 0;
};

LocksMeasure::LocksMeasure(std::unique_ptr<LocksProbe> probe, Symbolizer& symbolizer)
    : probe_(std::move(probe)), symbolizer_(symbolizer) {}

Result<std::unique_ptr<Measure>> LocksMeasure::load(MeasureEnv& env) {
  if (!env.features.has(Feature::kTpBtf))
    return Error{"load the lock program", "no tp_btf: " + env.features.get(Feature::kTpBtf).detail, ENOTSUP, {}};
  if (!env.unwind_maps) return Error{"load the lock program", "no unwind maps", EINVAL, {}};
  LocksProbe::Config config;
  if (auto it = env.settings.find("kernel-locks"); it != env.settings.end() && it->second == "off")
    config.kernel_off = "kernel locks are turned off (scorchd --kernel-locks off)";
  if (auto it = env.settings.find("locks-map-entries"); it != env.settings.end())
    config.map_entries = static_cast<uint32_t>(std::stoul(it->second));
  auto probe = LocksProbe::load(*env.unwind_maps, config);
  if (!probe) return probe.error();
  if (!(*probe)->kernel_unavailable().empty()) log::info("kernel locks unavailable: " + (*probe)->kernel_unavailable());
  return std::unique_ptr<Measure>(new LocksMeasure(std::move(*probe), env.symbolizer));
}

Result<std::unique_ptr<MeasureSession>> LocksMeasure::start(Session& core, std::span<const uint8_t> options) {
  auto o = proto::decode_locks_options(options);
  if (!o) return o.error();
  if (core.whole_system() && !o->kernel)
    return Error{"trace locks of the system", "user-space locks are traced per process", EINVAL,
                 "give -p PID, or --kernel for kernel locks of every process"};
  auto s = std::make_unique<LocksSession>(*this, core, *o);
  if (auto r = s->attach(); !r) return r.error();
  return std::unique_ptr<MeasureSession>(std::move(s));
}

std::optional<std::string> LocksMeasure::thread_comm(uint32_t tgid, uint32_t tid) {
  if (auto comm = task_comm(tgid, tid)) {
    if (threads_.size() >= kMaxThreadNames) threads_.clear();
    threads_[{tgid, tid}] = *comm;
    return comm;
  }
  // Gone since: the name it had at an earlier drain. Never seen: not a thread of the process (a
  // lock that is not a pthread mutex has something else where __owner would be).
  if (auto it = threads_.find({tgid, tid}); it != threads_.end()) return it->second;
  return std::nullopt;
}

std::string LocksMeasure::lock_name(uint32_t tgid, uint32_t kind, uint32_t flags, uint64_t addr) {
  if (kind == SCORCH_LOCK_KERNEL && (flags & SCORCH_LOCK_F_MMAP_LOCK)) return "mmap_lock";
  if (kind == SCORCH_LOCK_KERNEL && (flags & SCORCH_LOCK_F_SIGLOCK)) return "siglock";
  // A user lock in a global or static variable of a mapped file is named by its symbol. Kernel
  // locks elsewhere go by address: kallsyms lists text symbols (data ones only with
  // CONFIG_KALLSYMS_ALL, which Debian's kernel lacks), and a text lookup could name a module
  // function for a lock in module data.
  std::string name = kind == SCORCH_LOCK_KERNEL ? std::string() : symbolizer_.symbolize_data(tgid, addr);
  if (name.empty()) return hex(addr);
  return name + " (" + hex(addr) + ")";
}

void LocksMeasure::drain() {
  std::unordered_map<uint32_t, std::vector<LocksSession*>> by_pid;
  std::vector<LocksSession*> any;
  for (LocksSession* s : sessions_) {
    if (s->core().whole_system()) any.push_back(s);
    for (uint32_t pid : s->core().pids)
      if (s->core().traces(pid)) by_pid[pid].push_back(s);
  }
  auto matching = [&](uint32_t tgid, bool kernel) -> std::vector<LocksSession*> {
    std::vector<LocksSession*> m;
    if (auto p = by_pid.find(tgid); p != by_pid.end()) m = p->second;
    if (kernel) m.insert(m.end(), any.begin(), any.end());
    return m;
  };
  std::vector<Frame> frames;
  // Waiters blocked in a syscall or a kernel lock: every user frame is a return address; the
  // kernel stack was taken at the tracepoint, so the tracing machinery is left out.
  static const FrameRules kRules{UserLeaf::kReturnAddress, false, true};
  std::unordered_map<uint64_t, std::string> waiter_kinds;  // by the waiter's stack hash and kind
  auto result = probe_->drain(
      [&](const RawLockWait& w) {
        auto sessions = matching(w.tgid, w.kind == SCORCH_LOCK_KERNEL);
        if (sessions.empty()) return;
        frames.clear();
        stack_frames(symbolizer_, w.tgid, w.user_ips, w.kernel_ips, kRules, frames);
        const std::string kind = lock_kind_name(w.kind, w.flags, frames);
        if (kind.empty()) {
          for (LocksSession* s : sessions) s->excluded(w.count);
          return;
        }
        const std::string lock = kind + " " + lock_name(w.tgid, w.kind, w.flags, w.addr);
        frames.push_back(Frame{"[" + lock + "]", w.kind == SCORCH_LOCK_KERNEL});
        for (LocksSession* s : sessions) s->add_wait(w.tgid, w.comm, frames, w, lock);
      },
      [&](const RawLockHolder& h) {
        auto p = by_pid.find(h.tgid);
        if (p == by_pid.end()) return;
        // Only the waits that are lock contention count: the waiter's stack tells (as above).
        auto [known, inserted] = waiter_kinds.try_emplace(h.waiter_hash * 8 + h.kind);
        if (inserted || h.waiter_hash == 0) {
          frames.clear();
          stack_frames(symbolizer_, h.tgid, h.waiter_ips, {}, kRules, frames);
          known->second = lock_kind_name(h.kind, 0, frames);
        }
        const std::string kind = known->second;
        if (kind.empty()) return;
        frames.clear();
        stack_frames(symbolizer_, h.tgid, h.user_ips, {}, kRules, frames);
        frames.push_back(Frame{
            "[released " + kind + " " + lock_name(h.tgid, h.kind, 0, h.addr) + " by tid " + std::to_string(h.tid) + "]",
            false});
        for (LocksSession* s : p->second) s->add_holder(h.tgid, h.comm, frames, h);
      },
      [&](const RawLockOwner& o) {
        auto p = by_pid.find(o.tgid);
        if (p == by_pid.end()) return;
        const auto comm = thread_comm(o.tgid, o.owner);
        if (!comm) return;
        const std::string lock =
            (o.kind == SCORCH_LOCK_PI ? "pi-mutex " : "mutex ") + lock_name(o.tgid, o.kind, 0, o.addr);
        for (LocksSession* s : p->second) s->add_owner(*comm, lock, o);
      });
  if (!result) log::warning(result.error().message());
}

std::vector<std::string> LocksMeasure::status() const {
  auto c = probe_->counters();
  std::string line = "locks: " + std::to_string(c.waits) + " waits counted, " + std::to_string(c.short_waits) +
                     " under --min-wait, " + std::to_string(c.wakes) + " contended releases recorded (" +
                     std::to_string(c.idle_wakes) + " more with no traced waiter asleep), " +
                     std::to_string(c.no_holder) +
                     " woken waits without a release seen; lost: " + std::to_string(c.map_full) + " (map full), " +
                     std::to_string(c.stack_errors) + " stack errors, " + std::to_string(c.nested) + " nested, " +
                     std::to_string(c.no_storage) + " (no task storage)";
  if (!probe_->kernel_unavailable().empty()) line += "; kernel locks: " + probe_->kernel_unavailable();
  return {line};
}

DropCounters LocksMeasure::totals() const {
  auto c = probe_->counters();
  DropCounters d;
  d.samples = c.waits;
  d.add("map_full", c.map_full);
  d.add("stack_errors", c.stack_errors);
  d.add("lost_stacks", c.lost_stacks);
  d.add("nested", c.nested);
  d.add("no_storage", c.no_storage);
  return d;
}

}  // namespace scorch
