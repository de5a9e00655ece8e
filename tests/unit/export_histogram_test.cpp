// Histograms and tables in every output: JSON lists the non-empty buckets and the rows, the text
// tables print histograms as bcc and bpftrace do and tables aligned, folded stacks and the
// flamegraph leave both out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "profile_builders.h"

#include "export/flamegraph.h"
#include "export/folded.h"
#include "export/json.h"
#include "export/text_table.h"

namespace scorch {
namespace {

/// Waits of lock a: 2 in [0, 2), 3 in [4, 8), 6 in [16, 32), 12 in [32, 64); the buckets between empty.
Histogram lock_a() { return Histogram{"lock mutex_a (0x55d0c0de1000)", "ns", {2, 0, 3, 0, 6, 12, 0, 0}}; }

Profile locks_profile() {
  Profile p;
  p.measure = "locks";
  p.unit = "us";
  p.stacks.push_back(make_stack(7, "srv", {{"main", false}, {"pthread_mutex_lock", false}}, 12));
  p.histograms = {lock_a()};
  return p;
}

TEST(Histogram, BucketsAreLog2WithZeroInTheFirst) {
  EXPECT_EQ(Histogram::bucket_of(0), 0u);
  EXPECT_EQ(Histogram::bucket_of(1), 0u);
  EXPECT_EQ(Histogram::bucket_of(2), 1u);
  EXPECT_EQ(Histogram::bucket_of(3), 1u);
  EXPECT_EQ(Histogram::bucket_of(1024), 10u);
  EXPECT_EQ(Histogram::bucket_of(2047), 10u);
  EXPECT_EQ(Histogram::bucket_of(UINT64_MAX), 63u);
  Histogram h;
  h.add(0);
  h.add(5, 3);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{1, 0, 3}));
  EXPECT_EQ(h.total(), 4u);
}

TEST(ExportJson, HistogramsListNonEmptyBuckets) {
  const std::string json = render_json(locks_profile());
  const std::string expected = R"J(,"histograms":[{"label":"lock mutex_a (0x55d0c0de1000)","unit":"ns","buckets":[)J"
                               R"({"low":0,"high":2,"count":2},{"low":4,"high":8,"count":3},)"
                               R"({"low":16,"high":32,"count":6},{"low":32,"high":64,"count":12}]}]})"
                               "\n";
  ASSERT_GE(json.size(), expected.size());
  EXPECT_EQ(json.substr(json.size() - expected.size()), expected) << json;
  // After the stacks, which are as before.
  EXPECT_NE(json.find(R"("stacks":[{"pid":7,"comm":"srv","count":12,)"), std::string::npos) << json;
}

