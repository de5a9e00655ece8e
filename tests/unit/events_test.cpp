// The perf event catalogue, the options that name events on the wire, and the CLI's checks of
// them (usage errors, before any daemon is asked).
#include <gtest/gtest.h>
#include <linux/perf_event.h>

#include <set>

#include "cli/commands.h"
#include "proto/cpu_options.h"
#include "proto/perf_events.h"
#include "proto/stat_options.h"
#include "proto/wall_options.h"

namespace scorch {
namespace {

TEST(PerfEvents, EveryNameTheIssueListsIsKnownWithItsTypeAndConfig) {
  for (const char* name :
       {"cycles", "instructions", "cache-references", "cache-misses", "LLC-load-misses", "LLC-loads", "branch-misses",
        "page-faults", "minor-faults", "major-faults", "context-switches", "cpu-migrations", "cpu-clock", "task-clock"})
    EXPECT_TRUE(proto::find_perf_event(name)) << name;
  const auto misses = proto::find_perf_event("cache-misses");
  EXPECT_EQ(misses->type, static_cast<uint32_t>(PERF_TYPE_HARDWARE));
  EXPECT_EQ(misses->config, static_cast<uint64_t>(PERF_COUNT_HW_CACHE_MISSES));
  // LLC-load-misses: cache LL, operation read, result miss (perf_event_open(2)).
  const auto llc = proto::find_perf_event("LLC-load-misses");
  EXPECT_EQ(llc->type, static_cast<uint32_t>(PERF_TYPE_HW_CACHE));
  EXPECT_EQ(llc->config, PERF_COUNT_HW_CACHE_LL | (PERF_COUNT_HW_CACHE_OP_READ << 8) |
                             (static_cast<uint64_t>(PERF_COUNT_HW_CACHE_RESULT_MISS) << 16));
  EXPECT_TRUE(proto::find_perf_event("cpu-clock")->time);
  EXPECT_FALSE(proto::find_perf_event("page-faults")->time);
  // perf's other spellings; nothing else.
  EXPECT_EQ(proto::find_perf_event("faults")->name, "page-faults");
  EXPECT_EQ(proto::find_perf_event("cs")->name, "context-switches");
  EXPECT_FALSE(proto::find_perf_event("Cycles"));
  EXPECT_FALSE(proto::find_perf_event(""));
  std::set<std::string_view> names;
  for (const auto& e : proto::perf_events()) EXPECT_TRUE(names.insert(e.name).second) << e.name << " twice";
  EXPECT_EQ(proto::perf_event_kind(PERF_TYPE_HW_CACHE), "hardware cache");
}

TEST(PerfEvents, StatOptionsRefuseWhatCannotBeCounted) {
  proto::StatOptions o{{"page-faults", "context-switches"}, "count LLC misses", true};
  auto back = proto::decode_stat_options(proto::encode(o));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->events, o.events);
  EXPECT_EQ(back->purpose, o.purpose);
  EXPECT_TRUE(back->per_thread);
  std::vector<uint8_t> bad_flag = proto::encode(o);
  bad_flag.back() = 2;
  EXPECT_FALSE(proto::decode_stat_options(bad_flag).ok());
  auto refused = [](proto::StatOptions bad, const std::string& why) {
    auto r = proto::decode_stat_options(proto::encode(bad));
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_NE(r.error().reason.find(why), std::string::npos) << r.error().reason;
  };
  refused({{}, ""}, "no event to count");
  refused({{"page-faults", "bogus"}, ""}, "unknown event 'bogus'");
  refused({{"page-faults", "page-faults"}, ""}, "given twice");
  proto::StatOptions many;
  for (const auto& e : proto::perf_events()) many.events.emplace_back(e.name);
  many.events.push_back("faults");
  many.events.push_back("cs");
  ASSERT_GT(many.events.size(), proto::kMaxStatEvents);
  refused(many, "count out of range");
}

TEST(PerfEvents, CpuOptionsCarryTheEventAndPeriod) {
  proto::CpuOptions o{99, "page-faults", 1};
  auto back = proto::decode_cpu_options(proto::encode(o));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->event, "page-faults");
  EXPECT_EQ(back->period, 1u);
  EXPECT_FALSE(proto::decode_cpu_options(proto::encode(proto::CpuOptions{99, "bogus", 0})).ok());
  // Wall-clock time is cpu-clock's: another event there is refused.
  auto wall = proto::decode_wall_options(proto::encode(proto::WallOptions{o, {}}));
  ASSERT_FALSE(wall.ok());
  EXPECT_NE(wall.error().reason.find("cpu-clock only"), std::string::npos) << wall.error().reason;
}

int run(const std::string& command, const std::vector<std::string>& args) {
  cli::GlobalOptions g;
  g.socket_path = "/nonexistent/scorch-test.sock";  // a usage error never gets this far
  for (const auto& c : cli::commands())
    if (c.name == command) return c.run(g, args);
  return -1;
}

TEST(PerfEvents, CliUsageErrorsExitTwo) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(run("profile", {"-e", "bogus", "-p", "1"}), 2);
  EXPECT_EQ(run("profile", {"-e", "page-faults", "-c", "1", "-F", "99", "-p", "1"}), 2);
  EXPECT_EQ(run("profile", {"--wall", "-e", "page-faults", "-p", "1"}), 2);
  EXPECT_EQ(run("profile", {"-e", "page-faults", "-c", "0", "-p", "1"}), 2);
  EXPECT_EQ(run("stat", {"-p", "1"}), 2);
  EXPECT_EQ(run("stat", {"-e", "page-faults,page-faults", "-p", "1"}), 2);
  EXPECT_EQ(run("stat", {"-e", "page-faults", "-p", "1", "-o", "x.svg"}), 2);
  EXPECT_EQ(run("llc", {"-o", "x.folded"}), 2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("unknown event 'bogus' (scorch list shows the events)"), std::string::npos) << err;
  EXPECT_NE(err.find("give -c PERIOD or -F HZ, not both"), std::string::npos) << err;
  EXPECT_NE(err.find("stat needs -e EVENT"), std::string::npos) << err;
  EXPECT_NE(err.find("counts have no stacks"), std::string::npos) << err;
  // A good command line gets as far as the daemon (which is not there): exit 1, not 2.
  testing::internal::CaptureStderr();
  EXPECT_EQ(run("stat", {"-e", "page-faults", "-p", "1", "-d", "1"}), 1);
  EXPECT_EQ(run("profile", {"-e", "page-faults", "-c", "1", "-p", "1", "-d", "1"}), 1);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("failed to connect to scorchd"), std::string::npos);
}

}  // namespace
}  // namespace scorch
