// The logger's per-call-site rate limit: a burst, then one line per refill period, and the count
// of what was left out on the next line admitted.
#include <gtest/gtest.h>

#include "common/log.h"

namespace scorch::log {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

const char kSiteA[] = "a.cpp", kSiteB[] = "b.cpp";

TEST(LogRateLimit, BurstThenOnePerRefillWithCountOfLeftOut) {
  RateLimiter limiter(3, 1s);
  const Clock::time_point t0{};
  const RateLimiter::Key a{kSiteA, 10};
  for (int i = 0; i < 3; ++i) {
    auto r = limiter.admit(a, t0);
    ASSERT_TRUE(r.has_value()) << "line " << i << " of the burst";
    EXPECT_EQ(*r, 0u);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.admit(a, t0 + std::chrono::microseconds(i)).has_value());
  // Half a token earned: still nothing.
  EXPECT_FALSE(limiter.admit(a, t0 + 500ms).has_value());
  // One token after a second: the line goes out and says 1001 were left out before it.
  auto resumed = limiter.admit(a, t0 + 1001ms);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(*resumed, 1001u);
  EXPECT_FALSE(limiter.admit(a, t0 + 1002ms).has_value());
}

TEST(LogRateLimit, CallSitesAreIndependent) {
  RateLimiter limiter(1, 10s);
  const Clock::time_point t0{};
  EXPECT_TRUE(limiter.admit({kSiteA, 1}, t0).has_value());
  EXPECT_FALSE(limiter.admit({kSiteA, 1}, t0).has_value());
  EXPECT_TRUE(limiter.admit({kSiteA, 2}, t0).has_value()) << "another line of the same file";
  EXPECT_TRUE(limiter.admit({kSiteB, 1}, t0).has_value()) << "another file";
}

TEST(LogRateLimit, TokensDoNotPileUpPastTheBurst) {
  RateLimiter limiter(2, 1s);
  const Clock::time_point t0{};
  const RateLimiter::Key a{kSiteA, 1};
  EXPECT_TRUE(limiter.admit(a, t0).has_value());
  // An hour of silence earns a burst of 2, not 3600 lines.
  const auto later = t0 + 1h;
  EXPECT_TRUE(limiter.admit(a, later).has_value());
  EXPECT_TRUE(limiter.admit(a, later).has_value());
  EXPECT_FALSE(limiter.admit(a, later).has_value());
}

TEST(LogRateLimit, LeftOutLinesAreReportedOnceAtFlush) {
  RateLimiter limiter(1, 1h);
  const Clock::time_point t0{};
  EXPECT_TRUE(limiter.admit({kSiteA, 5}, t0).has_value());
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(limiter.admit({kSiteA, 5}, t0).has_value());
  EXPECT_TRUE(limiter.admit({kSiteB, 6}, t0).has_value());
  auto left = limiter.take_suppressed();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left.begin()->first, (RateLimiter::Key{kSiteA, 5}));
  EXPECT_EQ(left.begin()->second, 7u);
  EXPECT_TRUE(limiter.take_suppressed().empty()) << "reported once";
}

}  // namespace
}  // namespace scorch::log
