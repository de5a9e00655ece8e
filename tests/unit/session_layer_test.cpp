// The session layer without root or BPF: fake probes behind the measure interfaces feed the real
// CpuMeasure, OffCpuMeasure, WallMeasure and Profiler. Session matching, wall-clock scaling, drop
// accounting and the errors of unknown and unavailable measures.
#include <gtest/gtest.h>

#include <deque>
#include <set>
#include <map>

#include "proto/cpu_options.h"
#include "proto/measure_options.h"
#include "proto/offcpu_options.h"
#include "proto/wall_options.h"
#include "session/cpu_session.h"
#include "session/offcpu_session.h"
#include "session/profiler.h"
#include "session/wall_session.h"
#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

// PIDs no process has (above PID_MAX_LIMIT), so nothing real is read for them.
constexpr uint32_t kPid = 4'200'001, kChild = 4'200'002;

struct Sample {
  uint32_t tgid, sampler;
  uint64_t count;
};

class FakeSamples : public SampleSource {
 public:
  Result<uint32_t> add_sampler(uint32_t target, const SamplerEvent& event) override {
    auto& s = active[{target, event.period}];
    if (s.refs++ == 0) s.id = next_id++;
    return s.id;
  }
  void remove_sampler(uint32_t target, const SamplerEvent& event) override {
    auto it = active.find({target, event.period});
    if (it != active.end() && --it->second.refs == 0) active.erase(it);
  }
  Result<void> drain(const std::function<void(const RawSample&)>& fn) override {
    for (const Sample& s : queued) {
      RawSample raw;
      raw.tgid = s.tgid;
      raw.sampler = s.sampler;
      raw.comm = "fake";
      raw.count = s.count;
      fn(raw);
    }
    queued.clear();
    return {};
  }
  DropCounters counters() const override { return totals; }
  uint32_t id_of(uint32_t target, uint64_t period) const { return active.at({target, period}).id; }

  struct Active {
    uint32_t id = 0;
    int refs = 0;
  };
  std::map<std::pair<uint32_t, uint64_t>, Active> active;
  std::vector<Sample> queued;
  DropCounters totals;
  uint32_t next_id = 1;
};

class FakeBlocks : public BlockSource {
 public:
  Result<void> add_filter(uint32_t target, const OffCpuProbe::Filter&) override {
    ++filters[target];
    return {};
  }
  void remove_filter(uint32_t target) override {
    if (--filters[target] == 0) filters.erase(target);
  }
  Result<void> drain(const std::function<void(const RawBlock&)>& fn) override {
    for (const RawBlock& b : queued) fn(b);
    queued.clear();
    return {};
  }
  std::optional<OffCpuProbe::Pending> pending(uint32_t) const override { return std::nullopt; }
  OffCpuProbe::Counters counters() const override { return totals; }

  std::map<uint32_t, int> filters;
  std::vector<RawBlock> queued;
  OffCpuProbe::Counters totals;
};

class SessionLayer : public ::testing::Test {
 protected:
  SessionLayer() : profiler_(nullptr, symbolizer_) {
    auto samples = std::make_unique<FakeSamples>();
    auto blocks = std::make_unique<FakeBlocks>();
    samples_ = samples.get();
    blocks_ = blocks.get();
    auto cpu = std::make_unique<CpuMeasure>(nullptr, std::move(samples), symbolizer_);
    auto off = std::make_unique<OffCpuMeasure>(nullptr, std::move(blocks), symbolizer_);
    auto wall = std::make_unique<WallMeasure>(*cpu, *off);
    for (const MeasureDef& def : registry()) {
      if (def.name == "cpu") profiler_.add_measure(def, std::move(cpu));
      if (def.name == "offcpu") profiler_.add_measure(def, std::move(off));
      if (def.name == "wall") profiler_.add_measure(def, std::move(wall));
    }
  }

  uint64_t start(uint8_t measure, std::vector<uint32_t> pids, const std::vector<uint8_t>& options) {
    SessionSpec spec;
    spec.pids = std::move(pids);
    spec.measure = measure;
    auto id = profiler_.start(spec, options);
    EXPECT_TRUE(id.ok()) << id.error().message();
    return id.ok() ? *id : 0;
  }

