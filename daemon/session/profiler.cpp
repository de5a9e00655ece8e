#include "session/profiler.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "common/clock.h"
#include "common/log.h"
#include "symbolize/symbolizer.h"

namespace scorch {

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

Profiler::Profiler(UnwindMaps* unwind_maps, Symbolizer& symbolizer)
    : symbolizer_(symbolizer),
      cred_watch_(unwind_maps ? unwind_maps->cred_watch_fd() : -1, unwind_maps ? unwind_maps->cred_watch_on_fd() : -1) {
  if (unwind_maps) unwinder_.emplace(*unwind_maps);
}

Profiler::~Profiler() {
  for (auto& [id, r] : sessions_) {
    r.session.reset();
    release(*r.core);
  }
  sessions_.clear();
  measures_.clear();  // sessions first: they hold their measure's probe
}

Result<void> Profiler::load(const MeasureDef& def, const Features& features,
                            const std::map<std::string, std::string>& settings) {
  MeasureEnv env{features, unwinder_ ? &unwinder_->maps() : nullptr, symbolizer_, settings,
                 [this](std::string_view name) { return measure(name); }};
  auto loaded = def.load(env);
  auto entry = std::make_unique<Loaded>();
  entry->def = def;
  Result<void> r;
  if (loaded) {
    entry->measure = std::move(*loaded);
  } else {
    entry->error = loaded.error();
    r = loaded.error();
  }
  measures_.push_back(std::move(entry));
  return r;
}

void Profiler::add_measure(const MeasureDef& def, std::unique_ptr<Measure> measure) {
  auto entry = std::make_unique<Loaded>();
  entry->def = def;
  entry->measure = std::move(measure);
  measures_.push_back(std::move(entry));
}

Measure* Profiler::measure(std::string_view name) const {
  for (const auto& m : measures_)
    if (m->def.name == name) return m->measure.get();
  return nullptr;
}

const Profiler::Loaded* Profiler::find(uint8_t id) const {
  for (const auto& m : measures_)
    if (m->def.id == id) return m.get();
  return nullptr;
}

const MeasureDef* Profiler::definition(uint8_t id) const {
  const Loaded* l = find(id);
  return l ? &l->def : nullptr;
}

Result<uint64_t> Profiler::start(const SessionSpec& spec, std::span<const uint8_t> options) {
  const Loaded* loaded = find(spec.measure);
  if (!loaded)
    return Error{"start a session", "unknown measure " + std::to_string(spec.measure), EINVAL,
                 "scorch and scorchd are from different versions: 'scorch --version' and 'scorchd --version'"};
  if (!loaded->measure) {
    const Error& why = *loaded->error;
    return Error{loaded->def.verb + (spec.pids.empty() ? " the system" : " PID " + std::to_string(spec.pids[0])),
                 "the " + loaded->def.name + " measure is unavailable: " + why.message(), why.err ? why.err : ENOTSUP,
                 why.hint.empty() ? "see 'scorch status' for the kernel features this machine lacks" : why.hint};
  }
  if (loaded->def.needs_pids && spec.pids.empty())
    return Error{loaded->def.verb + " the system", "no process named", EINVAL,
                 loaded->def.name + " attaches to processes: give -p PID"};

  // Whatever the kernel holds now predates this session: hand it to the sessions that exist.
  drain();

  Running run;
  run.core = std::make_unique<Session>(next_id_++, spec, memory_);
  run.loaded = loaded;
  Session& s = *run.core;
  if (unwinder_) s.unwind_at_start = unwinder_->file_frames_now();
  if (auto r = watch_creds(s); !r) return r.error();
  attach_unwinder(s);
  auto session = loaded->measure->start(s, options);
  if (!session) {
    release(s);
    return session.error();
  }
  // The session's clock starts once its probes are in (attaching takes milliseconds per process).
  s.started = Clock::now();
  s.started_mono_ns = monotonic_ns();
  run.session = std::move(*session);
  uint64_t id = s.id;
  sessions_.emplace(id, std::move(run));
  return id;
}

void Profiler::attach_unwinder(Session& s) {
  // User stacks of the named processes are unwound from .eh_frame tables, so they are whole
  // without frame pointers; where no table loads, frame pointers remain. Tables go in before the
  // first event, so no stack of the session is a frame-pointer leftover.
  for (uint32_t pid : s.pids) {
    symbolizer_.prepare(pid);  // names survive the process exiting before the first drain
    if (!unwinder_) continue;
    auto loaded = unwinder_->attach(pid);
    if (loaded) {
      s.unwound.push_back(pid);
      if (!loaded->without_tables.empty()) {
        std::string files;
        for (const auto& f : loaded->without_tables) files += (files.empty() ? "" : ", ") + f;
        s.notes.push_back("PID " + std::to_string(pid) + ": no unwind tables for " + files +
                          " (frames there are walked by frame pointers)");
      }
    } else {
      s.notes.push_back("PID " + std::to_string(pid) + ": user stacks from frame pointers (" +
                        loaded.error().message() + ")");
    }
  }
}

void Profiler::add_unwind_notes(const Session& s, Profile& p) const {
  if (!unwinder_) return;
  std::vector<uint32_t> ids{0};  // pcs in no file (vdso, JIT, bad addresses) as well
  for (uint32_t pid : s.unwound) {
    auto it = unwinder_->processes().find(pid);
    if (it != unwinder_->processes().end())
      ids.insert(ids.end(), it->second.file_ids.begin(), it->second.file_ids.end());
  }
  if (ids.size() == 1) return;  // nothing was unwound from tables
  auto files = unwinder_->file_frames_since(s.unwind_at_start, ids);
  for (const auto& f : files) p.notes.push_back("user frames in " + UnwindLoader::describe(f));
  if (!files.empty())
    p.notes.push_back("user frames are counted per file, over every profile that unwound it while this one ran");
}

Result<void> Profiler::watch_creds(Session& s) {
  if (s.spec.uid == 0) return {};  // root may trace what it likes, set-user-ID programs included
  for (uint32_t pid : s.pids) {
    auto creds = read_process_creds(pid);
    Result<void> r;
    if (!creds) {
      r = Error{"trace PID " + std::to_string(pid), "no such process", ESRCH, {}};
    } else if (creds->ids[0] != s.spec.uid || creds->ids[2] != s.spec.uid || creds->ids[4] != s.spec.uid) {
      r = Error{"trace PID " + std::to_string(pid),
                "permission denied: its uids are no longer all " + std::to_string(s.spec.uid),
                EPERM,
                {}};
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
  drain_measures();
  for (const auto& change : changes)
    for (auto& [id, r] : sessions_)
      if (r.core->spec.uid != 0 && r.core->traces(change.pid)) lose(r, change.pid, change.what);
}

void Profiler::lose(Running& r, uint32_t pid, const std::string& what) {
  Session& s = *r.core;
  s.lost.insert(pid);
  r.session->lose(pid);  // the measure first: it may still name what it recorded
  if (std::find(s.unwound.begin(), s.unwound.end(), pid) != s.unwound.end()) {
    unwinder_->detach(pid);
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

void Profiler::release(Session& s) {
  for (uint32_t pid : s.watched) cred_watch_.unwatch(pid);
  s.watched.clear();
  s.release_memory();
  if (unwinder_)
    for (uint32_t pid : s.unwound) unwinder_->detach(pid);
  s.unwound.clear();
}

void Profiler::drain_measures() {
  // Every measure reads its maps, even with no session left: what was recorded between a
  // session's last drain and its end must be discarded, not handed to the next session.
  for (const auto& m : measures_)
    if (m->measure) m->measure->drain();
}

void Profiler::drain() {
  check_execs();
  drain_measures();
}

void Profiler::check_execs() {
  // First, a target that became privileged is let go by the users who may no longer trace it:
  // its new program is then neither unwound, named nor probed for them.
  check_creds();
  if (!unwinder_) return;
  // A target that exec'd another program needs that program's unwind tables and names (a stat
  // of /proc/PID/exe per process; the server calls this every 100 ms, and every drain does).
  std::set<uint32_t> checked;
  for (auto& [id, r] : sessions_) {
    for (uint32_t pid : r.core->unwound) {
      if (!checked.insert(pid).second) continue;
      auto known = unwinder_->processes().find(pid);
      if (known == unwinder_->processes().end()) continue;
      uint64_t before = known->second.exe_ino;
      auto now = unwinder_->reload_if_exec(pid);
      if (now && now->exe_ino != before) {
        symbolizer_.forget(pid);
        symbolizer_.prepare(pid);
        log::debug("PID " + std::to_string(pid) + " exec'd: unwind tables and symbols reloaded");
        for (const auto& m : measures_)
          if (m->measure) m->measure->execed(pid);
      }
    }
  }
}

Profile Profiler::finish(uint64_t id) {
  const auto ended = Clock::now();
  if (auto it = sessions_.find(id); it != sessions_.end()) it->second.session->stopping();
  drain();
  auto it = sessions_.find(id);
  Profile p;
  if (it == sessions_.end()) return p;
  Running& r = it->second;
  Session& s = *r.core;
  p.measure = r.loaded->def.name;
  p.pids = s.spec.pids;
  p.duration_ns =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(ended - s.started).count());
  p.drops.samples = s.events;
  add_unwind_notes(s, p);
  if (s.dropped_stacks())
    p.notes.push_back(std::to_string(s.dropped_stacks()) + " new stacks dropped (" + s.dropped_means +
                      "): this user's sessions held more than the daemon allows (scorchd "
                      "--max-session-memory-per-user, " +
                      std::to_string(memory_.per_user() >> 10) + " KiB)");
  // Files of the targets that were not read, and why (a perf map owned by another user, ...).
  for (uint32_t pid : s.pids)
    if (s.traces(pid))  // not a process let go: its files may be those of a privileged program now
      for (auto& n : symbolizer_.file_notes(pid)) p.notes.push_back(std::move(n));
  r.session->finish(p);
  if (p.stacks.empty()) p.stacks = std::move(s.stacks());
  if (p.drops.lost() > 0) p.notes.push_back("drop counters are system-wide for the time this " + s.noun + " ran");
  for (uint32_t pid : s.pids)
    if (s.traces(pid) && !process_alive(pid))
      p.notes.push_back("process " + std::to_string(pid) + " exited during the " + s.noun);
  p.notes.insert(p.notes.end(), s.notes.begin(), s.notes.end());
  // A PID that is gone may come back as another program: drop its cached mappings.
  std::set<uint32_t> seen;
  for (const auto& st : p.stacks)
    if (seen.insert(st.pid).second && st.pid != 0 && !process_alive(st.pid)) symbolizer_.forget(st.pid);
  r.session.reset();  // lets go of its probes before the unwind tables go
  release(s);
  sessions_.erase(it);
  return p;
}

bool Profiler::done(uint64_t id) const {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return true;
  const Session& s = *it->second.core;
  if (s.spec.duration.count() > 0 && Clock::now() - s.started >= s.spec.duration) return true;
  if (s.pids.empty()) return false;
  for (uint32_t pid : s.pids)
    if (s.traces(pid) && process_alive(pid)) return false;
  return true;
}

std::vector<SessionView> Profiler::sessions() const {
  std::vector<SessionView> v;
  for (const auto& [id, r] : sessions_)
    v.push_back(SessionView{id, r.core->spec, r.loaded->def.name, r.session->detail(), r.loaded->def.events,
                            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - r.core->started),
                            r.core->events});
  return v;
}

uint64_t Profiler::samples(uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? 0 : it->second.core->events;
}

DropCounters Profiler::drops() const {
  DropCounters d;
  for (const auto& m : measures_)
    if (m->measure) d.merge(m->measure->totals());
  return d;
}

std::vector<std::string> Profiler::measure_status() const {
  std::vector<std::string> lines;
  for (const auto& m : measures_) {
    if (!m->measure) {
      lines.push_back(m->def.name + ": unavailable: " + m->error->message());
      continue;
    }
    for (auto& l : m->measure->status()) lines.push_back(std::move(l));
  }
  return lines;
}

}  // namespace scorch
