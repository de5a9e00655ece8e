#include <gtest/gtest.h>

#include "probes/cpus.h"

namespace scorch {
namespace {

TEST(CpuList, ParsesKernelFormat) {
  EXPECT_EQ(parse_cpu_list("0-3\n"), (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(parse_cpu_list("0,2,4-5"), (std::vector<uint32_t>{0, 2, 4, 5}));
  EXPECT_EQ(parse_cpu_list("7"), (std::vector<uint32_t>{7}));
  EXPECT_EQ(parse_cpu_list(""), (std::vector<uint32_t>{}));
}

TEST(CpuList, RefusesMalformedText) {
  EXPECT_FALSE(parse_cpu_list("3-1").has_value());
  EXPECT_FALSE(parse_cpu_list("a").has_value());
  EXPECT_FALSE(parse_cpu_list("1,,2").has_value());
  EXPECT_FALSE(parse_cpu_list("0-").has_value());
}

TEST(CpuList, OnlineCpusIncludeCpuZero) {
  auto cpus = online_cpus();
  ASSERT_TRUE(cpus.ok()) << cpus.error().message();
  ASSERT_FALSE(cpus->empty());
  EXPECT_EQ((*cpus)[0], 0u);
}

}  // namespace
}  // namespace scorch
