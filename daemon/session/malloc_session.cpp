// The malloc measure: sessions that trace a process's allocator with uprobes.
#include "session/malloc_session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include <linux/types.h>

#include "alloc/allocator.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proc_tasks.h"
#include "malloc.h"
#include "session/frames.h"
#include "session/profiler.h"  // process_alive
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 20) && b % (1ull << 20) == 0)
    std::snprintf(buf, sizeof(buf), "%llu MiB", static_cast<unsigned long long>(b >> 20));
  else if (b >= 1024 && b % 1024 == 0)
    std::snprintf(buf, sizeof(buf), "%llu KiB", static_cast<unsigned long long>(b >> 10));
  else
    std::snprintf(buf, sizeof(buf), "%llu bytes", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

class MallocSession : public MeasureSession {
 public:
  MallocSession(MallocMeasure& measure, Session& core, const proto::MallocOptions& options)
      : measure_(measure), core_(core), options_(options) {
    measure_.sessions_.push_back(this);
    core_.dropped_means = "their calls are not counted";
    core_.noun = "trace";
  }
  ~MallocSession() override {
    for (uint32_t pid : attached_) measure_.probe_->detach(pid);
    std::erase(measure_.sessions_, this);
  }
  Result<void> attach();
  std::string detail() const override {
    if (options_.outstanding) return "outstanding";
    if (options_.sample_bytes) return "sampled, 1 per " + human_bytes(options_.sample_bytes);
    if (options_.duty_permille)
      return "duty " + std::to_string(options_.duty_permille / 10) + "." + std::to_string(options_.duty_permille % 10) +
             "%";
    return "count mode";
  }
  void lose(uint32_t pid) override;
  void stopping() override {
    if (options_.duty_permille)
      for (uint32_t pid : attached_) measure_.probe_->stop_windows(pid);
  }
  void finish(Profile& p) override;

  struct Allocs {
    uint64_t calls = 0, bytes = 0, est_calls_q16 = 0, est_bytes = 0;
  };
  void add(const RawAllocs& r) {
    auto found = allocs_.find({r.tgid, r.stack_hash});
    if (found == allocs_.end()) {
      // A row, and the frames its stack becomes at the end.
      if (!core_.charge(256)) return;
      found = allocs_.emplace(std::pair{r.tgid, r.stack_hash}, Allocs{}).first;
    }
    auto& a = found->second;
    a.calls += r.calls;
    a.bytes += r.bytes;
    a.est_calls_q16 += r.est_calls_q16;
    a.est_bytes += r.est_bytes;
    core_.events += r.calls;
  }
  Session& core() { return core_; }
  void execed(uint32_t pid, const Result<Allocator>& a, const Result<void>& r) {
    core_.notes.push_back("PID " + std::to_string(pid) + " exec'd: " +
                          (r ? "allocator now " + a->describe() : "not traced since: " + r.error().message()));
  }

 private:
  std::vector<Frame> frames(uint32_t pid, uint64_t hash) {
    // Leaf first from the kernel: the leaf is the probed instruction itself (exact); every other
    // frame is a return address, looked up one byte earlier.
    const std::vector<uint64_t>& ips = measure_.probe_->stack(hash);
    std::vector<Frame> f;
    if (ips.empty()) {
      f.push_back(Frame{hash ? "[lost stack]" : "[no stack]", false});
      return f;
    }
    static const FrameRules kRules{UserLeaf::kExact, true, false};
    stack_frames(measure_.symbolizer_, pid, ips, {}, kRules, f);
    return f;
  }

  MallocMeasure& measure_;
  Session& core_;
  proto::MallocOptions options_;
  std::vector<uint32_t> attached_;
  MallocProbe::Counters at_start_;
  std::map<std::pair<uint32_t, uint64_t>, Allocs> allocs_;   // {pid, stack hash}
  std::map<uint32_t, std::string> comms_;                    // each pid's comm at the start
  std::map<uint32_t, std::vector<LiveStack>> live_at_loss_;  // --outstanding: blocks live when tracing stopped
  std::map<std::pair<uint32_t, uint64_t>, std::vector<Frame>> frames_at_loss_;  // named while the program ran
};

Result<void> MallocSession::attach() {
  MallocProbe& probe = *measure_.probe_;
  const MallocProbe::Config cfg{options_.outstanding, options_.sample_bytes, options_.duty_permille};
  for (uint32_t pid : core_.pids) {
    if (!process_alive(pid))
      return Error{"trace allocations of PID " + std::to_string(pid), "no such process", ESRCH, {}};
    auto allocator = find_allocator(pid);
    if (!allocator) return allocator.error();
    if (auto r = probe.attach(pid, *allocator, cfg); !r) return r.error();
    attached_.push_back(pid);
    comms_[pid] = task_comm(pid).value_or("");
    std::string who = core_.pids.size() > 1 ? "PID " + std::to_string(pid) + ": " : "";
    core_.notes.push_back(who + "allocator: " + allocator->describe());
    core_.notes.push_back(
        who + "probes: " + allocator->probe_sites() +
        (cfg.outstanding ? "; return probes on the allocating functions" : "; free is not probed when counting"));
    for (const auto& n : allocator->notes) core_.notes.push_back(who + n);
  }
  if (cfg.sample_bytes)
    core_.notes.push_back("sampled: one sample per " + human_bytes(cfg.sample_bytes) +
                          " allocated on average, per thread (exponential gaps); each sample stands for that many "
                          "bytes, so bytes and calls are unbiased estimates");
  if (cfg.duty_permille)
    core_.notes.push_back("duty cycle: probes attached " + std::to_string(MallocProbe::kWindow.count()) +
                          " ms at a time, about " + std::to_string(cfg.duty_permille / 10) + "." +
                          std::to_string(cfg.duty_permille % 10) +
                          "% of the time, at random gaps; counts are scaled by elapsed / attached time");
  at_start_ = probe.counters();
  return {};
}

void MallocSession::lose(uint32_t pid) {
  if (std::find(attached_.begin(), attached_.end(), pid) == attached_.end()) return;
  // What was live when tracing stopped, named while the program still runs.
  auto& live = live_at_loss_[pid];
  if (options_.outstanding) {
    const uint64_t now = monotonic_ns();
    live = measure_.probe_->live(pid, options_.min_age_ns < now ? now - options_.min_age_ns : 0);
  }
  for (const auto& [key, a] : allocs_)
    if (key.first == pid) frames_at_loss_.emplace(key, frames(pid, key.second));
  for (const auto& ls : live) frames_at_loss_.emplace(std::make_pair(pid, ls.stack_hash), frames(pid, ls.stack_hash));
  measure_.probe_->detach(pid);
  std::erase(attached_, pid);
}

void MallocSession::finish(Profile& p) {
  const auto& cfg = options_;
  MallocProbe& probe = *measure_.probe_;
  p.value_names = {"calls", "bytes"};
  if (cfg.outstanding) p.value_names.insert(p.value_names.end(), {"live_objects", "live_bytes", "oldest_age_ms"});
  p.unit = cfg.outstanding ? "live bytes" : options_.weight_calls ? "calls" : "bytes";

  const uint64_t now = monotonic_ns();
  struct Row {
    std::vector<uint64_t> values;
  };
  std::map<std::pair<uint32_t, uint64_t>, Row> rows;
  const size_t nvalues = p.value_names.size();
  for (uint32_t pid : core_.pids) {
    double scale = 1.0;
    if (cfg.duty_permille && core_.traces(pid)) {
      auto d = probe.duty(pid);
      double effective = d.effective_ns(probe.trap_ns());
      if (d.open.count() > 0) scale = static_cast<double>(p.duration_ns) / effective;
      char buf[320];
      std::snprintf(
          buf, sizeof(buf),
          "duty cycle of PID %u: %llu windows, attached %.2f%% of %.1f s; %llu probe hits cost %.1f ms "
          "(%.0f ns a trap, measured at start, plus the programs' own time), taken out of the windows' "
          "time; counts x %.1f",
          pid, static_cast<unsigned long long>(d.windows),
          p.duration_ns ? 100.0 * static_cast<double>(d.open.count()) / static_cast<double>(p.duration_ns) : 0.0,
          static_cast<double>(p.duration_ns) / 1e9, static_cast<unsigned long long>(d.hits),
          (static_cast<double>(d.open.count()) - effective) / 1e6, probe.trap_ns(), scale);
      p.notes.push_back(buf);
      const double open_ns = static_cast<double>(d.open.count());
      if (open_ns > 0 && open_ns - effective > 0.5 * open_ns)
        p.notes.push_back("the probes took " + std::to_string(static_cast<int>(100 * (open_ns - effective) / open_ns)) +
                          "% of the windows' time: the program spends most of its time in the allocator, so the "
                          "duty-cycle estimate can be far off (count mode or --sample-bytes give real counts)");
      if (d.open.count() == 0)
        p.notes.push_back("no window opened for PID " + std::to_string(pid) + ": nothing to scale");
    }
    for (const auto& [key, a] : allocs_) {
      if (key.first != pid) continue;
      auto& row = rows[key];
      row.values.assign(nvalues, 0);
      double calls = cfg.sample_bytes ? static_cast<double>(a.est_calls_q16) / 65536.0 : static_cast<double>(a.calls);
      double bytes = cfg.sample_bytes ? static_cast<double>(a.est_bytes) : static_cast<double>(a.bytes);
      row.values[0] = static_cast<uint64_t>(std::llround(calls * scale));
      row.values[1] = static_cast<uint64_t>(std::llround(bytes * scale));
    }
    if (cfg.outstanding) {
      // A process let go (its credentials changed) shows what was live when tracing stopped.
      uint64_t cutoff = options_.min_age_ns < now ? now - options_.min_age_ns : 0;
      auto lost = live_at_loss_.find(pid);
      for (const auto& ls : lost != live_at_loss_.end() ? lost->second : probe.live(pid, cutoff)) {
        auto& row = rows[{pid, ls.stack_hash}];
        if (row.values.empty()) row.values.assign(nvalues, 0);
        row.values[2] = ls.objects;
        row.values[3] = ls.bytes;
        row.values[4] = ls.oldest_ns && ls.oldest_ns < now ? (now - ls.oldest_ns) / 1'000'000 : 0;
      }
    }
  }
  for (auto& [key, row] : rows) {
    StackCount sc;
    sc.pid = key.first;
    // The comm at the start: a process that exec'd since (a privileged program included) is
    // shown under the name it had while traced.
    auto c = comms_.find(key.first);
    sc.comm = c != comms_.end() ? c->second : task_comm(key.first).value_or("");
    auto named = frames_at_loss_.find(key);
    sc.frames = named != frames_at_loss_.end() ? named->second : frames(key.first, key.second);
    sc.values = row.values;
    sc.count = cfg.outstanding ? row.values[3] : options_.weight_calls ? row.values[0] : row.values[1];
    p.stacks.push_back(std::move(sc));
  }

  // Counters over the session (system-wide while it ran).
  MallocProbe::Counters now_c = probe.counters();
  const auto& was = at_start_;
  p.drops.samples = now_c.calls - was.calls;
  p.drops.add("map_full", now_c.map_full - was.map_full);
  p.drops.add("lost_stacks", now_c.stack_lost - was.stack_lost);
  if (uint64_t n = now_c.live_full - was.live_full; n)
    p.notes.push_back(std::to_string(n) + " blocks not tracked: the live-block map was full (" +
                      std::to_string(SCORCH_MALLOC_LIVE_ENTRIES) + " entries)");
  if (uint64_t n = now_c.no_storage - was.no_storage; n)
    p.notes.push_back(std::to_string(n) + " calls not traced: no per-thread storage could be created");
  if (uint64_t n = now_c.nested - was.nested; n)
    p.notes.push_back(
        std::to_string(n) +
        (n == 1 ? " allocator call made inside another one was" : " allocator calls made inside another one were") +
        " not counted twice");
  if (cfg.outstanding) {
    if (uint64_t n = now_c.free_unknown - was.free_unknown; n)
      p.notes.push_back(std::to_string(n) + " frees of blocks allocated before tracing began (ignored)");
    p.notes.push_back(options_.min_age_ns ? "live: blocks allocated while traced, still live at the end and at least " +
                                                std::to_string(options_.min_age_ns / 1'000'000) + " ms old"
                                          : "live: blocks allocated while traced and still live at the end");
  }
}

MallocMeasure::MallocMeasure(std::unique_ptr<MallocProbe> probe, Symbolizer& symbolizer)
    : probe_(std::move(probe)), symbolizer_(symbolizer) {}

Result<std::unique_ptr<Measure>> MallocMeasure::load(MeasureEnv& env) {
  if (!env.features.has(Feature::kUprobes))
    return Error{"load the malloc program", "no uprobes: " + env.features.get(Feature::kUprobes).detail, ENOTSUP, {}};
  if (!env.unwind_maps) return Error{"load the malloc program", "no unwind maps", EINVAL, {}};
  auto probe = MallocProbe::load(*env.unwind_maps);
  if (!probe) return probe.error();
  return std::unique_ptr<Measure>(new MallocMeasure(std::move(*probe), env.symbolizer));
}

Result<std::unique_ptr<MeasureSession>> MallocMeasure::start(Session& core, std::span<const uint8_t> options) {
  auto o = proto::decode_malloc_options(options);
  if (!o) return o.error();
  if (core.whole_system())
    return Error{"trace allocations", "no process named", EINVAL, "malloc tracing attaches to processes: give -p PID"};
  auto s = std::make_unique<MallocSession>(*this, core, *o);
  if (auto r = s->attach(); !r) return r.error();
  return std::unique_ptr<MeasureSession>(std::move(s));
}

void MallocMeasure::drain() {
  std::unordered_map<uint32_t, std::vector<MallocSession*>> by_pid;
  for (MallocSession* s : sessions_)
    for (uint32_t pid : s->core().pids)
      if (s->core().traces(pid)) by_pid[pid].push_back(s);
  probe_->drain([&](const RawAllocs& r) {
    auto p = by_pid.find(r.tgid);
    if (p == by_pid.end()) return;
    for (MallocSession* s : p->second) s->add(r);
  });
}

void MallocMeasure::execed(uint32_t pid) {
  if (!probe_->attached(pid)) return;
  // The new program may use another allocator (or the same one at the same offsets).
  auto a = find_allocator(pid);
  auto r = a ? probe_->reattach(pid, *a) : Result<void>(a.error());
  for (MallocSession* s : sessions_)
    if (s->core().traces(pid)) s->execed(pid, a, r);
}

std::vector<std::string> MallocMeasure::status() const {
  auto c = probe_->counters();
  return {"malloc: " + std::to_string(c.calls) + " allocator calls traced, " + std::to_string(c.frees) + " frees, " +
          std::to_string(c.sampled) + " sampled, " + std::to_string(c.nested) + " nested (not counted twice), " +
          std::to_string(c.other_process) +
          " hits in untraced processes (fork children); stacks: " + std::to_string(c.walks) + " walked, " +
          std::to_string(c.memo_hits) + " unchanged since their site's last walk; lost: " + std::to_string(c.map_full) +
          " (counts map full), " + std::to_string(c.live_full) + " (live map full), " + std::to_string(c.stack_lost) +
          " stacks, " + std::to_string(c.no_storage) + " (no thread storage)"};
}

DropCounters MallocMeasure::totals() const {
  auto c = probe_->counters();
  DropCounters d;
  d.samples = c.calls;
  d.add("map_full", c.map_full);
  d.add("live_full", c.live_full);
  d.add("lost_stacks", c.stack_lost);
  d.add("no_storage", c.no_storage);
  return d;
}

}  // namespace scorch
