// The wire protocol: every message round-trips, and bad frames and fields are refused with a reason.
#include <gtest/gtest.h>

#include "proto/malloc_options.h"
#include "proto/protocol.h"
#include "proto/wall_options.h"
#include "proto/wire.h"

namespace scorch::proto {
namespace {

std::span<const uint8_t, kHeaderSize> header_of(const std::vector<uint8_t>& frame) {
  return std::span<const uint8_t>(frame).first<kHeaderSize>();
}

std::span<const uint8_t> payload_of(const std::vector<uint8_t>& frame) {
  return std::span<const uint8_t>(frame).subspan(kHeaderSize);
}

TEST(Protocol, ProfileRequestRoundTrip) {
  ProfileRequest r;
  r.pids = {1, 4242, kMaxPid};
  r.duration_ms = 5000;
  r.measure = kCpuMeasure;
  r.options = encode(CpuOptions{999, {}, 0});
  auto frame = proto::frame(MsgType::kProfileRequest, r);
  auto check = decode_header(header_of(frame), kMaxRequestPayload);
  ASSERT_EQ(check.problem, HeaderProblem::kNone) << check.reason;
  EXPECT_EQ(check.header.type, MsgType::kProfileRequest);
  EXPECT_EQ(check.header.length, frame.size() - kHeaderSize);
  auto back = decode_profile_request(payload_of(frame));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->pids, r.pids);
  EXPECT_EQ(back->duration_ms, 5000u);
  EXPECT_EQ(back->measure, kCpuMeasure);
  auto cpu = decode_cpu_options(back->options);
  ASSERT_TRUE(cpu.ok()) << cpu.error().message();
  EXPECT_EQ(cpu->frequency_hz, 999u);
  // No options sent: the measure's defaults.
  auto defaults = decode_offcpu_options({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_block_ns, UINT64_MAX);
  EXPECT_EQ(defaults->states, kAllStates);
  EXPECT_EQ(decode_cpu_options({})->frequency_hz, kDefaultFrequencyHz);
}

TEST(Protocol, OffCpuRequestRoundTrip) {
  OffCpuOptions o;
  o.min_block_ns = 1'000'000;
  o.max_block_ns = 2'000'000'000;
  o.states = 0x2;
  o.by_state = true;
  ProfileRequest r;
  r.pids = {77};
  r.measure = kOffCpuMeasure;
  r.options = encode(o);
  auto back = decode_profile_request(encode(r));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->measure, kOffCpuMeasure);
  auto off = decode_offcpu_options(back->options);
  ASSERT_TRUE(off.ok()) << off.error().message();
  EXPECT_EQ(off->min_block_ns, 1'000'000u);
  EXPECT_EQ(off->max_block_ns, 2'000'000'000u);
  EXPECT_EQ(off->states, 0x2u);
  EXPECT_TRUE(off->by_state);
  // A wall profile carries both: the sampling rate and the off-CPU filter.
  auto wall = decode_wall_options(encode(WallOptions{CpuOptions{250, {}, 0}, o}));
  ASSERT_TRUE(wall.ok()) << wall.error().message();
  EXPECT_EQ(wall->cpu.frequency_hz, 250u);
  EXPECT_EQ(wall->offcpu.states, 0x2u);
}

TEST(Protocol, MallocRequestAndStackValuesRoundTrip) {
  MallocOptions o;
  o.outstanding = true;
  o.min_age_ns = 30'000'000'000;
  o.weight_calls = true;
  ProfileRequest r;
  r.pids = {42};
  r.measure = kMallocMeasure;
  r.options = encode(o);
  auto back = decode_profile_request(encode(r));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->measure, kMallocMeasure);
  auto m = decode_malloc_options(back->options);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE(m->outstanding);
  EXPECT_EQ(m->min_age_ns, 30'000'000'000u);
  EXPECT_TRUE(m->weight_calls);
  o.outstanding = false;
  o.min_age_ns = 0;
  o.sample_bytes = 512 * 1024;
  o.duty_permille = 10;
  m = decode_malloc_options(encode(o));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->sample_bytes, 512u * 1024u);
  EXPECT_EQ(m->duty_permille, 10u);