TEST(ExportJson, HistogramEdgesAndEmptyOnes) {
  Profile p;
  Histogram top{"top", "ns", std::vector<uint64_t>(Histogram::kMaxBuckets, 0)};
  top.counts[62] = 1;
  top.counts[63] = UINT64_MAX;
  p.histograms = {top, Histogram{"none", "", {0, 0}}};
  const std::string json = render_json(p);
  EXPECT_NE(json.find(R"({"low":4611686018427387904,"high":9223372036854775808,"count":1})"), std::string::npos)
      << json;
  // The last bucket's high is 2^64, past uint64_t: still written as the exact integer.
  EXPECT_NE(json.find(R"({"low":9223372036854775808,"high":18446744073709551616,"count":18446744073709551615})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"label":"none","unit":"","buckets":[]})"), std::string::npos) << json;

  const auto path =
      std::filesystem::temp_directory_path() / ("scorch_histogram_test_" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << json;
  const std::string cmd =
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"histograms\"][0][\"buckets\"][1]"
      "[\"high\"] == 2**64' '" +
      path.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::filesystem::remove(path);
}

TEST(ExportText, HistogramLikeBpftrace) {
  Profile p;
  p.histograms = {lock_a()};
  // From the first non-empty bucket to the last, empty ones between included; bars scaled to 12.
  const std::string expected =
      "\n"
      "lock mutex_a (0x55d0c0de1000) (ns):\n"
      "[0, 2)     2 |@@@@@@                                  |\n"
      "[2, 4)     0 |                                        |\n"
      "[4, 8)     3 |@@@@@@@@@@                              |\n"
      "[8, 16)    0 |                                        |\n"
      "[16, 32)   6 |@@@@@@@@@@@@@@@@@@@@                    |\n"
      "[32, 64)  12 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n";
  EXPECT_EQ(render_histograms(p), expected);

  Histogram late{"late\x1b[2J", "", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  p.histograms = {late, Histogram{"nothing", "us", {0}}};
  EXPECT_EQ(render_histograms(p),
            "\nlate?[2J:\n"
            "[1024, 2048)  1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
            "\nnothing (us):\n(no values)\n");
  EXPECT_EQ(render_histograms(Profile{}), "");
}

TEST(ExportText, HistogramCountsNearTheLimit) {
  Profile p;
  Histogram h{"big", "ns", std::vector<uint64_t>(Histogram::kMaxBuckets, 0)};
  h.counts[62] = UINT64_MAX / 2;
  h.counts[63] = UINT64_MAX;
  p.histograms = {h};
  const std::string text = render_histograms(p);
  EXPECT_NE(
      text.find("[4611686018427387904, 9223372036854775808)    9223372036854775807 |" + std::string(19, '@') + " "),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("[9223372036854775808, 18446744073709551616)  18446744073709551615 |" + std::string(40, '@') + "|\n"),
      std::string::npos)
      << text;
}

TEST(ExportText, TablesEndWithTheirHistogramsBeforeDrops) {
  Profile p = locks_profile();
  p.drops.add("map_full", 3);
  const std::string top = render_top_table(p, 10);
  const size_t row = top.find("  pthread_mutex_lock\n"), hist = top.find("\nlock mutex_a"),
               drops = top.find("Dropped: 3 map full");
  ASSERT_NE(row, std::string::npos) << top;
  ASSERT_NE(hist, std::string::npos) << top;
  ASSERT_NE(drops, std::string::npos) << top;
  EXPECT_LT(row, hist);
  EXPECT_LT(hist, drops);

  p.value_names = {"wait_us", "contentions", "max_wait_us"};
  p.stacks[0].values = {12, 3, 9};
  const std::string values = render_stack_values_table(p, 10);
  EXPECT_LT(values.find("pthread_mutex_lock <- main"), values.find("\nlock mutex_a")) << values;
  EXPECT_NE(values.find("[32, 64)  12 |"), std::string::npos) << values;
  EXPECT_LT(values.find("[32, 64)  12 |"), values.find("Dropped: 3 map full")) << values;

  // A profile without stacks still shows its histograms.
  Profile empty;
  empty.histograms = {lock_a()};
  EXPECT_EQ(render_top_table(empty, 10).rfind("No samples recorded.\n\nlock mutex_a", 0), 0u);
  EXPECT_EQ(render_stack_values_table(empty, 10).rfind("No allocations recorded.\n\nlock mutex_a", 0), 0u);
}

TEST(ExportFolded, HistogramsAreLeftOut) {
  Profile with = locks_profile();
  Profile without = with;
  without.histograms.clear();
  EXPECT_EQ(render_folded(with), render_folded(without));
  FlameOptions fo;
  EXPECT_EQ(render_flamegraph_svg(with, fo), render_flamegraph_svg(without, fo));
}

Table holders() {
  Table t;
  t.title = "top holders";
  t.columns = {{"wait_us", true}, {"waits", true}, {"holder", false}, {"lock", false}};
  t.rows = {{"1200", "7", "tid 12 (worker)", "mutex a"}, {"35", "12", "tid 9 (\x1b[31m)", "mutex b"}};
  return t;
}

TEST(ExportText, TablesAlignTheirColumnsBeforeTheHistograms) {
  Profile p = locks_profile();
  p.tables = {holders()};
  const std::string text = render_top_table(p, 10);
  const std::string expected =
      "\ntop holders:\n"
      "WAIT US  WAITS  HOLDER           LOCK\n"
      "   1200      7  tid 12 (worker)  mutex a\n"
      "     35     12  tid 9 (?[31m)    mutex b\n";
  const size_t at = text.find(expected);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_LT(at, text.find("\nlock mutex_a")) << text;

  // Past 20 rows the rest is counted; a table without rows says so.
  Table many = holders();
  many.rows.assign(25, {"1", "1", "tid 1 (a)", "mutex"});
  p.tables = {many, Table{"nothing", {{"n", true}}, {}}};
  const std::string cut = render_stack_values_table(p, 10);
  EXPECT_NE(cut.find("(5 more rows)\n\nnothing:\n(no rows)\n"), std::string::npos) << cut;
}

TEST(ExportJson, TablesWithNumbersAsNumbers) {
  Profile p;
  p.tables = {holders()};
  p.tables[0].rows.push_back({"x", "0.25", "", ""});
  const std::string json = render_json(p);
  const std::string expected = R"J(,"tables":[{"title":"top holders","columns":[{"name":"wait_us","numeric":true},)J"
                               R"J({"name":"waits","numeric":true},{"name":"holder","numeric":false},)J"
                               R"J({"name":"lock","numeric":false}],"rows":[)J"
                               R"J({"wait_us":1200,"waits":7,"holder":"tid 12 (worker)","lock":"mutex a"},)J"
                               R"J({"wait_us":35,"waits":12,"holder":"tid 9 (\u001b[31m)","lock":"mutex b"},)J"
                               R"J({"wait_us":null,"waits":0.25,"holder":"","lock":""}]}]})J"
                               "\n";
  ASSERT_GE(json.size(), expected.size());
  EXPECT_EQ(json.substr(json.size() - expected.size()), expected) << json;
}

TEST(ExportFolded, TablesAreLeftOut) {
  Profile with = locks_profile();
  with.tables = {holders()};
  Profile without = locks_profile();
  EXPECT_EQ(render_folded(with), render_folded(without));
  FlameOptions fo;
  EXPECT_EQ(render_flamegraph_svg(with, fo), render_flamegraph_svg(without, fo));
}

}  // namespace
}  // namespace scorch
