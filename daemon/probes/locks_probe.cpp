#include "probes/locks_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "common/log.h"
#include "locks.h"
#include "locks.skel.h"
#include "probes/map_util.h"
#include "probes/unwind_maps.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_locks_filter) == 32);
static_assert(sizeof(scorch_lock_key) == 40);
static_assert(sizeof(scorch_lock_holder_key) == 40);
static_assert(sizeof(scorch_lock_wake_key) == 16);
static_assert(sizeof(scorch_lock_owner_key) == 24);

}  // namespace

std::string kernel_locks_unavailable(const std::function<bool(const char*)>& has_tracepoint) {
  for (const char* tp : {"contention_begin", "contention_end"})
    if (!has_tracepoint(tp))
      return std::string("the kernel has no lock:") + tp + " tracepoint in its BTF (Linux 5.19 or later)";
  return {};
}

void LocksProbe::SkelDeleter::operator()(locks_bpf* s) const { locks_bpf__destroy(s); }
void LocksProbe::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Result<std::unique_ptr<LocksProbe>> LocksProbe::load(const UnwindMaps& unwind, const Config& config) {
  std::unique_ptr<LocksProbe> probe(new LocksProbe());
  probe->skel_.reset(locks_bpf__open());
  if (!probe->skel_) return make_errno_error("open BPF object locks", errno);
  if (auto r = unwind.share_with(probe->skel_->obj); !r) return r.error();
  auto& m = probe->skel_->maps;
  for (bpf_map* map : {m.counts0, m.counts1, m.holders0, m.holders1, m.owners0, m.owners1})
    if (int err = bpf_map__set_max_entries(map, config.map_entries); err)
      return make_errno_error("size the lock maps", -err);
  // The kernel-lock programs need the lock tracepoints in the kernel's BTF; without them the
  // user-space ones still load.
  probe->kernel_unavailable_ =
      !config.kernel_off.empty() ? config.kernel_off : kernel_locks_unavailable([](const char* name) {
        return libbpf_find_vmlinux_btf_id(name, BPF_TRACE_RAW_TP) >= 0;
      });
  if (!probe->kernel_unavailable_.empty()) {
    bpf_program__set_autoload(probe->skel_->progs.scorch_contention_begin, false);
    bpf_program__set_autoload(probe->skel_->progs.scorch_contention_end, false);
  }
  int err = locks_bpf__load(probe->skel_.get());
  if (err)
    return make_errno_error("load BPF program locks", -err,
                            "lock tracing needs the syscalls:sys_enter_futex tracepoint, task storage and BTF");
  if (!probe->skel_->bss) return Error{"map .bss of locks", "kernel does not support mmap-able maps", ENOTSUP, {}};
  return probe;
}

LocksProbe::~LocksProbe() {
  user_links_.clear();  // detach before the program goes away
  kernel_links_.clear();
  skel_.reset();
}

Result<void> LocksProbe::attach_user() {
  if (!user_links_.empty()) return {};
  for (bpf_program* prog : {skel_->progs.scorch_futex_enter, skel_->progs.scorch_futex_exit}) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int e = errno;
      user_links_.clear();
      return make_errno_error("attach the lock program to the futex syscall tracepoints", e,
                              e == ENOENT ? "the kernel has no syscalls:sys_enter_futex tracepoint "
                                            "(built without CONFIG_FTRACE_SYSCALLS), or tracefs is not mounted "
                                            "(scorch status: tracefs; mount -t tracefs nodev /sys/kernel/tracing)"
                                          : "");
    }
    user_links_.emplace_back(link);
  }
  return {};
}

Result<void> LocksProbe::attach_kernel() {
  if (!kernel_links_.empty()) return {};
  if (!kernel_unavailable_.empty())
    return Error{"trace kernel locks", kernel_unavailable_, ENOTSUP,
                 "scorch locks without --kernel traces user-space locks"};
  for (bpf_program* prog : {skel_->progs.scorch_contention_begin, skel_->progs.scorch_contention_end}) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int e = errno;
      kernel_links_.clear();
      return make_errno_error("attach the lock program to lock:contention_begin/end", e);
    }
    kernel_links_.emplace_back(link);
  }
  return {};
}

void LocksProbe::detach_unused() {
  bool user = false, kernel = false;
  for (const auto& [tgid, e] : filters_) {
    user |= e.filter.user;
    kernel |= e.filter.kernel;
  }
  if (!user) user_links_.clear();  // nobody asks: futex calls cost nothing again
  if (!kernel) kernel_links_.clear();
}

Result<void> LocksProbe::write_filter(uint32_t tgid, const Entry& e) {
  scorch_locks_filter value{};
  value.min_wait_ns = e.filter.min_wait_ns;
  value.since_ns = e.since_ns;
  value.user = e.filter.user ? 1 : 0;
  value.kernel = e.filter.kernel ? 1 : 0;
  value.holders = e.holder_refs > 0 ? 1 : 0;
  if (bpf_map__update_elem(skel_->maps.filter, &tgid, sizeof(tgid), &value, sizeof(value), BPF_ANY) != 0)
    return make_errno_error("add the lock filter", errno);
  return {};
}