  Profile p;
  p.measure = "malloc";
  p.value_names = {"calls", "bytes"};
  p.stacks.push_back({42, "srv", {{"main", false}, {"malloc", false}}, 640, {10, 640}});
  auto prof = decode_profile(encode(p));
  ASSERT_TRUE(prof.ok()) << prof.error().message();
  EXPECT_EQ(prof->value_names, p.value_names);
  ASSERT_EQ(prof->stacks.size(), 1u);
  EXPECT_EQ(prof->stacks[0].values, (std::vector<uint64_t>{10, 640}));
  // A stack whose values do not match the names is refused.
  p.stacks[0].values = {1, 2, 3};
  EXPECT_FALSE(decode_profile(encode(p)).ok());
}

TEST(Protocol, ProfileRoundTripKeepsFramesKernelFlagsAndDrops) {
  Profile p;
  p.period_ns = 10101010;
  p.duration_ns = 5'000'000'000;
  p.pids = {77};
  p.drops.samples = 100;
  for (auto [name, n] : {std::pair{"stack_collisions", 1}, {"stack_errors", 2}, {"map_full", 3}, {"lost_stacks", 4}})
    p.drops.add(name, n);
  p.notes = {"process 77 exited during the profile"};
  p.stacks.push_back({77, "srv", {{"main", false}, {"handle", false}, {"schedule", true}}, 40, {}});
  p.stacks.push_back({77, "srv", {{"main", false}, {"handle", false}}, 60, {}});
  p.stacks.push_back({78, "other", {}, 1, {}});
  auto bytes = encode(p);
  auto back = decode_profile(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(back->stacks.size(), 3u);
  EXPECT_EQ(back->stacks[0].frames.size(), 3u);
  EXPECT_EQ(back->stacks[0].frames[2].name, "schedule");
  EXPECT_TRUE(back->stacks[0].frames[2].kernel);
  EXPECT_FALSE(back->stacks[0].frames[1].kernel);
  EXPECT_EQ(back->stacks[1].count, 60u);
  EXPECT_EQ(back->stacks[2].comm, "other");
  EXPECT_EQ(back->drops.get("lost_stacks"), 4u);
  EXPECT_EQ(back->drops.get("map_full"), 3u);
  EXPECT_EQ(back->notes, p.notes);
  EXPECT_EQ(back->period_ns, p.period_ns);
  EXPECT_EQ(back->total(), 101u);
}

TEST(Protocol, StatusAndErrorRoundTrip) {
  StatusReply s;
  s.version = "0.1.0";
  s.daemon_pid = 12;
  s.features = {{"tp_btf", true, "attached"}, {"kprobes", false, "no kprobe PMU"}};
  s.sessions = {{3, 1000, {5, 6}, "wall", "99 Hz", "samples and blocks", 1500, 10000, 148}};
  s.drops.samples = 9;
  s.events = {{"cycles", false, "this machine has no hardware PMU"}, {"page-faults", true, "software"}};
  auto back = decode_status_reply(encode(s));
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[0].detail, "this machine has no hardware PMU");
  EXPECT_TRUE(back->events[1].available);
  ASSERT_EQ(back->features.size(), 2u);
  EXPECT_FALSE(back->features[1].available);
  EXPECT_EQ(back->sessions[0].pids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(back->sessions[0].samples, 148u);
  EXPECT_EQ(back->sessions[0].detail, "99 Hz");
  EXPECT_EQ(back->sessions[0].events, "samples and blocks");
  EXPECT_EQ(back->sessions[0].measure, "wall");

  ErrorReply e{"profile PID 5", "no such process", "check the PID", 3};
  auto eb = decode_error_reply(encode(e));
  ASSERT_TRUE(eb.ok());
  EXPECT_EQ(eb->hint, "check the PID");
  EXPECT_EQ(eb->err, 3);
}

TEST(Protocol, HeaderProblemsAreNamed) {
  auto good = encode_frame(MsgType::kStatusRequest, {});
  EXPECT_EQ(decode_header(header_of(good), kMaxRequestPayload).problem, HeaderProblem::kNone);

  auto bad_magic = good;
  bad_magic[0] ^= 0xff;
  EXPECT_EQ(decode_header(header_of(bad_magic), kMaxRequestPayload).problem, HeaderProblem::kBadMagic);

  auto bad_version = good;
  bad_version[4] = static_cast<uint8_t>(kVersion + 1);
  auto v = decode_header(header_of(bad_version), kMaxRequestPayload);
  EXPECT_EQ(v.problem, HeaderProblem::kBadVersion);
  EXPECT_NE(v.reason.find("version " + std::to_string(kVersion + 1)), std::string::npos);

  auto bad_type = good;
  bad_type[6] = 77;
  EXPECT_EQ(decode_header(header_of(bad_type), kMaxRequestPayload).problem, HeaderProblem::kBadType);

  auto flags = good;
  flags[12] = 1;
  EXPECT_EQ(decode_header(header_of(flags), kMaxRequestPayload).problem, HeaderProblem::kBadFlags);

  auto big = encode_frame(MsgType::kProfileRequest, std::vector<uint8_t>(kMaxRequestPayload + 1, 0));
  EXPECT_EQ(decode_header(header_of(big), kMaxRequestPayload).problem, HeaderProblem::kTooLarge);
  EXPECT_EQ(decode_header(header_of(big), kMaxReplyPayload).problem, HeaderProblem::kNone);
}

TEST(Protocol, InvalidFieldsAreRefused) {
  auto encoded = [](ProfileRequest r) { return encode(r); };
  ProfileRequest r;
  EXPECT_FALSE(decode_cpu_options(encode(CpuOptions{0, {}, 0})).ok());
  EXPECT_FALSE(decode_cpu_options(encode(CpuOptions{kMaxFrequencyHz + 1, {}, 0})).ok());
  EXPECT_TRUE(decode_cpu_options(encode(CpuOptions{99, {}, 0})).ok());
  r.pids = {0};
  auto zero = decode_profile_request(encoded(r));
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().reason.find("pid 0"), std::string::npos);
  r.pids = {kMaxPid + 1};
  EXPECT_FALSE(decode_profile_request(encoded(r)).ok());
  r.pids.assign(kMaxPids + 1, 5);
  EXPECT_FALSE(decode_profile_request(encoded(r)).ok());
  r.pids = {5};
  r.duration_ms = kMaxDurationMs + 1;
  EXPECT_FALSE(decode_profile_request(encoded(r)).ok());
  r.duration_ms = 0;
  r.options.assign(kMaxOptionsBytes + 1, 0);
  EXPECT_FALSE(decode_profile_request(encoded(r)).ok()) << "options past their limit";
  r.options.clear();
  MallocOptions m;
  m.outstanding = true;
  m.sample_bytes = 4096;
  EXPECT_FALSE(decode_malloc_options(encode(m)).ok()) << "outstanding needs every call";
  m.outstanding = false;
  m.sample_bytes = kMaxSampleBytes + 1;
  EXPECT_FALSE(decode_malloc_options(encode(m)).ok());
  m.sample_bytes = 0;
  m.duty_permille = kMaxDutyPermille + 1;
  EXPECT_FALSE(decode_malloc_options(encode(m)).ok());
  OffCpuOptions o;
  o.states = 0;
  EXPECT_FALSE(decode_offcpu_options(encode(o)).ok());
  o.states = 0x10;
  EXPECT_FALSE(decode_offcpu_options(encode(o)).ok());
  o.states = kAllStates;
  o.min_block_ns = 10;
  o.max_block_ns = 5;
  EXPECT_FALSE(decode_offcpu_options(encode(o)).ok());
  o.max_block_ns = 10;
  EXPECT_TRUE(decode_offcpu_options(encode(o)).ok());
  // One measure's options are not another's: trailing or missing bytes are refused, naming the measure.
  auto crossed = decode_cpu_options(encode(o));
  ASSERT_FALSE(crossed.ok());
  EXPECT_EQ(crossed.error().what, "decode cpu options");
  EXPECT_FALSE(decode_offcpu_options(encode(CpuOptions{99, {}, 0})).ok());
}

TEST(Protocol, TruncatedAndTrailingPayloadsAreRefused) {
  ProfileRequest r;
  r.pids = {10, 20};
  auto bytes = encode(r);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT_FALSE(decode_profile_request(part).ok()) << "accepted a request cut at " << cut;
  }
  bytes.push_back(0);
  auto trailing = decode_profile_request(bytes);
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.error().reason.find("trailing"), std::string::npos);
  EXPECT_FALSE(decode_status_request(std::vector<uint8_t>{1}).ok());
}

