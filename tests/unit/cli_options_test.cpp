// The CLI's shared option parsing: value parsers, the option table's parser, the output format.
#include <gtest/gtest.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/output.h"

namespace scorch::cli {
namespace {

TEST(CliOptions, TimeTakesUnitsAndABareScale) {
  uint64_t ns = 0;
  ASSERT_TRUE(parse_time("30s", 1e9, ns));
  EXPECT_EQ(ns, 30'000'000'000u);
  ASSERT_TRUE(parse_time("500ms", 1e9, ns));
  EXPECT_EQ(ns, 500'000'000u);
  ASSERT_TRUE(parse_time("2us", 1e9, ns));
  EXPECT_EQ(ns, 2'000u);
  ASSERT_TRUE(parse_time("10ns", 1e9, ns));
  EXPECT_EQ(ns, 10u);
  ASSERT_TRUE(parse_time("1m", 1e9, ns));
  EXPECT_EQ(ns, 60'000'000'000u);
  ASSERT_TRUE(parse_time("250", 1e3, ns));  // bare: microseconds for --min-block
  EXPECT_EQ(ns, 250'000u);
  ASSERT_TRUE(parse_time("1.5ms", 1e3, ns));
  EXPECT_EQ(ns, 1'500'000u);
}

TEST(CliOptions, TimeRefusesWhatIsNotOne) {
  uint64_t ns = 7;
  EXPECT_FALSE(parse_time("", 1e9, ns));
  EXPECT_FALSE(parse_time("s", 1e9, ns));
  EXPECT_FALSE(parse_time("-1s", 1e9, ns));
  EXPECT_FALSE(parse_time("5h", 1e9, ns));
  EXPECT_FALSE(parse_time("1.2.3s", 1e9, ns));
  EXPECT_FALSE(parse_time("99999999999m", 1e9, ns));  // above 1e18 ns
  EXPECT_EQ(ns, 7u);
}

TEST(CliOptions, SizeTakesBinaryUnits) {
  uint64_t bytes = 0;
  ASSERT_TRUE(parse_size("4096", bytes));
  EXPECT_EQ(bytes, 4096u);
  ASSERT_TRUE(parse_size("512KiB", bytes));
  EXPECT_EQ(bytes, 512u * 1024);
  ASSERT_TRUE(parse_size("64k", bytes));
  EXPECT_EQ(bytes, 64u * 1024);
  ASSERT_TRUE(parse_size("1MiB", bytes));
  EXPECT_EQ(bytes, 1u << 20);
  ASSERT_TRUE(parse_size("2MB", bytes));
  EXPECT_EQ(bytes, 2u << 20);
  EXPECT_FALSE(parse_size("1GiB", bytes));
  EXPECT_FALSE(parse_size("KiB", bytes));
}

TEST(CliOptions, PercentIsPerMille) {
  uint32_t permille = 0;
  ASSERT_TRUE(parse_percent_permille("1%", permille));
  EXPECT_EQ(permille, 10u);
  ASSERT_TRUE(parse_percent_permille("0.5", permille));
  EXPECT_EQ(permille, 5u);
  ASSERT_TRUE(parse_percent_permille("100%", permille));
  EXPECT_EQ(permille, 1000u);
  EXPECT_FALSE(parse_percent_permille("101%", permille));
  EXPECT_FALSE(parse_percent_permille("5x", permille));
}

TEST(CliOptions, SecondsAreMillisecondsAtLeastOne) {
  uint64_t ms = 0;
  ASSERT_TRUE(parse_seconds("10", 60'000, ms));
  EXPECT_EQ(ms, 10'000u);
  ASSERT_TRUE(parse_seconds("0.25", 60'000, ms));
  EXPECT_EQ(ms, 250u);
  ASSERT_TRUE(parse_seconds("0.0001", 60'000, ms));
  EXPECT_EQ(ms, 1u);
  EXPECT_FALSE(parse_seconds("0", 60'000, ms));
  EXPECT_FALSE(parse_seconds("-1", 60'000, ms));
  EXPECT_FALSE(parse_seconds("", 60'000, ms));
  EXPECT_FALSE(parse_seconds("5s", 60'000, ms));
  EXPECT_FALSE(parse_seconds("61", 60'000, ms));
}

TEST(CliOptions, PidsAreCommaSeparatedAndAppended) {
  std::vector<uint32_t> pids{1};
  std::string bad;
  ASSERT_TRUE(parse_pids("12,34", 4'194'304, pids, bad));
  EXPECT_EQ(pids, (std::vector<uint32_t>{1, 12, 34}));
  EXPECT_FALSE(parse_pids("5,x", 4'194'304, pids, bad));
  EXPECT_EQ(bad, "x");
  EXPECT_FALSE(parse_pids("0", 4'194'304, pids, bad));
  EXPECT_EQ(bad, "0");
  EXPECT_FALSE(parse_pids("4194305", 4'194'304, pids, bad));
  EXPECT_FALSE(parse_pids("-3", 4'194'304, pids, bad));
}

TEST(CliOptions, U32IsWholeAndFits) {
  uint32_t v = 0;
  ASSERT_TRUE(parse_u32("4294967295", v));
  EXPECT_EQ(v, 4294967295u);
  EXPECT_FALSE(parse_u32("4294967296", v));
  EXPECT_FALSE(parse_u32("", v));
  EXPECT_FALSE(parse_u32("12a", v));
}

// A table of one flag and one option with a value, as a command declares them.
struct Parsed {
  bool set = false;
  std::string value;
  std::vector<Option> options() {
    return {
        flag({"-f", "--flag"}, set),
        {{"-x"},
         "a number",
         [this](const std::string& v) {
           value = v;
           return v == "bad" ? "'bad' is not a number" : "";
         }},
    };
  }
};

constexpr const char* kUsage = "usage: scorch test\n";

TEST(CliOptions, TableAppliesFlagsAndValues) {
  Parsed p;
  EXPECT_EQ(parse_options({"--flag", "-x", "7"}, p.options(), "test", kUsage), std::nullopt);
  EXPECT_TRUE(p.set);
  EXPECT_EQ(p.value, "7");
}

TEST(CliOptions, HelpPrintsUsageAndExitsZero) {
  Parsed p;
  testing::internal::CaptureStdout();
  EXPECT_EQ(parse_options({"-x", "1", "-h", "--bogus"}, p.options(), "test", kUsage), 0);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), kUsage);
}

TEST(CliOptions, UsageErrorsExitTwoWithTheMessageAndUsage) {
  struct Case {
    std::vector<std::string> args;
    std::string stderr_text;
  };
  const Case cases[] = {
      {{"--bogus"}, "scorch: unknown option '--bogus' for test\n"},
      {{"-x"}, "scorch: -x needs a number\n"},
      {{"-x", "bad"}, "scorch: 'bad' is not a number\n"},
      {{"test"}, "scorch: unknown option 'test' for test\n"},
  };
  for (const auto& c : cases) {
    Parsed p;
    testing::internal::CaptureStderr();
    EXPECT_EQ(parse_options(c.args, p.options(), "test", kUsage), 2) << c.stderr_text;
    EXPECT_EQ(testing::internal::GetCapturedStderr(), c.stderr_text + kUsage);
  }
}

TEST(CliOptions, MissingValueMessageCanBeWhole) {
  std::vector<Option> options{{{"--weight"},
                               "bytes or calls",
                               [](const std::string&) { return std::string(); },
                               "--weight takes bytes or calls"}};
  testing::internal::CaptureStderr();
  EXPECT_EQ(parse_options({"--weight"}, options, "malloc", kUsage), 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), std::string("scorch: --weight takes bytes or calls\n") + kUsage);
}

TEST(CliOutput, FormatFollowsTheFileNameThenJson) {
  EXPECT_EQ(output_format("out.svg", true), OutputFormat::kSvg);
  EXPECT_EQ(output_format("out.folded", false), OutputFormat::kFolded);
  EXPECT_EQ(output_format("out.json", false), OutputFormat::kJson);
  EXPECT_EQ(output_format("", true), OutputFormat::kJson);
  EXPECT_EQ(output_format("", false), OutputFormat::kTable);
  EXPECT_EQ(output_format("out.txt", true), OutputFormat::kTable);
}

TEST(CliOutput, SecondsAndDrops) {
  EXPECT_EQ(format_seconds(1500), "1.5s");
  EXPECT_EQ(drops_summary(DropCounters{}), "none");
  DropCounters d;
  d.add("map_full", 3);
  d.add("stack_errors", 0);
  d.add("lost_stacks", 2);
  EXPECT_EQ(drops_summary(d), "3 map full, 2 lost stacks");
}

TEST(CliCommands, UsageListsEveryCommandOfTheTable) {
  const std::string text = usage();
  EXPECT_EQ(text.rfind("usage: scorch [--socket PATH] [-j] [-v] COMMAND [ARGS]\n", 0), 0u);
  for (const auto& c : commands()) {
    std::string name = c.name;
    name.resize(11, ' ');
    EXPECT_NE(text.find("  " + name + c.summary + "\n"), std::string::npos) << c.name;
  }
}

}  // namespace
}  // namespace scorch::cli
