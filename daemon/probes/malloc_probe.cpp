#include "probes/malloc_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>

#include "common/clock.h"
#include "common/log.h"
#include "malloc.h"
#include "malloc.skel.h"
#include "probes/map_util.h"
#include "probes/unwind_maps.h"
#include "symbolize/proc_maps.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_malloc_key) == 16);
static_assert(sizeof(scorch_malloc_value) == 32);
static_assert(sizeof(scorch_live_key) == 16);
static_assert(sizeof(scorch_live_value) == 24);

}  // namespace

void MallocProbe::SkelDeleter::operator()(malloc_bpf* s) const { malloc_bpf__destroy(s); }
void MallocProbe::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Result<std::unique_ptr<MallocProbe>> MallocProbe::load(const UnwindMaps& unwind) {
  std::unique_ptr<MallocProbe> probe(new MallocProbe());
  probe->skel_.reset(malloc_bpf__open());
  if (!probe->skel_) return make_errno_error("open BPF object malloc", errno);
  if (auto r = unwind.share_with(probe->skel_->obj); !r) return r.error();
  int err = malloc_bpf__load(probe->skel_.get());
  if (err) return make_errno_error("load BPF program malloc", -err, "run scorchd as root (CAP_BPF and CAP_PERFMON)");
  if (!probe->skel_->bss) return Error{"map .bss of malloc", "kernel does not support mmap-able maps", ENOTSUP, {}};
  // Exponential thresholds by inversion: -ln(u) at the middle of 1024 equal slices of (0, 1),
  // rescaled so the table's mean is exactly 1 (the estimates' unbiasedness rests on the mean).
  std::vector<double> v(SCORCH_MALLOC_EXP_TABLE);
  double sum = 0;
  for (size_t i = 0; i < v.size(); ++i)
    sum += v[i] = -std::log((static_cast<double>(i) + 0.5) / static_cast<double>(v.size()));
  for (size_t i = 0; i < v.size(); ++i)
    probe->skel_->bss->exp_q16[i] =
        static_cast<uint32_t>(std::llround(v[i] / (sum / static_cast<double>(v.size())) * 65536.0));
  probe->used_slots_ = 1ull << (SCORCH_MALLOC_SLOTS - 1);  // the calibration's
  probe->calibrate();
  probe->duty_ = std::thread([p = probe.get()] { p->duty_loop(); });
  return probe;
}

MallocProbe::~MallocProbe() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (duty_.joinable()) duty_.join();
  targets_.clear();  // links first: detach before the program goes away
  skel_.reset();
}

Result<void> MallocProbe::attach_links(uint32_t tgid, Target& t, bool hot_only) {
  // malloc and free are attached last and detached first (detach_links): while the others are
  // being attached or detached (each takes milliseconds: the kernel visits every mapping of the
  // file), the hottest functions do not trap yet, or any more. In duty mode that time is outside
  // the window but would still slow the program down.
  std::vector<LinkPtr> hot, cold;
  for (int pass = hot_only ? 1 : 0; pass < 2; ++pass) {
    for (const auto& f : t.allocator.functions) {
      const bool is_hot = f.kind == SCORCH_ALLOC_MALLOC || f.kind == SCORCH_ALLOC_FREE;
      if (is_hot != (pass == 1)) continue;
      auto& links = is_hot ? hot : cold;
      const bool ret = f.has_return || (t.config.outstanding && f.kind != SCORCH_ALLOC_FREE);
      if (f.kind == SCORCH_ALLOC_FREE && !t.config.outstanding) continue;  // counting needs no free
      LIBBPF_OPTS(bpf_uprobe_opts, opts);
      opts.bpf_cookie = scorch_malloc_cookie(tgid, t.slot, f.kind, ret ? SCORCH_COOKIE_RET : 0, f.site.sp_words);
      bpf_link* link =
          bpf_program__attach_uprobe_opts(skel_->progs.scorch_malloc_entry, static_cast<pid_t>(tgid),
                                          t.allocator.attach_path.c_str(), f.file_offset + f.site.offset, &opts);
      if (!link) {
        int e = errno;
        return make_errno_error(
            "attach a uprobe to " + f.name + " in " + t.allocator.file + " (PID " + std::to_string(tgid) + ")", e,
            e == ESRCH ? "the process exited" : "");
      }
      links.emplace_back(link);
      if (!ret) continue;
      LIBBPF_OPTS(bpf_uprobe_opts, ropts);
      ropts.retprobe = true;
      ropts.bpf_cookie = scorch_malloc_cookie(tgid, t.slot, f.kind, SCORCH_COOKIE_RET, 0);
      link = bpf_program__attach_uprobe_opts(skel_->progs.scorch_malloc_return, static_cast<pid_t>(tgid),
                                             t.allocator.attach_path.c_str(), f.file_offset + f.return_site.offset,
                                             &ropts);
      if (!link) {
        int e = errno;
        return make_errno_error("attach a return probe to " + f.name + " in " + t.allocator.file, e);
      }
      links.emplace_back(link);
    }
  }
  t.hot = std::move(hot);
  if (!hot_only) t.cold = std::move(cold);
  return {};
}

