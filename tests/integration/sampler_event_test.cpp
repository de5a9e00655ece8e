// OnCpuProbe driven directly, without a daemon: samplers are told apart by their attach cookie,
// so what a sampler counts (its perf event type, config and period) is a parameter.
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <thread>

#include "common/unique_fd.h"
#include "harness.h"
#include "probes/oncpu_probe.h"
#include "probes/perf_event.h"
#include "probes/unwind_maps.h"

namespace scorch::test {
namespace {

using Counts = std::map<std::pair<uint32_t, uint32_t>, uint64_t>;  // {tgid, sampler id} -> samples

class OnCpuEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "loads BPF programs: run as root";
    auto maps = UnwindMaps::create();
    ASSERT_TRUE(maps) << maps.error().message();
    maps_ = std::move(*maps);
    auto probe = OnCpuProbe::load(*maps_);
    ASSERT_TRUE(probe) << probe.error().message();
    probe_ = std::move(*probe);
  }

  Counts drain() {
    Counts counts;
    auto r = probe_->drain([&](const RawSample& s) { counts[{s.tgid, s.sampler}] += s.count; });
    EXPECT_TRUE(r) << r.error().message();
    return counts;
  }

  /// Tells page_touch to touch its pages; its report ("touched=N minflt=M"), empty if none came.
  static std::string touch(Child& prog) {
    if (::kill(prog.pid(), SIGUSR1) != 0) return "";
    return prog.read_line();
  }

  static uint64_t of_tgid(const Counts& c, uint32_t tgid, uint32_t sampler) {
    auto it = c.find({tgid, sampler});
    return it == c.end() ? 0 : it->second;
  }

  std::unique_ptr<UnwindMaps> maps_;  // outlives the probe, which shares its maps
  std::unique_ptr<OnCpuProbe> probe_;
};

// A per-process page-fault sampler with a period of 1: every fault of the program is one sample.
// page_touch first-touches 2000 fresh pages after the sampler is attached; what else it faults
// meanwhile (the signal, its printf) is a handful, bounded at 10% + 300.
TEST_F(OnCpuEvents, PageFaultSamplerCountsEveryFault) {
  constexpr uint64_t kPages = 2000;
  Child prog({testprog("page_touch"), std::to_string(kPages)});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  const SamplerEvent faults{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, 1};
  auto id = probe_->add_sampler(pid, faults);
  ASSERT_TRUE(id) << id.error().message();
  std::string line = touch(prog);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex("touched=(\\d+) minflt=(\\d+)"))) << line;
  ASSERT_EQ(std::stoull(m[1]), kPages);
  const uint64_t minflt = std::stoull(m[2]);  // the kernel's own count, for the message

  Counts counts = drain();
  const uint64_t samples = of_tgid(counts, pid, *id);
  EXPECT_GE(samples, kPages) << "getrusage saw " << minflt << " minor faults while touching";
  EXPECT_LE(samples, kPages + kPages / 10 + 300) << "getrusage saw " << minflt << " minor faults while touching";
  for (const auto& [key, n] : counts)
    EXPECT_TRUE(key.first == pid && key.second == *id)
        << n << " samples of PID " << key.first << ", sampler " << key.second;
  std::printf("page-fault sampler: %llu samples for %llu pages touched (getrusage: %llu minor faults)\n",
              static_cast<unsigned long long>(samples), static_cast<unsigned long long>(kPages),
              static_cast<unsigned long long>(minflt));
  probe_->remove_sampler(pid, faults);
  EXPECT_EQ(probe_->sampler_count(), 0u);
}

