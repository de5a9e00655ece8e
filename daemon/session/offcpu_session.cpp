#include "session/offcpu_session.h"

#include <algorithm>
#include <unordered_map>

#include "common/clock.h"
#include "common/log.h"
#include "common/proc_tasks.h"
#include "session/frames.h"
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

class ProbeSource : public BlockSource {
 public:
  explicit ProbeSource(OffCpuProbe& probe) : probe_(probe) {}
  Result<void> add_filter(uint32_t target, const OffCpuProbe::Filter& filter) override {
    return probe_.add_filter(target, filter);
  }
  void remove_filter(uint32_t target) override { probe_.remove_filter(target); }
  Result<void> drain(const std::function<void(const RawBlock&)>& fn) override { return probe_.drain(fn); }
  std::optional<OffCpuProbe::Pending> pending(uint32_t tid) const override { return probe_.pending(tid); }
  OffCpuProbe::Counters counters() const override { return probe_.counters(); }

 private:
  OffCpuProbe& probe_;
};

}  // namespace

OffCpuSession::OffCpuSession(OffCpuMeasure& measure, Session& core, const proto::OffCpuOptions& options, bool in_wall)
    : measure_(measure), core_(core), options_(options), in_wall_(in_wall) {
  measure_.sessions_.push_back(this);
}

OffCpuSession::~OffCpuSession() {
  for (uint32_t t : filters_) measure_.source_->remove_filter(t);
  std::erase(measure_.sessions_, this);
}

Result<void> OffCpuSession::attach() {
  at_start_ = measure_.source_->counters();
  const OffCpuProbe::Filter filter{options_.min_block_ns, options_.max_block_ns, options_.states, options_.stacks};
  for (uint32_t t : core_.targets()) {
    if (auto r = measure_.source_->add_filter(t, filter); !r) return r.error();
    filters_.push_back(t);
  }
  return {};
}

std::string OffCpuSession::detail() const {
  std::string d = options_.stacks == proto::kBothStacks  ? "user+kernel stacks"
                  : options_.stacks == proto::kUserStack ? "user stacks"
                                                         : "kernel stacks";
  if (options_.states != proto::kAllStates) {
    std::string states;
    for (uint32_t s = 0; s < 4; ++s)
      if (options_.states & (1u << s)) states += (states.empty() ? "" : ",") + std::string(proto::offcpu_state_name(s));
    d += ", " + states;
  }
  return d;
}

void OffCpuSession::lose(uint32_t pid) {
  if (auto it = std::find(filters_.begin(), filters_.end(), pid); it != filters_.end()) {
    measure_.source_->remove_filter(pid);
    filters_.erase(it);
  }
}

void OffCpuSession::add_block(uint32_t tgid, std::string_view comm, uint32_t state, const std::vector<Frame>& frames,
                              uint64_t ns, uint64_t blocks) {
  std::string name = proto::offcpu_state_name(state);
  std::vector<Frame> f;
  if (options_.by_state) f.push_back(Frame{"[" + name + "]", false});
  // The kernel takes the stacks any session of this target asked for; keep what this one asked for.
  for (const auto& fr : frames)
    if (fr.kernel ? (options_.stacks & proto::kKernelStack)
                  : (options_.stacks & proto::kUserStack) || fr.name == "[no stack]")
      f.push_back(fr);
  // In a wall profile the blocked part is marked by a leaf of its own (coloured apart).
  if (in_wall_) f.push_back(Frame{"[off-cpu: " + name + "]", false});
  core_.add(tgid, comm, f, ns, blocks);
}

uint64_t OffCpuSession::add_pending_blocks() {
  // Blocks still in progress count up to now, from the session's start at the earliest, so a
  // thread that sleeps through the end of a profile is not missing from it.
  uint64_t added = 0;
  const uint64_t now = monotonic_ns();
  std::vector<Frame> frames;
  for (uint32_t pid : core_.pids) {
    if (!core_.traces(pid)) continue;
    for (uint32_t tid : thread_ids(pid)) {
      auto p = measure_.source_->pending(tid);
      if (!p || p->tgid != pid) continue;
      uint64_t start = std::max(p->start_ns, core_.started_mono_ns);
      if (now <= start) continue;
      uint64_t ns = now - start;
      if (ns < p->min_ns || ns > p->max_ns) continue;
      frames.clear();
      measure_.frames(pid, p->user_ips, p->kernel_ips, frames);
      add_block(pid, p->comm, p->state, frames, ns, 1);
      ++added;
    }
  }
  return added;
}

void OffCpuSession::finish(Profile& p) {
  const uint64_t in_progress = add_pending_blocks();
  // Kept in ns while running; reported in microseconds, like offcputime.
  p.unit = "us";
  auto& stacks = core_.stacks();
  for (auto& st : stacks) st.count = (st.count + 500) / 1000;
  std::erase_if(stacks, [](const StackCount& st) { return st.count == 0; });
  OffCpuProbe::Counters off = measure_.source_->counters();
  p.drops.add("stack_errors", off.stack_errors - at_start_.stack_errors);
  p.drops.add("map_full", off.map_full - at_start_.map_full);
  p.drops.add("lost_stacks", off.lost_stacks - at_start_.lost_stacks);
  if (uint64_t lost = off.no_storage - at_start_.no_storage; lost > 0)
    p.notes.push_back(std::to_string(lost) + " switch-outs lost: no task storage could be created");
  if (core_.whole_system())
    p.notes.push_back("off-CPU time counts blocks that ended while the profile ran");
  else
    p.notes.push_back("off-CPU time counts blocks that ended while the profile ran, and " +
                      std::to_string(in_progress) + " still in progress at its end (up to the end)");
}

