#include <gtest/gtest.h>

#include <string>

#include "symbolize/lru_cache.h"

namespace scorch {
namespace {

TEST(SymbolizeLruCache, EvictsLeastRecentlyUsed) {
  LruCache<int, std::string> cache(2);
  cache.put(1, "one");
  cache.put(2, "two");
  ASSERT_NE(cache.find(1), nullptr);  // 1 is now the most recent
  cache.put(3, "three");              // evicts 2
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find(2), nullptr);
  ASSERT_NE(cache.find(1), nullptr);
  EXPECT_EQ(*cache.find(1), "one");
  ASSERT_NE(cache.find(3), nullptr);
  EXPECT_EQ(*cache.find(3), "three");
}

TEST(SymbolizeLruCache, PutReplacesAndErase) {
  LruCache<int, std::string> cache(3);
  cache.put(1, "one");
  EXPECT_EQ(cache.put(1, "uno"), "uno");
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(*cache.find(1), "uno");
  cache.erase(1);
  cache.erase(42);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find(1), nullptr);
}

TEST(SymbolizeLruCache, ForEachMostRecentFirst) {
  LruCache<int, int> cache(3);
  cache.put(1, 10);
  cache.put(2, 20);
  cache.put(3, 30);
  cache.find(1);
  std::vector<int> keys;
  cache.for_each([&](int key, int) { keys.push_back(key); });
  EXPECT_EQ(keys, (std::vector<int>{1, 3, 2}));
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SymbolizeLruCache, ZeroCapacityKeepsOne) {
  LruCache<int, int> cache(0);
  cache.put(1, 1);
  cache.put(2, 2);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.capacity(), 1u);
  EXPECT_NE(cache.find(2), nullptr);
}

}  // namespace
}  // namespace scorch