// GCC 12 at -O3 reports writes past the end of the Writer's vector once its push_back and insert
// are inlined here (-Wstringop-overflow): a false positive, as in GCC bugs 106199 and 100366.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
TEST(Protocol, LyingCountsAllocateNothing) {
  // A profile claiming 2^24 strings in 8 bytes must be refused before any allocation of that size.
  wire::Writer w;
  w.str("cpu");
  w.str("samples");
  w.u64(0);
  w.u64(0);
  w.u32(0);           // pids
  w.u64(0);           // drops: samples
  w.u32(0);           // drops: no counters
  w.u32(0);           // notes
  w.u32(0x00ffffff);  // string table count
  auto p = decode_profile(w.bytes());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().reason.find("count"), std::string::npos);
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic pop
#endif

TEST(Protocol, StringIndexOutOfRangeIsRefused) {
  Profile p;
  p.stacks.push_back({1, "a", {{"f", false}}, 1, {}});
  auto bytes = encode(p);
  // The last 4 bytes are the frame's string index: point it past the table.
  bytes[bytes.size() - 4] = 0x55;
  auto back = decode_profile(bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().reason.find("out of range"), std::string::npos);
}

Profile histogram_profile() {
  Profile p;
  p.measure = "locks";
  p.unit = "us";
  p.value_names = {"wait_us", "contentions", "max_wait_us"};
  p.stacks.push_back({7, "srv", {{"main", false}, {"pthread_mutex_lock", false}}, 12, {12, 3, 9}});
  Histogram a{"lock mutex_a (0x55d0c0de1000)", "ns", {0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1}};
  Histogram all{"every bucket", "ns", std::vector<uint64_t>(Histogram::kMaxBuckets, 1)};
  all.counts.back() = UINT64_MAX;
  p.histograms = {a, all, Histogram{"empty", "", {}}};
  return p;
}