Result<void> LocksProbe::add_filter(uint32_t tgid, const Filter& filter, bool holders) {
  auto it = filters_.find(tgid);
  if (it != filters_.end()) {
    if (!(it->second.filter == filter)) {
      std::string who = tgid == kPidAny ? "the whole system" : "PID " + std::to_string(tgid);
      return Error{"trace locks of " + who, "another session traces it with other options", EBUSY,
                   "use the same --min-wait and --kernel, or wait for that session to end"};
    }
    Entry& e = it->second;
    if (holders && e.holder_refs++ == 0)
      if (auto r = write_filter(tgid, e); !r) {
        --e.holder_refs;
        return r;
      }
    ++e.refs;
    return {};
  }
  // Programs first, then the filter entry: nothing is recorded before both are in.
  if (filter.user)
    if (auto r = attach_user(); !r) return r;
  if (filter.kernel)
    if (auto r = attach_kernel(); !r) {
      detach_unused();
      return r;
    }
  Entry e{filter, 1, holders ? 1 : 0, 0};
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // bpf_ktime_get_ns's clock
  e.since_ns = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
  if (auto r = write_filter(tgid, e); !r) {
    detach_unused();
    return r;
  }
  filters_.emplace(tgid, e);
  return {};
}

void LocksProbe::remove_filter(uint32_t tgid, bool holders) {
  auto it = filters_.find(tgid);
  if (it == filters_.end()) return;
  Entry& e = it->second;
  if (holders && --e.holder_refs == 0 && e.refs > 1) (void)write_filter(tgid, e);  // releases cost nothing again
  if (--e.refs > 0) return;
  filters_.erase(it);
  bpf_map__delete_elem(skel_->maps.filter, &tgid, sizeof(tgid), 0);
  detach_unused();
}

Result<void> LocksProbe::drain(const std::function<void(const RawLockWait&)>& waits,
                               const std::function<void(const RawLockHolder&)>& holders,
                               const std::function<void(const RawLockOwner&)>& owners) {
  uint32_t old = skel_->bss->active_generation & 1;
  skel_->bss->active_generation = old ^ 1;
  int counts_fd = bpf_map__fd(old ? skel_->maps.counts1 : skel_->maps.counts0);
  int holders_fd = bpf_map__fd(old ? skel_->maps.holders1 : skel_->maps.holders0);
  int owners_fd = bpf_map__fd(old ? skel_->maps.owners1 : skel_->maps.owners0);
  int ustacks_fd = bpf_map__fd(old ? skel_->maps.ustacks1 : skel_->maps.ustacks0);
  int kstacks_fd = bpf_map__fd(old ? skel_->maps.kstacks1 : skel_->maps.kstacks0);
  StackReader<uint64_t, scorch_ustack> users(ustacks_fd, lost_stacks_), kernels(kstacks_fd, lost_stacks_),
      releases(bpf_map__fd(skel_->maps.wake_stacks), lost_stacks_);
  static const std::vector<uint64_t> kNone;
  auto stack = [](StackReader<uint64_t, scorch_ustack>& r, uint64_t hash) -> const std::vector<uint64_t>& {
    return hash == 0 ? kNone : r.get(hash);
  };
  drain_counts<scorch_lock_key, scorch_lock_value>(counts_fd, [&](const auto& key, const auto& value) {
    RawLockWait w;
    w.tgid = key.tgid;
    w.kind = key.kind;
    w.flags = key.flags;
    w.addr = key.addr;
    w.comm = std::string_view(value.comm, strnlen(value.comm, sizeof(value.comm)));
    w.total_ns = value.total_ns;
    w.count = value.count;
    w.max_ns = value.max_ns;
    w.hist = std::span<const uint64_t>(reinterpret_cast<const uint64_t*>(value.hist), SCORCH_LOCKS_HIST);
    w.user_ips = stack(users, key.uhash);
    w.kernel_ips = stack(kernels, key.khash);
    waits(w);
  });
  drain_counts<scorch_lock_holder_key, scorch_lock_holder_value>(holders_fd, [&](const auto& key, const auto& value) {
    RawLockHolder h;
    h.tgid = key.tgid;
    h.kind = key.kind;
    h.addr = key.addr;
    h.tid = key.tid;
    h.comm = std::string_view(value.comm, strnlen(value.comm, sizeof(value.comm)));
    h.waited_ns = value.waited_ns;
    h.count = value.count;
    h.user_ips = stack(releases, key.uhash);
    h.waiter_ips = stack(users, key.whash);
    h.waiter_hash = key.whash;
    holders(h);
  });
  drain_counts<scorch_lock_owner_key, scorch_lock_owner_value>(owners_fd, [&](const auto& key, const auto& value) {
    owners(RawLockOwner{key.tgid, key.kind, key.addr, key.owner, value.waited_ns, value.count});
  });
  clear_map<uint64_t>(ustacks_fd);
  clear_map<uint64_t>(kstacks_fd);
  return {};
}

LocksProbe::Counters LocksProbe::counters() const {
  uint64_t s[SCORCH_LK_MAX] = {};
  sum_percpu_counters(bpf_map__fd(skel_->maps.counters), SCORCH_LK_MAX, s);
  return Counters{s[SCORCH_LK_WAITS],      s[SCORCH_LK_SHORT],
                  s[SCORCH_LK_MAP_FULL],   s[SCORCH_LK_STACK_ERROR],
                  s[SCORCH_LK_NESTED],     s[SCORCH_LK_NO_STORAGE],
                  s[SCORCH_LK_WAKES],      s[SCORCH_LK_NO_HOLDER],
                  s[SCORCH_LK_IDLE_WAKES], lost_stacks_};
}

}  // namespace scorch