  Symbolizer symbolizer_;
  Profiler profiler_;
  FakeSamples* samples_ = nullptr;
  FakeBlocks* blocks_ = nullptr;
};

constexpr uint64_t kPeriod = 10'000'000;  // 100 Hz

TEST_F(SessionLayer, SamplesReachOnlyTheSessionsOfTheirSampler) {
  const auto options = proto::encode(proto::CpuOptions{100, {}, 0});
  uint64_t system = start(proto::kCpuMeasure, {}, options);
  uint64_t mine = start(proto::kCpuMeasure, {kPid}, options);
  const uint32_t any_id = samples_->id_of(kPidAny, kPeriod), pid_id = samples_->id_of(kPid, kPeriod);
  ASSERT_NE(any_id, pid_id) << "the same period, told apart by sampler";
  samples_->queued = {
      {kPid, any_id, 3},    // the whole-system sampler in the process: the system session only
      {kPid, pid_id, 5},    // the process's own sampler: its session only
      {kChild, pid_id, 7},  // a forked child under the inherited event: nobody
      {kChild, any_id, 2},  // the child on the system sampler: the system session
      {kPid, 999, 11},      // a sampler nobody has (removed): nobody
  };
  profiler_.drain();
  EXPECT_EQ(profiler_.samples(system), 5u);
  EXPECT_EQ(profiler_.samples(mine), 5u);

  Profile p = profiler_.finish(mine);
  EXPECT_EQ(p.measure, "cpu");
  EXPECT_EQ(p.unit, "samples");
  EXPECT_EQ(p.period_ns, kPeriod);
  EXPECT_EQ(p.total(), 5u);
  ASSERT_EQ(p.stacks.size(), 1u);
  EXPECT_EQ(p.stacks[0].pid, kPid);
  EXPECT_FALSE(samples_->active.count({kPid, kPeriod})) << "its sampler is gone with the session";

  // What the finished session's sampler left behind reaches no one.
  samples_->queued = {{kPid, pid_id, 13}, {kPid, any_id, 1}};
  profiler_.drain();
  Profile s = profiler_.finish(system);
  EXPECT_EQ(s.total(), 6u);
  EXPECT_TRUE(samples_->active.empty());
}

TEST_F(SessionLayer, TwoSessionsOfOneProcessShareItsSampler) {
  const auto options = proto::encode(proto::CpuOptions{100, {}, 0});
  uint64_t a = start(proto::kCpuMeasure, {kPid}, options);
  uint64_t b = start(proto::kCpuMeasure, {kPid}, options);
  const uint32_t id = samples_->id_of(kPid, kPeriod);
  EXPECT_EQ(samples_->active.size(), 1u);
  samples_->queued = {{kPid, id, 4}};
  profiler_.drain();
  EXPECT_EQ(profiler_.finish(a).total(), 4u);
  EXPECT_EQ(samples_->active.size(), 1u) << "still b's";
  samples_->queued = {{kPid, id, 2}};
  EXPECT_EQ(profiler_.finish(b).total(), 6u);
}