TEST(Protocol, HistogramsRoundTrip) {
  const Profile p = histogram_profile();
  auto frame = proto::frame(MsgType::kProfileResult, p);
  ASSERT_EQ(decode_header(header_of(frame), kMaxReplyPayload).problem, HeaderProblem::kNone);
  auto back = decode_profile(payload_of(frame));
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(back->histograms.size(), 3u);
  for (size_t i = 0; i < p.histograms.size(); ++i) {
    EXPECT_EQ(back->histograms[i].label, p.histograms[i].label);
    EXPECT_EQ(back->histograms[i].unit, p.histograms[i].unit);
    EXPECT_EQ(back->histograms[i].counts, p.histograms[i].counts);
  }
  // The rest of the profile travels as before.
  ASSERT_EQ(back->stacks.size(), 1u);
  EXPECT_EQ(back->stacks[0].values, (std::vector<uint64_t>{12, 3, 9}));
  EXPECT_EQ(back->stacks[0].frames[1].name, "pthread_mutex_lock");
  EXPECT_EQ(back->value_names, p.value_names);
  // A profile without histograms decodes to none.
  EXPECT_TRUE(decode_profile(encode(Profile{}))->histograms.empty());
}

TEST(Protocol, TruncatedOrOversizedHistogramsAreRefused) {
  Profile p;
  p.histograms = {Histogram{"lock a", "ns", {1, 2, 3}}};
  auto bytes = encode(p);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT_FALSE(decode_profile(part).ok()) << "accepted a profile cut at " << cut;
  }
  // More buckets than a uint64_t value has.
  p.histograms[0].counts.assign(Histogram::kMaxBuckets + 1, 1);
  auto big = decode_profile(encode(p));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().reason.find("count"), std::string::npos) << big.error().reason;
  p.histograms[0].counts.assign(Histogram::kMaxBuckets, 1);
  EXPECT_TRUE(decode_profile(encode(p)).ok());
  // Label and unit past their limits.
  p.histograms[0].label.assign(64 * 1024, 'x');
  EXPECT_FALSE(decode_profile(encode(p)).ok());
  p.histograms[0].label = "lock a";
  p.histograms[0].unit.assign(1024, 'n');
  EXPECT_FALSE(decode_profile(encode(p)).ok());
  // More histograms than allowed (each the smallest there is: no label, unit or buckets).
  p.histograms.assign(kMaxHistograms + 1, Histogram{});
  EXPECT_FALSE(decode_profile(encode(p)).ok());
}

