#include "session/cpu_session.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "common/log.h"
#include "probes/counter_probe.h"
#include "proto/perf_events.h"
#include "session/frames.h"
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

/// The on-CPU probe behind the SampleSource interface.
class ProbeSource : public SampleSource {
 public:
  explicit ProbeSource(OnCpuProbe& probe) : probe_(probe) {}
  Result<uint32_t> add_sampler(uint32_t target, const SamplerEvent& event) override {
    return probe_.add_sampler(target, event);
  }
  void remove_sampler(uint32_t target, const SamplerEvent& event) override { probe_.remove_sampler(target, event); }
  Result<void> drain(const std::function<void(const RawSample&)>& fn) override { return probe_.drain(fn); }
  DropCounters counters() const override { return probe_.counters(); }

 private:
  OnCpuProbe& probe_;
};

}  // namespace

uint64_t period_for_hz(uint32_t hz) { return hz == 0 ? 0 : 1'000'000'000ull / hz; }

namespace {

/// What the options ask to sample: cpu-clock at their frequency by default; a clock event at
/// -c ns or the frequency's period; any other event every -c events, or at the frequency (the
/// kernel then adjusts the period, and each sample stands for its own).
SamplerEvent sampler_event(const proto::CpuOptions& o, const std::optional<proto::PerfEventDef>& def) {
  if (!def) return SamplerEvent::cpu_clock(o.period ? o.period : period_for_hz(o.frequency_hz));
  if (def->time) return SamplerEvent{def->type, def->config, o.period ? o.period : period_for_hz(o.frequency_hz)};
  if (o.period) return SamplerEvent{def->type, def->config, o.period};
  return SamplerEvent{def->type, def->config, o.frequency_hz, true};
}

}  // namespace

CpuSession::CpuSession(CpuMeasure& measure, Session& core, const proto::CpuOptions& options, bool time_weighted)
    : measure_(measure),
      core_(core),
      options_(options),
      def_(options.event.empty() ? std::nullopt : proto::find_perf_event(options.event)),
      event_(sampler_event(options, def_)),
      time_weighted_(time_weighted) {
  measure_.sessions_.push_back(this);
}

CpuSession::~CpuSession() {
  for (const auto& [target, id] : samplers_) measure_.source_->remove_sampler(target, event_);
  std::erase(measure_.sessions_, this);
}

Result<void> CpuSession::attach() {
  // An event this machine lacks (a hardware one in a VM) is refused with its reason first.
  if (def_)
    if (auto r = check_perf_event(*def_, "sample " + options_.event); !r) return r.error();
  at_start_ = measure_.source_->counters();
  for (uint32_t target : core_.targets()) {
    auto id = measure_.source_->add_sampler(target, event_);
    if (!id) return id.error();  // the destructor removes those added
    samplers_[target] = *id;
  }
  return {};
}

std::string CpuSession::detail() const {
  std::string d = options_.event.empty() ? std::string() : options_.event + ", ";
  if (event_.freq || !options_.period) return d + std::to_string(options_.frequency_hz) + " Hz";
  return d + "every " + std::to_string(options_.period) + (counts_events() ? " events" : " ns");
}

void CpuSession::lose(uint32_t pid) {
  if (auto it = samplers_.find(pid); it != samplers_.end()) {
    measure_.source_->remove_sampler(pid, event_);
    samplers_.erase(it);
  }
}

void CpuSession::finish(Profile& p) {
  p.unit = "samples";
  p.period_ns = event_.period;  // the time one sample stands for
  if (counts_events()) {
    // Each stack weighs the events its samples stand for (samples x period), as perf reports.
    p.unit = options_.event;
    p.period_ns = 0;
    if (event_.freq)
      p.notes.push_back("values are " + options_.event +
                        " events, approximate: each sample counts for the period the "
                        "kernel set to keep " +
                        std::to_string(event_.period) +
                        " samples/s, a guess that bursts of events throw off (as perf's \"Event count (approx.)\"); "
                        "-c PERIOD counts exactly");
    else
      p.notes.push_back("values are " + options_.event + " events: each sample counts for its period, every " +
                        std::to_string(event_.period) + " events");
  }
  DropCounters d = measure_.source_->counters().since(at_start_);
  d.samples = 0;
  p.drops.merge(d);
}

CpuMeasure::CpuMeasure(std::unique_ptr<OnCpuProbe> probe, std::unique_ptr<SampleSource> source, Symbolizer& symbolizer)
    : probe_(std::move(probe)), source_(std::move(source)), symbolizer_(symbolizer) {}

Result<std::unique_ptr<Measure>> CpuMeasure::load(MeasureEnv& env) {
  for (Feature f : {Feature::kPerfEventProg, Feature::kPerfSoftware})
    if (!env.features.has(f)) {
      const auto& why = env.features.get(f);
      return Error{"start on-CPU profiling", why.name + ": " + why.detail, ENOTSUP, {}};
    }
  if (!env.unwind_maps) return Error{"load the on-CPU program", "no unwind maps", EINVAL, {}};
  auto probe = OnCpuProbe::load(*env.unwind_maps);
  if (!probe) return probe.error();
  log::info("on-CPU program id " + std::to_string((*probe)->program_id()) + " loaded");
  auto source = std::make_unique<ProbeSource>(**probe);
  return std::unique_ptr<Measure>(new CpuMeasure(std::move(*probe), std::move(source), env.symbolizer));
}

Result<std::unique_ptr<MeasureSession>> CpuMeasure::start(Session& core, std::span<const uint8_t> options) {
  auto o = proto::decode_cpu_options(options);
  if (!o) return o.error();
  auto s = start_part(core, *o, false);
  if (!s) return s.error();
  return std::unique_ptr<MeasureSession>(std::move(*s));
}

Result<std::unique_ptr<CpuSession>> CpuMeasure::start_part(Session& core, const proto::CpuOptions& options,
                                                           bool time_weighted) {
  auto s = std::make_unique<CpuSession>(*this, core, options, time_weighted);
  if (auto r = s->attach(); !r) return r.error();
  return s;
}

void CpuMeasure::drain() {
  // Which sessions each sampler feeds: a whole-system sampler every process, a process's own
  // sampler that process only. Sampler ids are never reused, so samples left from a sampler
  // already removed match no session and are dropped here.
  struct Feed {
    CpuSession* session;
    uint32_t target;
  };
  std::unordered_map<uint32_t, std::vector<Feed>> by_sampler;
  for (CpuSession* s : sessions_)
    for (const auto& [target, id] : s->samplers())
      if (target == kPidAny || s->core().traces(target)) by_sampler[id].push_back(Feed{s, target});
  std::vector<Frame> frames;
  static const FrameRules kRules{UserLeaf::kExactUnlessInKernel, true, false};
  auto result = source_->drain([&](const RawSample& raw) {
    auto it = by_sampler.find(raw.sampler);
    if (it == by_sampler.end()) return;
    frames.clear();
    for (const Feed& f : it->second) {
      if (f.target != kPidAny && f.target != raw.tgid) continue;
      if (frames.empty()) stack_frames(symbolizer_, raw.tgid, raw.user_ips, raw.kernel_ips, kRules, frames);
      // Wall profiles count time: each sample stands for one period of CPU time.
      const uint64_t count = f.session->time_weighted()   ? raw.count * f.session->period_ns()
                             : f.session->counts_events() ? raw.weight
                                                          : raw.count;
      f.session->core().add(raw.tgid, raw.comm, frames, count, raw.count);
    }
  });
  if (!result) log::warning(result.error().message());
}

}  // namespace scorch