void MallocProbe::detach_links(Target& t) {
  // Each uprobe's removal ends in an RCU grace period (tens of ms here, and it disturbs every
  // CPU): the links are destroyed side by side so their grace periods overlap, the hot ones
  // first so their breakpoints go at once.
  std::vector<std::thread> closers;
  for (auto* links : {&t.hot, &t.cold})
    for (auto& l : *links) closers.emplace_back([link = std::move(l)]() mutable { link.reset(); });
  for (auto& c : closers) c.join();
  t.hot.clear();
  t.cold.clear();
}

Result<void> MallocProbe::attach(uint32_t tgid, const Allocator& allocator, const Config& config) {
  std::unique_lock lock(mu_);
  if (auto it = targets_.find(tgid); it != targets_.end()) {
    if (!(it->second.config == config))
      return Error{"trace allocations of PID " + std::to_string(tgid), "another session traces it with other settings",
                   EBUSY, "wait for it to end, or ask for the same --outstanding/--sample-bytes/--duty"};
    ++it->second.refs;
    return {};
  }
  uint32_t slot = 0;
  while (slot < SCORCH_MALLOC_SLOTS && (used_slots_ >> slot) & 1) ++slot;
  if (slot == SCORCH_MALLOC_SLOTS)
    return Error{
        "trace allocations of PID " + std::to_string(tgid), "too many processes traced at once (64)", EBUSY, {}};
  Target t;
  t.refs = 1;
  t.slot = slot;
  t.config = config;
  t.allocator = allocator;
  auto& s = skel_->bss->slots[slot];
  s.tgid = tgid;
  s.mode = (config.outstanding ? SCORCH_MALLOC_OUTSTANDING : 0) | (config.sample_bytes ? SCORCH_MALLOC_SAMPLED : 0) |
           (config.duty_permille ? SCORCH_MALLOC_GATED : 0);
  s.sample_bytes = config.sample_bytes;
  s.gate = 0;
  if (!config.duty_permille) {
    if (auto r = attach_links(tgid, t); !r) return r;
  } else {
    t.next_window = std::chrono::steady_clock::now();
    t.hits_at_attach = skel_->bss->gated_hits[slot];
    t.ns_at_attach = skel_->bss->gated_ns[slot];
    t.threads_at_attach = skel_->bss->gated_threads[slot];
  }
  used_slots_ |= 1ull << slot;
  targets_.emplace(tgid, std::move(t));
  lock.unlock();
  cv_.notify_all();
  return {};
}