OffCpuMeasure::OffCpuMeasure(std::unique_ptr<OffCpuProbe> probe, std::unique_ptr<BlockSource> source,
                             Symbolizer& symbolizer)
    : probe_(std::move(probe)), source_(std::move(source)), symbolizer_(symbolizer) {}

Result<std::unique_ptr<Measure>> OffCpuMeasure::load(MeasureEnv& env) {
  auto setting = env.settings.find("offcpu-hook");
  const std::string hook_name = setting == env.settings.end() ? "auto" : setting->second;
  const bool has_btf = env.features.has(Feature::kTpBtf), has_raw = env.features.has(Feature::kRawTracepoint);
  std::optional<OffCpuProbe::Attach> hook;
  if (hook_name == "tp_btf" || (hook_name == "auto" && has_btf))
    hook = OffCpuProbe::Attach::kTpBtf;
  else if (hook_name == "raw_tp" || (hook_name == "auto" && has_raw))
    hook = OffCpuProbe::Attach::kRawTp;
  if (!hook)
    return Error{"load the off-CPU program",
                 "no sched_switch hook: tp_btf: " + env.features.get(Feature::kTpBtf).detail +
                     "; raw_tracepoint: " + env.features.get(Feature::kRawTracepoint).detail,
                 ENOTSUP,
                 {}};
  if (!env.unwind_maps) return Error{"load the off-CPU program", "no unwind maps", EINVAL, {}};
  auto probe = OffCpuProbe::load(*env.unwind_maps, *hook);
  if (!probe) return probe.error();
  if (*hook == OffCpuProbe::Attach::kRawTp)
    log::info("off-CPU via the raw sched_switch tracepoint: user stacks by frame pointers");
  auto source = std::make_unique<ProbeSource>(**probe);
  return std::unique_ptr<Measure>(new OffCpuMeasure(std::move(*probe), std::move(source), env.symbolizer));
}

Result<std::unique_ptr<MeasureSession>> OffCpuMeasure::start(Session& core, std::span<const uint8_t> options) {
  auto o = proto::decode_offcpu_options(options);
  if (!o) return o.error();
  auto s = start_part(core, *o, false);
  if (!s) return s.error();
  return std::unique_ptr<MeasureSession>(std::move(*s));
}

Result<std::unique_ptr<OffCpuSession>> OffCpuMeasure::start_part(Session& core, const proto::OffCpuOptions& options,
                                                                 bool in_wall) {
  auto s = std::make_unique<OffCpuSession>(*this, core, options, in_wall);
  if (auto r = s->attach(); !r) return r.error();
  return s;
}

void OffCpuMeasure::frames(uint32_t tgid, std::span<const uint64_t> user_ips, std::span<const uint64_t> kernel_ips,
                           std::vector<Frame>& out) {
  // Stacks were taken where the thread blocked: every user frame, the leaf included, is a return
  // address (after a syscall or a call); the kernel leaf called into the tracepoint, and the
  // tracing machinery at that end (how many frames depends on the hook) is left out.
  static const FrameRules kRules{UserLeaf::kReturnAddress, false, true};
  stack_frames(symbolizer_, tgid, user_ips, kernel_ips, kRules, out);
}

void OffCpuMeasure::drain() {
  std::unordered_map<uint32_t, std::vector<OffCpuSession*>> by_pid;
  std::vector<OffCpuSession*> any;
  for (OffCpuSession* s : sessions_) {
    if (s->core().whole_system()) any.push_back(s);
    for (uint32_t pid : s->core().pids)
      if (s->core().traces(pid)) by_pid[pid].push_back(s);
  }
  std::vector<Frame> frames;
  static const std::vector<OffCpuSession*> kNone;
  auto result = source_->drain([&](const RawBlock& b) {
    auto p = by_pid.find(b.tgid);
    const std::vector<OffCpuSession*>& matching = b.whole_system ? any : p != by_pid.end() ? p->second : kNone;
    if (matching.empty()) return;
    frames.clear();
    this->frames(b.tgid, b.user_ips, b.kernel_ips, frames);
    for (OffCpuSession* s : matching) s->add_block(b.tgid, b.comm, b.state, frames, b.total_ns, b.count);
  });
  if (!result) log::warning(result.error().message());
}

std::vector<std::string> OffCpuMeasure::status() const {
  auto c = source_->counters();
  const bool attached = probe_ && probe_->attached();
  return {std::string("off-CPU: program ") + (attached ? "attached" : "loaded, not attached") + "; " +
          std::to_string(c.switch_outs) + " switch-outs traced, " + std::to_string(c.blocks) + " blocks counted, " +
          std::to_string(c.filtered) + " filtered out; kernel stacks: " + std::to_string(c.kstack_walks) + " walked, " +
          std::to_string(c.kstack_kept) + " unchanged since the thread's last switch-out; lost: " +
          std::to_string(c.no_storage) + " (no task storage), " + std::to_string(c.map_full) + " (map full), " +
          std::to_string(c.stack_errors) + " stack errors, " + std::to_string(c.lost_stacks) + " stacks"};
}

DropCounters OffCpuMeasure::totals() const {
  auto c = source_->counters();
  DropCounters d;
  d.samples = c.blocks;
  d.add("stack_errors", c.stack_errors);
  d.add("map_full", c.map_full);
  d.add("lost_stacks", c.lost_stacks);
  d.add("no_storage", c.no_storage);
  return d;
}

}  // namespace scorch
