// The malloc measure of Profiler: sessions that trace a process's allocator with uprobes.
#include <algorithm>
#include <cmath>

#include "alloc/allocator.h"
#include "common/log.h"
#include <linux/types.h>

#include "malloc.h"
#include "session/profiler.h"
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

std::string read_comm(uint32_t pid) {
  std::string comm;
  if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof(buf), f)) comm = buf;
    std::fclose(f);
  }
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

}  // namespace

Result<void> Profiler::start_malloc(Session& s) {
  if (!malloc_)
    return Error{"trace allocations", "the malloc program is not loaded: " + malloc_error_, ENOTSUP,
                 "see 'scorch status' for the kernel features this machine lacks"};
  if (s.pids.empty())
    return Error{"trace allocations", "no process named", EINVAL, "malloc tracing attaches to processes: give -p PID"};
  const auto& cfg = s.spec.malloc;
  auto undo = [&] { release(s); };
  for (uint32_t pid : s.pids) {
    if (!process_alive(pid))
      return Error{"trace allocations of PID " + std::to_string(pid), "no such process", ESRCH, {}};
    auto allocator = find_allocator(pid);
    if (!allocator) {
      undo();
      return allocator.error();
    }
    // Stacks from .eh_frame tables, so callers without frame pointers are whole.
    symbolizer_.prepare(pid);
    if (auto loaded = unwinder_.attach(pid); loaded) {
      s.unwound.push_back(pid);
    } else {
      s.notes.push_back("PID " + std::to_string(pid) + ": user stacks from frame pointers (" + loaded.error().message() + ")");
    }
    if (auto r = malloc_->attach(pid, *allocator, cfg); !r) {
      undo();
      return r.error();
    }
    s.malloc_attached.push_back(pid);
    s.comms[pid] = read_comm(pid);
    std::string who = s.pids.size() > 1 ? "PID " + std::to_string(pid) + ": " : "";
    s.notes.push_back(who + "allocator: " + allocator->describe());
    s.notes.push_back(who + "probes: " + allocator->probe_sites() +
                      (cfg.outstanding ? "; return probes on the allocating functions" : "; free is not probed when counting"));
    for (const auto& n : allocator->notes) s.notes.push_back(who + n);
  }
  if (cfg.sample_bytes)
    s.notes.push_back("sampled: one sample per " + human_bytes(cfg.sample_bytes) +
                      " allocated on average, per thread (exponential gaps); each sample stands for that many bytes, "
                      "so bytes and calls are unbiased estimates");
  if (cfg.duty_permille)
    s.notes.push_back("duty cycle: probes attached " + std::to_string(MallocProbe::kWindow.count()) +
                      " ms at a time, about " + std::to_string(cfg.duty_permille / 10) + "." +
                      std::to_string(cfg.duty_permille % 10) +
                      "% of the time, at random gaps; counts are scaled by elapsed / attached time");
  s.started = Clock::now();
  s.started_mono_ns = monotonic_ns();
  s.malloc_at_start = malloc_->counters();
  return {};
}

void Profiler::drain_malloc() {
  if (!malloc_) return;
  const ByPid by = sessions_by_pid(&Session::malloc);
  malloc_->drain([&](const RawAllocs& r) {
    auto p = by.pid.find(r.tgid);
    if (p == by.pid.end()) return;
    for (Session* s : p->second) {
      auto found = s->allocs.find({r.tgid, r.stack_hash});
      if (found == s->allocs.end()) {
        // A row, and the frames its stack becomes at the end.
        if (!charge(*s, 256)) continue;
        found = s->allocs.emplace(std::pair{r.tgid, r.stack_hash}, Session::Allocs{}).first;
      }
      auto& a = found->second;
      a.calls += r.calls;
      a.bytes += r.bytes;
      a.est_calls_q16 += r.est_calls_q16;
      a.est_bytes += r.est_bytes;
      s->samples += r.calls;
    }
  });
}

std::vector<Frame> Profiler::malloc_frames(uint32_t pid, uint64_t hash) {
  // Leaf first from the kernel: the leaf is the probed instruction itself (exact); every other
  // frame is a return address, looked up one byte earlier.
  const std::vector<uint64_t>& ips = malloc_->stack(hash);
  std::vector<uint64_t> user(ips.rbegin(), ips.rend());
  for (size_t i = 0; i + 1 < user.size(); ++i) user[i] -= 1;
  std::vector<Frame> frames;
  for (auto& name : symbolizer_.symbolize_user(pid, user)) frames.push_back(Frame{std::move(name), false});
  if (frames.empty()) frames.push_back(Frame{hash ? "[lost stack]" : "[no stack]", false});
  return frames;
}