TEST(Protocol, LyingHistogramCountsAllocateNothing) {
  auto head = [] {
    wire::Writer w;
    w.str("locks");
    w.str("us");
    w.u64(0);
    w.u64(0);
    w.u32(0);  // pids
    w.u64(0);  // drops: samples
    w.u32(0);  // drops: no counters
    w.u32(0);  // notes
    w.u32(0);  // value names
    return w;
  };
  wire::Writer many = head();
  many.u32(kMaxHistograms);  // histograms, in a few bytes
  many.u64(0);
  auto p = decode_profile(many.bytes());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().reason.find("count"), std::string::npos) << p.error().reason;

  wire::Writer buckets = head();
  buckets.u32(1);  // one histogram
  buckets.str("lock");
  buckets.str("ns");
  buckets.u32(Histogram::kMaxBuckets);  // 64 buckets claimed, 2 sent
  buckets.u64(1);
  buckets.u64(2);
  p = decode_profile(buckets.bytes());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().reason.find("count"), std::string::npos) << p.error().reason;
}

TEST(Protocol, PeersOfTheVersionBeforeGetTheVersionError) {
  // A frame of the version before (7: no stat per thread) is refused by its
  // header, never parsed.
  static_assert(kVersion == 8);
  auto old = proto::frame(MsgType::kProfileResult, histogram_profile());
  old[4] = 7;
  old[5] = 0;
  auto check = decode_header(header_of(old), kMaxReplyPayload);
  EXPECT_EQ(check.problem, HeaderProblem::kBadVersion);
  EXPECT_NE(check.reason.find("protocol version 7 not supported (this side speaks 8)"), std::string::npos)
      << check.reason;
}

Table holders_table() {
  Table t;
  t.title = "top holders";
  t.columns = {{"wait_us", true}, {"waits", true}, {"holder", false}};
  t.rows = {{"18446744073709551615", "3", "tid 12 (worker)"}, {"0.5", "-1", ""}};
  return t;
}

TEST(Protocol, TablesRoundTrip) {
  Profile p = histogram_profile();
  p.tables = {holders_table(), Table{"empty", {{"n", true}}, {}}};
  auto back = decode_profile(encode(p));
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(back->tables.size(), 2u);
  for (size_t i = 0; i < p.tables.size(); ++i) {
    EXPECT_EQ(back->tables[i].title, p.tables[i].title);
    EXPECT_EQ(back->tables[i].columns, p.tables[i].columns);
    EXPECT_EQ(back->tables[i].rows, p.tables[i].rows);
  }
  EXPECT_EQ(back->histograms.size(), p.histograms.size());
  EXPECT_TRUE(decode_profile(encode(Profile{}))->tables.empty());
}

TEST(Protocol, BadTablesAreRefused) {
  Profile p;
  p.tables = {holders_table()};
  auto bytes = encode(p);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT_FALSE(decode_profile(part).ok()) << "accepted a profile cut at " << cut;
  }
  // A numeric column's cell that is not a number, in each form a number must not take.
  for (const char* bad : {"12us", "", "-", "1.", ".5", "1.2.3", "007", "1e3", " 1"}) {
    p.tables[0].rows[0][0] = bad;
    auto back = decode_profile(encode(p));
    ASSERT_FALSE(back.ok()) << "accepted '" << bad << "'";
    EXPECT_NE(back.error().reason.find("numeric column wait_us"), std::string::npos) << back.error().reason;
  }
  // A table without columns, a column without a name, too many tables.
  p.tables = {Table{"t", {}, {}}};
  EXPECT_FALSE(decode_profile(encode(p)).ok());
  p.tables = {Table{"t", {{"", false}}, {}}};
  EXPECT_FALSE(decode_profile(encode(p)).ok());
  p.tables.assign(kMaxTables + 1, Table{"t", {{"n", false}}, {}});
  EXPECT_FALSE(decode_profile(encode(p)).ok());
  p.tables.assign(kMaxTables, Table{"t", {{"n", false}}, {}});
  EXPECT_TRUE(decode_profile(encode(p)).ok());
}

}  // namespace
}  // namespace scorch::proto