TEST_F(SessionLayer, WallClockScalesSamplesByTheirPeriodAndAddsBlockedTime) {
  uint64_t id =
      start(proto::kWallMeasure, {kPid}, proto::encode(proto::WallOptions{proto::CpuOptions{100, {}, 0}, {}}));
  EXPECT_EQ(blocks_->filters.count(kPid), 1u);
  samples_->queued = {{kPid, samples_->id_of(kPid, kPeriod), 3}};  // 3 samples of 10 ms: 30 ms on CPU
  RawBlock b;
  b.tgid = kPid;
  b.state = 1;  // sleep
  b.comm = "fake";
  b.total_ns = 2'500'000;  // 2.5 ms blocked, in 2 blocks
  b.count = 2;
  blocks_->queued = {b};
  Profile p = profiler_.finish(id);
  EXPECT_EQ(p.measure, "wall");
  EXPECT_EQ(p.unit, "us");
  EXPECT_EQ(p.total(), 30'000u + 2'500u);
  EXPECT_EQ(p.drops.samples, 3u + 2u) << "events: samples and blocks";
  bool blocked = false;
  for (const auto& st : p.stacks)
    if (!st.frames.empty() && st.frames.back().name == "[off-cpu: sleep]") {
      blocked = true;
      EXPECT_EQ(st.count, 2'500u);
    }
  EXPECT_TRUE(blocked) << "the blocked part ends in its own leaf";
  EXPECT_TRUE(blocks_->filters.empty());
  EXPECT_TRUE(samples_->active.empty());
}

TEST_F(SessionLayer, DropsAreCountedOverTheSessionOnlyByName) {
  samples_->totals.add("map_full", 4);  // before the session: not its own
  samples_->totals.add("lost_stacks", 0);
  blocks_->totals.map_full = 1;
  uint64_t cpu = start(proto::kCpuMeasure, {kPid}, proto::encode(proto::CpuOptions{100, {}, 0}));
  uint64_t off = start(proto::kOffCpuMeasure, {kPid}, {});
  samples_->totals = {};
  samples_->totals.add("map_full", 10);
  samples_->totals.add("lost_stacks", 2);
  blocks_->totals.map_full = 4;
  blocks_->totals.stack_errors = 1;
  Profile p = profiler_.finish(cpu);
  EXPECT_EQ(p.drops.get("map_full"), 6u);
  EXPECT_EQ(p.drops.get("lost_stacks"), 2u);
  EXPECT_EQ(p.drops.get("stack_errors"), 0u) << "the off-CPU probe's are not the on-CPU session's";
  bool said = false;
  for (const auto& n : p.notes) said |= n.find("system-wide") != std::string::npos;
  EXPECT_TRUE(said) << "drops are system-wide, and the profile says so";
  Profile q = profiler_.finish(off);
  EXPECT_EQ(q.unit, "us");
  EXPECT_EQ(q.drops.get("map_full"), 3u);
  EXPECT_EQ(q.drops.get("stack_errors"), 1u);
}

TEST_F(SessionLayer, UnknownAndUnavailableMeasuresAreRefusedWithTheirReason) {
  SessionSpec spec;
  spec.measure = 200;
  auto unknown = profiler_.start(spec, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().err, EINVAL);
  EXPECT_NE(unknown.error().hint.find("versions"), std::string::npos);

  // A measure whose load failed keeps its errno and hint.
  MeasureDef broken{
      201, "broken", "things", false, false, "profile", [](MeasureEnv&) -> Result<std::unique_ptr<Measure>> {
        return Error{"load the broken program", "no such device", ENODEV, "fit one"};
      }};
  Features none = Features::from({});
  std::map<std::string, std::string> settings;
  ASSERT_FALSE(profiler_.load(broken, none, settings).ok());
  spec.measure = 201;
  spec.pids = {kPid};
  auto refused = profiler_.start(spec, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().err, ENODEV);
  EXPECT_EQ(refused.error().hint, "fit one");
  EXPECT_NE(refused.error().reason.find("no such device"), std::string::npos);
  bool listed = false;
  for (const auto& line : profiler_.measure_status()) listed |= line.rfind("broken: unavailable", 0) == 0;
  EXPECT_TRUE(listed);

  // Options that are not the measure's own are refused, and nothing stays attached.
  spec.measure = proto::kCpuMeasure;
  auto bad = profiler_.start(spec, proto::encode(proto::OffCpuOptions{}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().err, EPROTO);
  EXPECT_TRUE(samples_->active.empty());
  EXPECT_TRUE(profiler_.sessions().empty());
}

TEST(Registry, IdsAndNamesAreUnique) {
  std::set<uint8_t> ids;
  std::set<std::string> names;
  for (const MeasureDef& def : registry()) {
    EXPECT_TRUE(ids.insert(def.id).second) << def.name;
    EXPECT_TRUE(names.insert(def.name).second) << def.name;
    EXPECT_TRUE(def.load) << def.name;
    EXPECT_FALSE(def.events.empty()) << def.name;
  }
}

}  // namespace
}  // namespace scorch