void MallocProbe::stop_windows(uint32_t tgid) {
  std::unique_lock lock(mu_);
  auto it = targets_.find(tgid);
  if (it == targets_.end()) return;
  it->second.windows_stopped = true;
  cv_.wait(lock, [&] {
    auto t = targets_.find(tgid);
    return t == targets_.end() || !t->second.in_window;
  });
}

void MallocProbe::detach(uint32_t tgid) {
  bool last = false;
  {
    std::unique_lock lock(mu_);
    auto it = targets_.find(tgid);
    if (it == targets_.end() || --it->second.refs > 0) return;
    cv_.wait(lock, [&] { return !it->second.in_window; });
    skel_->bss->slots[it->second.slot].gate = 0;
    used_slots_ &= ~(1ull << it->second.slot);
    detach_links(it->second);
    targets_.erase(it);
    last = targets_.empty();
  }
  clear_live(tgid);
  if (last) {
    // Nobody traces anything: forget the stacks (live blocks referred to them).
    clear_map<uint64_t>(bpf_map__fd(skel_->maps.stacks));
    stacks_.clear();
    skel_->bss->stack_epoch = skel_->bss->stack_epoch + 1;
  }
}

bool MallocProbe::attached(uint32_t tgid) const {
  std::lock_guard lock(mu_);
  return targets_.count(tgid) > 0;
}

double MallocProbe::DutyStats::effective_ns(double trap) const {
  // With k threads paying for the hits side by side, each lost its share of the cost.
  double open_ns = static_cast<double>(open.count());
  double k = windows ? std::max(1.0, static_cast<double>(thread_windows) / static_cast<double>(windows)) : 1.0;
  double cost = (static_cast<double>(hits) * trap + static_cast<double>(bpf_ns)) / k;
  return std::max(open_ns - cost, open_ns * 0.05);
}

MallocProbe::DutyStats MallocProbe::duty(uint32_t tgid) const {
  std::lock_guard lock(mu_);
  DutyStats d;
  auto it = targets_.find(tgid);
  if (it == targets_.end()) return d;
  const Target& t = it->second;
  d.windows = t.windows;
  d.open = t.open;
  d.hits = skel_->bss->gated_hits[t.slot] - t.hits_at_attach;
  d.bpf_ns = skel_->bss->gated_ns[t.slot] - t.ns_at_attach;
  d.thread_windows = skel_->bss->gated_threads[t.slot] - t.threads_at_attach;
  return d;
}

// A function of scorchd's own whose first instruction the kernel emulates (push), like the
// allocator sites: what a probe hit costs beyond the program, for the duty-cycle correction.
extern "C" void scorch_trap_calibration_target(void);
asm(R"(
  .text
  .globl scorch_trap_calibration_target
  .type scorch_trap_calibration_target, @function
scorch_trap_calibration_target:
  push %rbp
  pop %rbp
  ret
  .size scorch_trap_calibration_target, .-scorch_trap_calibration_target
)");

