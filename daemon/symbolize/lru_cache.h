#pragma once
/// A small least-recently-used map with a fixed capacity.

#include <cstddef>
#include <functional>
#include <list>
#include <unordered_map>
#include <utility>

namespace scorch {

/// Maps keys to values, evicting the least recently used entry when more than capacity are stored.
template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// The value for key, marked as most recently used; nullptr when absent.
  Value* find(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      return nullptr;
    }
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
  }

  /// The value for key without marking it used; nullptr when absent.
  const Value* peek(const Key& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->second;
  }

  /// Stores value for key (replacing any old one) as most recently used; returns the stored value.
  Value& put(const Key& key, Value value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      entries_.splice(entries_.begin(), entries_, it->second);
      return it->second->second;
    }
    entries_.emplace_front(key, std::move(value));
    index_.emplace(key, entries_.begin());
    while (entries_.size() > capacity_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
    }
    return entries_.front().second;
  }

  /// Drops key if present.
  void erase(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      return;
    }
    entries_.erase(it->second);
    index_.erase(it);
  }

  void clear() {
    index_.clear();
    entries_.clear();
  }

  size_t size() const { return entries_.size(); }
  size_t capacity() const { return capacity_; }

  /// Calls fn(key, value) for every entry, most recently used first, without changing the order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [key, value] : entries_) {
      fn(key, value);
    }
  }

 private:
  using Entry = std::pair<Key, Value>;
  size_t capacity_;
  std::list<Entry> entries_;
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
};

}  // namespace scorch