// Whole-system and per-process cpu-clock samplers of the same period on one busy program at once:
// two ids, each counting the program's CPU time once (~100 samples a second of CPU). A second
// request for the same sampler shares it; an id is never handed out again.
TEST_F(OnCpuEvents, SamePeriodSamplersAreToldApartByCookie) {
  Child prog({testprog("cpu_split"), "70"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  const SamplerEvent clock = SamplerEvent::cpu_clock(10'000'000);  // 100 Hz
  const uint64_t cpu_before = main_thread_cpu_ns(prog.pid());
  auto any = probe_->add_sampler(OnCpuProbe::kPidAny, clock);
  auto own = probe_->add_sampler(pid, clock);
  ASSERT_TRUE(any) << any.error().message();
  ASSERT_TRUE(own) << own.error().message();
  auto shared = probe_->add_sampler(pid, clock);
  ASSERT_TRUE(shared) << shared.error().message();
  EXPECT_NE(*any, *own);
  EXPECT_NE(*any, 0u);
  EXPECT_NE(*own, 0u);
  EXPECT_EQ(*shared, *own) << "the same target and event share one sampler";
  EXPECT_EQ(probe_->sampler_count(), 2u);

  std::this_thread::sleep_for(std::chrono::seconds(2));
  Counts counts = drain();
  const uint64_t cpu_ns = main_thread_cpu_ns(prog.pid()) - cpu_before;
  const double expected = static_cast<double>(cpu_ns) / 1e7;  // one sample per 10 ms of CPU
  ASSERT_GT(expected, 100.0) << "cpu_split hardly ran: " << cpu_ns << " ns";
  const uint64_t by_own = of_tgid(counts, pid, *own), by_any = of_tgid(counts, pid, *any);
  EXPECT_GE(static_cast<double>(by_own), expected * 0.8) << by_own << " for " << cpu_ns << " ns of CPU";
  EXPECT_LE(static_cast<double>(by_own), expected * 1.1) << by_own << " for " << cpu_ns << " ns of CPU";
  EXPECT_GE(static_cast<double>(by_any), expected * 0.8) << by_any << " for " << cpu_ns << " ns of CPU";
  EXPECT_LE(static_cast<double>(by_any), expected * 1.1) << by_any << " for " << cpu_ns << " ns of CPU";
  for (const auto& [key, n] : counts)
    if (key.second == *own) {
      EXPECT_EQ(key.first, pid) << n << " samples of another process from the per-process sampler";
    }
  std::printf("same-period samplers: per-process %llu, whole-system %llu samples of cpu_split; %.0f expected\n",
              static_cast<unsigned long long>(by_own), static_cast<unsigned long long>(by_any), expected);

  probe_->remove_sampler(pid, clock);
  EXPECT_EQ(probe_->sampler_count(), 2u) << "one reference left";
  probe_->remove_sampler(pid, clock);
  probe_->remove_sampler(OnCpuProbe::kPidAny, clock);
  EXPECT_EQ(probe_->sampler_count(), 0u);
  auto again = probe_->add_sampler(pid, clock);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_NE(*again, *own);
  EXPECT_NE(*again, *any);
  probe_->remove_sampler(pid, clock);
}

// A hardware event: where the machine has no PMU (this VM: perf_event_open of cache-misses gives
// ENOENT), adding the sampler fails with that errno, names the event and hints at the PMU, and
// leaves nothing behind; where it has one, the sampler works.
TEST_F(OnCpuEvents, HardwareEventWorksOrFailsClearly) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CACHE_MISSES;
  attr.disabled = 1;
  UniqueFd counter(perf_event_open(&attr, 0, -1));  // a plain counter on ourselves: is there a PMU?
  const int pmu_errno = counter.valid() ? 0 : errno;
  counter.reset();

  Child prog({testprog("page_touch"), "4000"});
  ASSERT_EQ(prog.read_line().rfind("ready", 0), 0u);
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  const SamplerEvent misses{PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, 1000};
  for (uint32_t target : {pid, OnCpuProbe::kPidAny}) {
    SCOPED_TRACE(target == pid ? "per-process" : "whole-system");
    auto id = probe_->add_sampler(target, misses);
    if (pmu_errno == 0) {
      ASSERT_TRUE(id) << id.error().message();
      continue;
    }
    ASSERT_FALSE(id) << "cache-misses sampled although perf_event_open of it failed: " << std::strerror(pmu_errno);
    EXPECT_EQ(id.error().err, pmu_errno) << id.error().message();
    EXPECT_NE(id.error().message().find("cache-misses"), std::string::npos) << id.error().message();
    if (pmu_errno == ENOENT) {
      EXPECT_NE(id.error().hint.find("no PMU"), std::string::npos) << id.error().hint;
    }
    EXPECT_EQ(probe_->sampler_count(), 0u);
    std::printf("%s\nHINT: %s\n", id.error().message().c_str(), id.error().hint.c_str());
  }
  if (pmu_errno == 0) {
    // The kernel zeroing 16 MB of fresh pages misses the cache many times over.
    ASSERT_NE(touch(prog).find("touched="), std::string::npos);
    Counts counts = drain();
    uint64_t own = 0, all = 0;
    for (const auto& [key, n] : counts) (key.first == pid ? own : all) += n;
    EXPECT_GT(own, 0u);
    EXPECT_GT(all + own, 0u);
    probe_->remove_sampler(pid, misses);
    probe_->remove_sampler(OnCpuProbe::kPidAny, misses);
    EXPECT_EQ(probe_->sampler_count(), 0u);
  }
  // Either way a software sampler works afterwards: nothing left behind gets in its way.
  Child next({testprog("page_touch"), "1000"});
  ASSERT_EQ(next.read_line().rfind("ready", 0), 0u);
  const uint32_t next_pid = static_cast<uint32_t>(next.pid());
  const SamplerEvent faults{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, 1};
  auto id = probe_->add_sampler(next_pid, faults);
  ASSERT_TRUE(id) << id.error().message();
  ASSERT_NE(touch(next).find("touched="), std::string::npos);
  EXPECT_GE(of_tgid(drain(), next_pid, *id), 1000u);
  probe_->remove_sampler(next_pid, faults);
}

}  // namespace
}  // namespace scorch::test