void MallocProbe::calibrate() {
  const uint64_t addr = reinterpret_cast<uint64_t>(&scorch_trap_calibration_target);
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  auto maps = read_proc_maps(pid);
  if (!maps) return;
  const MapEntry* m = find_mapping(*maps, addr);
  if (!m || !m->file_backed()) return;
  // A reserved slot in duty mode with its gate down: the program returns at once, so a hit costs
  // the trap and the uprobe machinery. (The program's own time is measured where it runs.) A tight
  // loop keeps that path warm: in a real program, with work between calls, hits measured 20-40%
  // dearer here (tests/bench/RESULTS.md), so duty-mode estimates of very hot allocators run low.
  const uint32_t slot = SCORCH_MALLOC_SLOTS - 1;
  auto& s = skel_->bss->slots[slot];
  s.tgid = pid;
  s.mode = SCORCH_MALLOC_GATED;
  s.gate = 0;
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.bpf_cookie = scorch_malloc_cookie(pid, slot, SCORCH_ALLOC_MALLOC, 0, 0);
  auto time_calls = [] {
    constexpr int kCalls = 5000;
    uint64_t t0 = monotonic_ns();
    for (int i = 0; i < kCalls; ++i) scorch_trap_calibration_target();
    return static_cast<double>(monotonic_ns() - t0) / kCalls;
  };
  double bare = 1e18;
  for (int i = 0; i < 3; ++i) bare = std::min(bare, time_calls());
  bpf_link* link = bpf_program__attach_uprobe_opts(skel_->progs.scorch_malloc_entry, static_cast<pid_t>(pid),
                                                   "/proc/self/exe", addr - m->start + m->offset, &opts);
  if (!link) {
    log::debug("trap calibration: cannot attach: " + std::string(std::strerror(errno)));
    return;
  }
  for (int i = 0; i < 200; ++i) scorch_trap_calibration_target();  // the first hits map the XOL page
  std::vector<double> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(time_calls());
  bpf_link__destroy(link);
  std::sort(runs.begin(), runs.end());
  trap_ns_ = std::max(0.0, runs[runs.size() / 2] - bare);
  log::debug("uprobe hit cost besides the program (trap, uprobe machinery): " +
             std::to_string(static_cast<int>(trap_ns_)) + " ns (median of 5 runs)");
}

void MallocProbe::duty_loop() {
  // Each duty-mode target gets windows of kWindow; the gaps between window starts are drawn
  // uniformly from [0.5, 1.5] x (kWindow / duty), so the mean share of time open is the duty and
  // windows do not lock onto a periodic pattern of the program. The time the gate was really up
  // is measured, and the daemon scales counts by elapsed / open.
  std::mt19937_64 rng(std::random_device{}());
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    auto wake = now + std::chrono::seconds(1);
    for (auto& [tgid, t] : targets_) {
      if (!t.config.duty_permille || t.windows_stopped) continue;
      if (t.next_window > now) {
        wake = std::min(wake, t.next_window);
        continue;
      }
      const uint64_t attach_start = monotonic_ns();
      // The other functions stay attached from the first window on: each attach or detach of a
      // uprobe costs an RCU grace period (~100 ms here, serialised in the kernel), and doing all
      // of them every window slowed a malloc-bound program by ~20% at 1% duty. Outside windows
      // their hits return at the gate (a trap each, ~0.8 us, on functions rarely hot).
      if (auto r = attach_links(tgid, t, !t.cold.empty()); !r) {
        log::debug("duty window for PID " + std::to_string(tgid) + ": " + r.error().message());
        detach_links(t);
      } else {
        auto& slot = skel_->bss->slots[t.slot];
        skel_->bss->window_id[t.slot] = skel_->bss->window_id[t.slot] + 1;
        uint64_t opened = monotonic_ns();
        __atomic_store_n(&slot.gate, 1, __ATOMIC_RELEASE);
        t.in_window = true;
        uint32_t target = tgid;
        lock.unlock();
        std::this_thread::sleep_for(kWindow);
        lock.lock();
        __atomic_store_n(&slot.gate, 0, __ATOMIC_RELEASE);
        auto again = targets_.find(target);  // detach() waits for in_window, so it is still there
        if (again != targets_.end()) {
          const uint64_t closed = monotonic_ns();
          again->second.open += std::chrono::nanoseconds(closed - opened);
          ++again->second.windows;
          again->second.hot.clear();  // malloc and free only; see above
          again->second.in_window = false;
          log::debug("duty window for PID " + std::to_string(target) + ": attach " +
                     std::to_string((opened - attach_start) / 1000) + " us, open " +
                     std::to_string((closed - opened) / 1000) + " us, detach " +
                     std::to_string((monotonic_ns() - closed) / 1000) + " us");
        }
        cv_.notify_all();
      }
      double period_ms = static_cast<double>(kWindow.count()) * 1000.0 / t.config.duty_permille;
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      t.next_window = now + std::chrono::microseconds(static_cast<int64_t>(period_ms * jitter(rng) * 1000.0));
      break;  // targets_ may have changed while unlocked: start over
    }
    cv_.wait_until(lock, wake);
  }
}