void Profiler::finish_malloc(Session& s, Profile& p) {
  const auto& cfg = s.spec.malloc;
  p.measure = "malloc";
  p.pids = s.spec.pids;
  p.value_names = {"calls", "bytes"};
  if (cfg.outstanding) p.value_names.insert(p.value_names.end(), {"live_objects", "live_bytes", "oldest_age_ms"});
  p.unit = cfg.outstanding ? "live bytes" : s.spec.weight_calls ? "calls" : "bytes";

  const uint64_t now = monotonic_ns();
  struct Row {
    std::vector<uint64_t> values;
  };
  std::map<std::pair<uint32_t, uint64_t>, Row> rows;
  const size_t nvalues = p.value_names.size();
  for (uint32_t pid : s.pids) {
    double scale = 1.0;
    if (cfg.duty_permille && s.traces(pid)) {
      auto d = malloc_->duty(pid);
      double effective = d.effective_ns(malloc_->trap_ns());
      if (d.open.count() > 0) scale = static_cast<double>(p.duration_ns) / effective;
      char buf[320];
      std::snprintf(buf, sizeof(buf),
                    "duty cycle of PID %u: %llu windows, attached %.2f%% of %.1f s; %llu probe hits cost %.1f ms "
                    "(%.0f ns a trap, measured at start, plus the programs' own time), taken out of the windows' "
                    "time; counts x %.1f",
                    pid, static_cast<unsigned long long>(d.windows),
                    p.duration_ns ? 100.0 * static_cast<double>(d.open.count()) / static_cast<double>(p.duration_ns) : 0.0,
                    static_cast<double>(p.duration_ns) / 1e9, static_cast<unsigned long long>(d.hits),
                    (static_cast<double>(d.open.count()) - effective) / 1e6, malloc_->trap_ns(), scale);
      p.notes.push_back(buf);
      const double open_ns = static_cast<double>(d.open.count());
      if (open_ns > 0 && open_ns - effective > 0.5 * open_ns)
        p.notes.push_back("the probes took " + std::to_string(static_cast<int>(100 * (open_ns - effective) / open_ns)) +
                          "% of the windows' time: the program spends most of its time in the allocator, so the "
                          "duty-cycle estimate can be far off (count mode or --sample-bytes give real counts)");
      if (d.open.count() == 0) p.notes.push_back("no window opened for PID " + std::to_string(pid) + ": nothing to scale");
    }
    for (const auto& [key, a] : s.allocs) {
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
      uint64_t cutoff = s.spec.min_age_ns < now ? now - s.spec.min_age_ns : 0;
      auto lost = s.live_at_loss.find(pid);
      for (const auto& ls : lost != s.live_at_loss.end() ? lost->second : malloc_->live(pid, cutoff)) {
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
    auto c = s.comms.find(key.first);
    sc.comm = c != s.comms.end() ? c->second : read_comm(key.first);
    auto named = s.frames_at_loss.find(key);
    sc.frames = named != s.frames_at_loss.end() ? named->second : malloc_frames(key.first, key.second);
    sc.values = row.values;
    sc.count = cfg.outstanding ? row.values[3] : s.spec.weight_calls ? row.values[0] : row.values[1];
    p.stacks.push_back(std::move(sc));
  }

  // Counters over the session (system-wide while it ran).
  MallocProbe::Counters now_c = malloc_->counters();
  const auto& was = s.malloc_at_start;
  p.drops.samples = now_c.calls - was.calls;
  p.drops.map_full = now_c.map_full - was.map_full;
  p.drops.lost_stacks = now_c.stack_lost - was.stack_lost;
  if (uint64_t n = now_c.live_full - was.live_full; n)
    p.notes.push_back(std::to_string(n) + " blocks not tracked: the live-block map was full (" +
                      std::to_string(SCORCH_MALLOC_LIVE_ENTRIES) + " entries)");
  if (uint64_t n = now_c.no_storage - was.no_storage; n)
    p.notes.push_back(std::to_string(n) + " calls not traced: no per-thread storage could be created");
  if (uint64_t n = now_c.nested - was.nested; n)
    p.notes.push_back(std::to_string(n) + (n == 1 ? " allocator call made inside another one was" : " allocator calls made inside another one were") +
                      " not counted twice");
  if (cfg.outstanding) {
    if (uint64_t n = now_c.free_unknown - was.free_unknown; n)
      p.notes.push_back(std::to_string(n) + " frees of blocks allocated before tracing began (ignored)");
    p.notes.push_back(s.spec.min_age_ns ? "live: blocks allocated while traced, still live at the end and at least " +
                                              std::to_string(s.spec.min_age_ns / 1'000'000) + " ms old"
                                        : "live: blocks allocated while traced and still live at the end");
  }
  if (p.drops.map_full + p.drops.lost_stacks > 0) p.notes.push_back("drop counters are system-wide for the time this trace ran");
  for (uint32_t pid : s.pids)
    if (s.traces(pid) && !process_alive(pid)) p.notes.push_back("process " + std::to_string(pid) + " exited during the trace");
  p.notes.insert(p.notes.end(), s.notes.begin(), s.notes.end());
}

}  // namespace scorch
