#include "session/profiler.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "alloc/allocator.h"
#include "common/log.h"
#include "symbolize/symbolizer.h"

namespace scorch {

uint64_t period_for_hz(uint32_t hz) { return hz == 0 ? 0 : 1'000'000'000ull / hz; }

bool process_alive(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  char state = line[paren + 2];
  return state != 'Z' && state != 'X';
}

Profiler::Profiler(OnCpuProbe& probe, OffCpuProbe* offcpu, std::string offcpu_error, UnwindMaps& unwind_maps,
                   Symbolizer& symbolizer, MallocProbe* malloc, std::string malloc_error)
    : probe_(probe),
      offcpu_(offcpu),
      offcpu_error_(std::move(offcpu_error)),
      malloc_(malloc),
      malloc_error_(std::move(malloc_error)),
      symbolizer_(symbolizer),
      unwinder_(unwind_maps),
      cred_watch_(unwind_maps.cred_watch_fd(), unwind_maps.cred_watch_on_fd()) {}

Profiler::~Profiler() {
  for (const auto& [id, s] : sessions_) release(*s);
}

Result<uint64_t> Profiler::start(const SessionSpec& spec) {
  // Whatever the kernel holds now predates this session: hand it to the sessions that exist.
  drain();

  auto s = std::make_unique<Session>();
  s->id = next_id_++;
  s->spec = spec;
  s->period_ns = period_for_hz(spec.frequency_hz);
  s->malloc = spec.measure == proto::Measure::kMalloc;
  s->on_cpu = spec.measure == proto::Measure::kCpu || spec.measure == proto::Measure::kWall;
  s->off_cpu = spec.measure == proto::Measure::kOffCpu || spec.measure == proto::Measure::kWall;
  s->pids.insert(spec.pids.begin(), spec.pids.end());
  s->unwind_at_start = unwinder_.file_frames_now();
  if (s->pids.empty()) s->targets.push_back(OnCpuProbe::kPidAny);
  s->targets.insert(s->targets.end(), s->pids.begin(), s->pids.end());
  if (s->off_cpu && !offcpu_)
    return Error{"trace off-CPU time", "the off-CPU program is not loaded: " + offcpu_error_, ENOTSUP,
                 "see 'scorch status' for the kernel features this machine lacks"};
  if (auto r = watch_creds(*s); !r) return r.error();
  if (s->malloc) {
    if (auto r = start_malloc(*s); !r) {
      for (uint32_t pid : s->watched) cred_watch_.unwatch(pid);
      return r.error();
    }
    uint64_t id = s->id;
    sessions_.emplace(id, std::move(s));
    return id;
  }

  // User stacks of the named processes are unwound from .eh_frame tables, so they are whole
  // without frame pointers; where no table loads, frame pointers remain. Tables go in before the
  // first event, so no stack of the session is a frame-pointer leftover.
  for (uint32_t pid : s->pids) {
    symbolizer_.prepare(pid);  // names survive the process exiting before the first drain
    auto loaded = unwinder_.attach(pid);
    if (loaded) {
      s->unwound.push_back(pid);
      if (!loaded->without_tables.empty()) {
        std::string files;
        for (const auto& f : loaded->without_tables) files += (files.empty() ? "" : ", ") + f;
        s->notes.push_back("PID " + std::to_string(pid) + ": no unwind tables for " + files +
                           " (frames there are walked by frame pointers)");
      }
    } else {
      s->notes.push_back("PID " + std::to_string(pid) + ": user stacks from frame pointers (" +
                         loaded.error().message() + ")");
    }
  }
  // Filter entry and sampler (or off-CPU filter) per target; on failure, undo what was added.
  size_t done = 0;
  for (; done < s->targets.size(); ++done) {
    uint32_t t = s->targets[done];
    Result<void> r;
    if (s->on_cpu) {
      auto id = probe_.add_sampler(t, SamplerEvent::cpu_clock(s->period_ns));
      if (id) s->sampler_of[t] = *id;
      else r = id.error();
    }
    if (r && s->off_cpu) {
      r = offcpu_->add_filter(t, spec.offcpu_filter);
      if (!r && s->on_cpu) release_target(t, s->period_ns);
    }
    if (!r) {
      for (size_t i = 0; i < done; ++i) {
        if (s->on_cpu) release_target(s->targets[i], s->period_ns);
        if (s->off_cpu) offcpu_->remove_filter(s->targets[i]);
      }
      for (uint32_t pid : s->unwound) unwinder_.detach(pid);
      for (uint32_t pid : s->watched) cred_watch_.unwatch(pid);
      return r.error();
    }
  }
  s->started = Clock::now();
  s->drops_at_start = probe_.counters();
  s->started_mono_ns = monotonic_ns();
  if (offcpu_) s->off_at_start = offcpu_->counters();
  uint64_t id = s->id;
  sessions_.emplace(id, std::move(s));
  return id;
}

void Profiler::add_unwind_notes(const Session& s, Profile& p) const {
  std::vector<uint32_t> ids{0};  // pcs in no file (vdso, JIT, bad addresses) as well
  for (uint32_t pid : s.unwound) {
    auto it = unwinder_.processes().find(pid);
    if (it != unwinder_.processes().end()) ids.insert(ids.end(), it->second.file_ids.begin(), it->second.file_ids.end());
  }
  if (ids.size() == 1) return;  // nothing was unwound from tables
  auto files = unwinder_.file_frames_since(s.unwind_at_start, ids);
  for (const auto& f : files) p.notes.push_back("user frames in " + UnwindLoader::describe(f));
  if (!files.empty())
    p.notes.push_back("user frames are counted per file, over every profile that unwound it while this one ran");
}

void Profiler::release_target(uint32_t target, uint64_t period_ns) {
  probe_.remove_sampler(target, SamplerEvent::cpu_clock(period_ns));
}

Result<void> Profiler::watch_creds(Session& s) {
  if (s.spec.uid == 0) return {};  // root may trace what it likes, set-user-ID programs included
  for (uint32_t pid : s.pids) {
    auto creds = read_process_creds(pid);
    Result<void> r;
    if (!creds) {
      r = Error{"trace PID " + std::to_string(pid), "no such process", ESRCH, {}};
    } else if (creds->ids[0] != s.spec.uid || creds->ids[2] != s.spec.uid || creds->ids[4] != s.spec.uid) {
      r = Error{"trace PID " + std::to_string(pid), "permission denied: its uids are no longer all " +
                std::to_string(s.spec.uid), EPERM, {}};
    } else {
      r = cred_watch_.watch(pid, *creds);
    }
    if (!r) {
      for (uint32_t w : s.watched) cred_watch_.unwatch(w);
      s.watched.clear();
      return r;
    }
    s.watched.push_back(pid);
  }
  return {};
}

void Profiler::check_creds() {
  auto changes = cred_watch_.changes();
  if (changes.empty()) return;
  // What the kernel holds of them predates the change (the programs record nothing after it):
  // it still belongs to the sessions, so it is drained before they let go.
  drain_samples();
  drain_malloc();
  for (const auto& change : changes)
    for (auto& [id, s] : sessions_)
      if (s->spec.uid != 0 && s->traces(change.pid)) lose(*s, change.pid, change.what);
}

void Profiler::lose(Session& s, uint32_t pid, const std::string& what) {
  s.lost.insert(pid);
  if (s.on_cpu) release_target(pid, s.period_ns);
  if (s.off_cpu) offcpu_->remove_filter(pid);
  std::erase(s.targets, pid);
  if (s.malloc && std::find(s.malloc_attached.begin(), s.malloc_attached.end(), pid) != s.malloc_attached.end()) {
    // Malloc stacks are named when the trace ends, by then perhaps in another program: name them now.
    auto& live = s.live_at_loss[pid];
    if (s.spec.malloc.outstanding) {
      const uint64_t now = monotonic_ns();
      live = malloc_->live(pid, s.spec.min_age_ns < now ? now - s.spec.min_age_ns : 0);
    }
    for (const auto& [key, a] : s.allocs)
      if (key.first == pid) s.frames_at_loss.emplace(key, malloc_frames(pid, key.second));
    for (const auto& ls : live) s.frames_at_loss.emplace(std::make_pair(pid, ls.stack_hash), malloc_frames(pid, ls.stack_hash));
    malloc_->detach(pid);
    std::erase(s.malloc_attached, pid);
  }
  if (std::find(s.unwound.begin(), s.unwound.end(), pid) != s.unwound.end()) {
    unwinder_.detach(pid);
    std::erase(s.unwound, pid);
  }
  if (std::find(s.watched.begin(), s.watched.end(), pid) != s.watched.end()) {
    cred_watch_.unwatch(pid);
    std::erase(s.watched, pid);
  }
  const double after_s = static_cast<double>((Clock::now() - s.started) / std::chrono::milliseconds(1)) / 1000.0;
  char when[32];
  std::snprintf(when, sizeof(when), "%.1f s", after_s);
  s.notes.push_back("tracing of PID " + std::to_string(pid) + " stopped after " + when + ": its credentials changed (" +
                    what + "; a set-user-ID or set-group-ID exec?), so uid " + std::to_string(s.spec.uid) +
                    " may no longer trace it (the rule ptrace applies); nothing it did since is in this profile");
  log::info("PID " + std::to_string(pid) + " changed credentials (" + what + "): no longer traced for uid " +
            std::to_string(s.spec.uid));
}

void Profiler::release(const Session& s) {
  for (uint32_t pid : s.watched) cred_watch_.unwatch(pid);
  memory_.release(s.spec.uid, s.held_bytes);
  if (s.malloc) {
    for (uint32_t pid : s.malloc_attached) malloc_->detach(pid);
    for (uint32_t pid : s.unwound) unwinder_.detach(pid);
    return;
  }
  for (uint32_t t : s.targets) {
    if (s.on_cpu) release_target(t, s.period_ns);
    if (s.off_cpu) offcpu_->remove_filter(t);
  }
  for (uint32_t pid : s.unwound) unwinder_.detach(pid);
}

bool Profiler::charge(Session& s, uint64_t bytes) {
  if (memory_.try_acquire(s.spec.uid, bytes) != UidLimits::Verdict::kOk) {
    ++s.dropped_stacks;
    return false;
  }
  if (s.spec.uid != 0) s.held_bytes += bytes;
  return true;
}

Profiler::ByPid Profiler::sessions_by_pid(bool Session::*measure) {
  ByPid by;
  for (auto& [id, s] : sessions_) {
    if (!((*s).*measure)) continue;
    if (s->pids.empty()) by.any.push_back(s.get());
    for (uint32_t pid : s->pids)
      if (s->traces(pid)) by.pid[pid].push_back(s.get());
  }
  return by;
}

void Profiler::add(Session& s, uint32_t pid, std::string_view comm, const std::vector<Frame>& frames,
                   uint64_t count, uint64_t events) {
  std::string key = std::to_string(pid);
  key.push_back('\0');
  key.append(comm);
  for (const auto& f : frames) {
    key.push_back(f.kernel ? '\2' : '\1');
    key.append(f.name);
  }
  s.samples += events;
  auto it = s.index.find(key);
  if (it == s.index.end()) {
    // What a new stack holds: its key, its frames and their names, the table entries.
    uint64_t bytes = 2 * key.size() + frames.size() * sizeof(Frame) + sizeof(StackCount) + 64;
    if (!charge(s, bytes)) {
      // Counted under one stack of its own, so totals stay whole.
      // (Real keys start with a pid, so this one is apart.)
      static const std::string kDropped = "[dropped]";
      it = s.index.find(kDropped);
      if (it == s.index.end()) {
        it = s.index.emplace(kDropped, s.stacks.size()).first;
        s.stacks.push_back(
            StackCount{0, "[dropped]", {Frame{"[dropped: memory cap of this user's sessions]", false}}, 0, {}});
      }
      s.stacks[it->second].count += count;
      return;
    }
    it = s.index.emplace(std::move(key), s.stacks.size()).first;
    s.stacks.push_back(StackCount{pid, std::string(comm), frames, 0, {}});
  }
  s.stacks[it->second].count += count;
}

void Profiler::drain() {
  check_execs();
  drain_samples();
  drain_malloc();
}

void Profiler::check_execs() {
  // First, a target that became privileged is let go by the users who may no longer trace it:
  // its new program is then neither unwound, named nor probed for them.
  check_creds();
  // A target that exec'd another program needs that program's unwind tables and names (a stat
  // of /proc/PID/exe per process; the server calls this every 100 ms, and every drain does).
  std::set<uint32_t> checked;
  for (auto& [id, s] : sessions_) {
    for (uint32_t pid : s->unwound) {
      if (!checked.insert(pid).second) continue;
      auto known = unwinder_.processes().find(pid);
      if (known == unwinder_.processes().end()) continue;
      uint64_t before = known->second.exe_ino;
      auto now = unwinder_.reload_if_exec(pid);
      if (now && now->exe_ino != before) {
        symbolizer_.forget(pid);
        symbolizer_.prepare(pid);
        log::debug("PID " + std::to_string(pid) + " exec'd: unwind tables and symbols reloaded");
        if (malloc_ && malloc_->attached(pid)) {
          // The new program may use another allocator (or the same one at the same offsets).
          auto a = find_allocator(pid);
          auto r = a ? malloc_->reattach(pid, *a) : Result<void>(a.error());
          for (auto& [sid, other] : sessions_)
            if (other->malloc && other->traces(pid))
              other->notes.push_back("PID " + std::to_string(pid) + " exec'd: " +
                                     (r ? "allocator now " + a->describe() : "not traced since: " + r.error().message()));
        }
      }
    }
  }
}

void Profiler::drain_samples() {
  // Always read the maps, even with no session left: samples taken between a session's last
  // drain and the removal of its sampler must be discarded here, not handed to the next session.
  std::vector<Session*> matching;
  std::vector<Frame> frames;
  const ByPid by = sessions_by_pid(&Session::on_cpu);
  auto result = probe_.drain([&](const RawSample& raw) {
    matching.clear();
    auto sampled_by = [&](const Session* s, uint32_t target) {
      auto it = s->sampler_of.find(target);
      return it != s->sampler_of.end() && it->second == raw.sampler;
    };
    for (Session* s : by.any)
      if (sampled_by(s, OnCpuProbe::kPidAny)) matching.push_back(s);
    if (auto p = by.pid.find(raw.tgid); p != by.pid.end())
      for (Session* s : p->second)
        if (sampled_by(s, raw.tgid)) matching.push_back(s);
    if (matching.empty()) return;

    // Root first: user frames outermost..leaf, then kernel entry..leaf. Return addresses point
    // after the call, so they are looked up one byte earlier. The user leaf is the sampled IP
    // itself unless the sample hit the kernel (then it is where user mode will resume).
    frames.clear();
    std::vector<uint64_t> user(raw.user_ips.rbegin(), raw.user_ips.rend());
    for (size_t i = 0; i < user.size(); ++i)
      if (i + 1 < user.size() || !raw.kernel_ips.empty()) user[i] -= 1;
    for (auto& name : symbolizer_.symbolize_user(raw.tgid, user)) frames.push_back(Frame{std::move(name), false});
    size_t nk = raw.kernel_ips.size();
    for (size_t i = 0; i < nk; ++i) {
      uint64_t ip = raw.kernel_ips[nk - 1 - i];
      frames.push_back(Frame{symbolizer_.symbolize_kernel(i + 1 < nk ? ip - 1 : ip), true});
    }
    if (frames.empty()) frames.push_back(Frame{"[no stack]", false});
    // Wall profiles count time: each sample stands for one period of CPU time.
    for (Session* s : matching) add(*s, raw.tgid, raw.comm, frames, s->off_cpu ? raw.count * s->period_ns : raw.count, raw.count);
  });
  if (!result) log::warning(result.error().message());
  drain_offcpu();
}

void Profiler::offcpu_frames(uint32_t tgid, std::span<const uint64_t> user_ips, std::span<const uint64_t> kernel_ips,
                             std::vector<Frame>& frames) {
  // Stacks were taken where the thread blocked: every user frame, the leaf included, is a
  // return address (after a syscall or a call), so each is looked up one byte earlier.
  frames.clear();
  std::vector<uint64_t> user(user_ips.rbegin(), user_ips.rend());
  for (auto& ip : user) ip -= 1;
  for (auto& name : symbolizer_.symbolize_user(tgid, user)) frames.push_back(Frame{std::move(name), false});
  // The leaf end of the kernel stack may still hold the tracing machinery (how many frames
  // depends on the hook and the kernel): the stack ends at the scheduler.
  size_t nk = kernel_ips.size(), first = 0;
  auto tracing = [](const std::string& n) {
    return n.starts_with("__traceiter_") || n.starts_with("__bpf_trace_") || n.starts_with("bpf_trace_run") ||
           n.starts_with("bpf_prog_");
  };
  while (first < nk && tracing(symbolizer_.symbolize_kernel(kernel_ips[first]))) ++first;
  // Every frame kept is a return address (the leaf called into the tracepoint): looked up 1 byte earlier.
  for (size_t j = nk; j-- > first;) frames.push_back(Frame{symbolizer_.symbolize_kernel(kernel_ips[j] - 1), true});
  if (frames.empty()) frames.push_back(Frame{"[no stack]", false});
}

void Profiler::add_block(Session& s, uint32_t tgid, std::string_view comm, uint32_t state,
                         const std::vector<Frame>& frames, uint64_t ns, uint64_t blocks) {
  std::string name = proto::offcpu_state_name(state);
  std::vector<Frame> f;
  if (s.spec.by_state) f.push_back(Frame{"[" + name + "]", false});
  // The kernel takes the stacks any session of this target asked for; keep what this one asked for.
  for (const auto& fr : frames)
    if (fr.kernel ? (s.spec.stacks & proto::kKernelStack) : (s.spec.stacks & proto::kUserStack) || fr.name == "[no stack]")
      f.push_back(fr);
  // In a wall profile the blocked part is marked by a leaf of its own (coloured apart).
  if (s.on_cpu) f.push_back(Frame{"[off-cpu: " + name + "]", false});
  add(s, tgid, comm, f, ns, blocks);
}

uint64_t Profiler::add_pending_blocks(Session& s) {
  // Blocks still in progress count up to now, from the session's start at the earliest, so a
  // thread that sleeps through the end of a profile is not missing from it.
  uint64_t added = 0;
  const uint64_t now = monotonic_ns();
  std::vector<Frame> frames;
  for (uint32_t pid : s.pids) {
    if (!s.traces(pid)) continue;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      uint32_t tid = 0;
      const std::string name = entry.path().filename().string();
      if (std::from_chars(name.data(), name.data() + name.size(), tid).ec != std::errc{}) continue;
      auto p = offcpu_->pending(tid);
      if (!p || p->tgid != pid) continue;
      uint64_t start = std::max(p->start_ns, s.started_mono_ns);
      if (now <= start) continue;
      uint64_t ns = now - start;
      if (ns < p->min_ns || ns > p->max_ns) continue;
      offcpu_frames(pid, p->user_ips, p->kernel_ips, frames);
      add_block(s, pid, p->comm, p->state, frames, ns, 1);
      ++added;
    }
  }
  return added;
}

void Profiler::drain_offcpu() {
  if (!offcpu_) return;
  std::vector<Frame> frames;
  const ByPid by = sessions_by_pid(&Session::off_cpu);
  static const std::vector<Session*> kNone;
  auto result = offcpu_->drain([&](const RawBlock& b) {
    auto p = by.pid.find(b.tgid);
    const std::vector<Session*>& matching = b.whole_system ? by.any : p != by.pid.end() ? p->second : kNone;
    if (matching.empty()) return;
    offcpu_frames(b.tgid, b.user_ips, b.kernel_ips, frames);
    for (Session* s : matching) add_block(*s, b.tgid, b.comm, b.state, frames, b.total_ns, b.count);
  });
  if (!result) log::warning(result.error().message());
}

Profile Profiler::finish(uint64_t id) {
  const auto ended = Clock::now();
  if (auto it = sessions_.find(id); it != sessions_.end() && it->second->malloc && it->second->spec.malloc.duty_permille)
    for (uint32_t pid : it->second->malloc_attached) malloc_->stop_windows(pid);
  drain();
  auto it = sessions_.find(id);
  Profile p;
  if (it == sessions_.end()) return p;
  Session& s = *it->second;
  add_unwind_notes(s, p);
  if (s.dropped_stacks)
    p.notes.push_back(std::to_string(s.dropped_stacks) +
                      (s.malloc ? " new stacks dropped (their calls are not counted)"
                                : " new stacks dropped (counted under [dropped])") +
                      ": this user's sessions held more than the daemon allows (scorchd "
                      "--max-session-memory-per-user, " + std::to_string(memory_.per_user() >> 10) + " KiB)");
  // Files of the targets that were not read, and why (a perf map owned by another user, ...).
  for (uint32_t pid : s.pids)
    if (s.traces(pid))  // not a process let go: its files may be those of a privileged program now
      for (auto& n : symbolizer_.file_notes(pid)) p.notes.push_back(std::move(n));
  if (s.malloc) {
    p.duration_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(ended - s.started).count());
    finish_malloc(s, p);
    release(s);
    sessions_.erase(it);
    return p;
  }
  const uint64_t in_progress = s.off_cpu ? add_pending_blocks(s) : 0;
  p.measure = proto::measure_name(s.spec.measure);
  p.unit = s.off_cpu ? "us" : "samples";
  if (s.off_cpu) {
    // Kept in ns while running; reported in microseconds, like offcputime.
    for (auto& st : s.stacks) st.count = (st.count + 500) / 1000;
    std::erase_if(s.stacks, [](const StackCount& st) { return st.count == 0; });
  }
  p.period_ns = s.period_ns;  // the time one sample stands for
  p.duration_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(ended - s.started).count());
  p.pids = s.spec.pids;
  p.stacks = std::move(s.stacks);
  DropCounters now = probe_.counters();
  p.drops.samples = s.samples;
  p.drops.stack_collisions = now.stack_collisions - s.drops_at_start.stack_collisions;
  p.drops.stack_errors = now.stack_errors - s.drops_at_start.stack_errors;
  p.drops.map_full = now.map_full - s.drops_at_start.map_full;
  p.drops.lost_stacks = now.lost_stacks - s.drops_at_start.lost_stacks;
  if (s.off_cpu) {
    OffCpuProbe::Counters off = offcpu_->counters();
    if (!s.on_cpu) p.drops = DropCounters{};
    p.drops.samples = s.samples;
    p.drops.stack_errors += off.stack_errors - s.off_at_start.stack_errors;
    p.drops.map_full += off.map_full - s.off_at_start.map_full;
    p.drops.lost_stacks += off.lost_stacks - s.off_at_start.lost_stacks;
    if (uint64_t lost = off.no_storage - s.off_at_start.no_storage; lost > 0)
      p.notes.push_back(std::to_string(lost) + " switch-outs lost: no task storage could be created");
    if (s.pids.empty())
      p.notes.push_back("off-CPU time counts blocks that ended while the profile ran");
    else
      p.notes.push_back("off-CPU time counts blocks that ended while the profile ran, and " +
                        std::to_string(in_progress) + " still in progress at its end (up to the end)");
  }
  if (p.drops.stack_collisions + p.drops.stack_errors + p.drops.map_full + p.drops.lost_stacks > 0)
    p.notes.push_back("drop counters are system-wide for the time this profile ran");
  for (uint32_t pid : s.pids)
    if (s.traces(pid) && !process_alive(pid)) p.notes.push_back("process " + std::to_string(pid) + " exited during the profile");
  p.notes.insert(p.notes.end(), s.notes.begin(), s.notes.end());
  // A PID that is gone may come back as another program: drop its cached mappings.
  std::set<uint32_t> seen;
  for (const auto& st : p.stacks)
    if (seen.insert(st.pid).second && st.pid != 0 && !process_alive(st.pid)) symbolizer_.forget(st.pid);
  release(s);
  sessions_.erase(it);
  return p;
}

bool Profiler::done(uint64_t id) const {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return true;
  const Session& s = *it->second;
  if (s.spec.duration.count() > 0 && Clock::now() - s.started >= s.spec.duration) return true;
  if (s.pids.empty()) return false;
  for (uint32_t pid : s.pids)
    if (s.traces(pid) && process_alive(pid)) return false;
  return true;
}

std::vector<SessionView> Profiler::sessions() const {
  std::vector<SessionView> v;
  for (const auto& [id, s] : sessions_)
    v.push_back(SessionView{id, s->spec,
                            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - s->started),
                            s->samples});
  return v;
}

uint64_t Profiler::samples(uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? 0 : it->second->samples;
}

}  // namespace scorch