void MallocProbe::drain(const std::function<void(const RawAllocs&)>& fn) {
  uint32_t seq = skel_->bss->active_generation;
  uint32_t old = seq & 1;
  skel_->bss->active_generation = seq + 1;
  int fd = bpf_map__fd(old ? skel_->maps.counts1 : skel_->maps.counts0);
  drain_counts<scorch_malloc_key, scorch_malloc_value>(fd, [&](const auto& key, const auto& value) {
    RawAllocs r;
    r.tgid = key.tgid;
    r.stack_hash = key.stack_hash;
    r.calls = value.calls;
    r.bytes = value.bytes;
    r.est_calls_q16 = value.est_calls_q16;
    r.est_bytes = value.est_bytes;
    fn(r);
  });
}

const std::vector<uint64_t>& MallocProbe::stack(uint64_t hash) {
  auto [it, inserted] = stacks_.try_emplace(hash);
  if (inserted && hash != 0) {
    scorch_ustack value{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stacks), &hash, &value) == 0) {
      for (uint64_t ip : value.ips) {
        if (ip == 0) break;
        it->second.push_back(ip);
      }
    }
  }
  return it->second;
}

Result<void> MallocProbe::reattach(uint32_t tgid, const Allocator& allocator) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(tgid);
  if (it == targets_.end()) return {};
  Target& t = it->second;
  detach_links(t);
  t.allocator = allocator;
  if (t.config.duty_permille) return {};  // the next window attaches to the new allocator
  return attach_links(tgid, t);
}

std::vector<LiveStack> MallocProbe::live(uint32_t tgid, uint64_t born_before_ns) const {
  std::unordered_map<uint64_t, LiveStack> by_stack;
  int fd = bpf_map__fd(skel_->maps.live);
  for (const auto& key : all_keys<scorch_live_key>(fd)) {
    if (key.tgid != tgid) continue;
    scorch_live_value v{};
    if (bpf_map_lookup_elem(fd, &key, &v) != 0 || v.ts_ns > born_before_ns) continue;
    auto& ls = by_stack[v.stack_hash];
    ls.stack_hash = v.stack_hash;
    ls.objects += 1;
    ls.bytes += v.size;
    if (ls.oldest_ns == 0 || v.ts_ns < ls.oldest_ns) ls.oldest_ns = v.ts_ns;
  }
  std::vector<LiveStack> out;
  for (auto& [h, ls] : by_stack) out.push_back(ls);
  return out;
}

void MallocProbe::clear_live(uint32_t tgid) {
  int fd = bpf_map__fd(skel_->maps.live);
  for (const auto& key : all_keys<scorch_live_key>(fd))
    if (key.tgid == tgid) bpf_map_delete_elem(fd, &key);
}

MallocProbe::Counters MallocProbe::counters() const {
  uint64_t c[SCORCH_M_MAX] = {};
  sum_percpu_counters(bpf_map__fd(skel_->maps.counters), SCORCH_M_MAX, c);
  Counters r;
  r.calls = c[SCORCH_M_CALLS];
  r.frees = c[SCORCH_M_FREES];
  r.nested = c[SCORCH_M_NESTED];
  r.sampled = c[SCORCH_M_SAMPLED];
  r.other_process = c[SCORCH_M_OTHER_PROCESS];
  r.map_full = c[SCORCH_M_MAP_FULL];
  r.live_full = c[SCORCH_M_LIVE_FULL];
  r.stack_lost = c[SCORCH_M_STACK_LOST];
  r.no_storage = c[SCORCH_M_NO_STORAGE];
  r.free_unknown = c[SCORCH_M_FREE_UNKNOWN];
  r.walks = c[SCORCH_M_WALKS];
  r.memo_hits = c[SCORCH_M_MEMO_HITS];
  return r;
}

}  // namespace scorch
