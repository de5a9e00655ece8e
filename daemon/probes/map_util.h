#pragma once
/// Map plumbing the probes share: walking keys, draining a counts map, reading stacks once per
/// drain, summing per-CPU counters, publishing a .bss filter table.

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "probes/fast_filter.h"

namespace scorch {

/// Every key of a map, read first, so deleting while walking cannot skip entries.
template <typename Key>
std::vector<Key> all_keys(int fd) {
  std::vector<Key> keys;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

/// Reads and deletes every entry of a counts map, calling fn(key, value) for each.
template <typename Key, typename Value, typename Fn>
void drain_counts(int fd, Fn&& fn) {
  for (const auto& key : all_keys<Key>(fd)) {
    Value value{};
    if (bpf_map_lookup_and_delete_elem(fd, &key, &value) != 0) {
      if (bpf_map_lookup_elem(fd, &key, &value) != 0) continue;
      bpf_map_delete_elem(fd, &key);
    }
    fn(key, value);
  }
}

/// Deletes every entry of a map.
template <typename Key>
void clear_map(int fd) {
  for (const Key& key : all_keys<Key>(fd)) bpf_map_delete_elem(fd, &key);
}

/// Stacks of one map (value: StackValue with an ips[] array ended by 0), each read once per drain.
/// A key whose stack is gone counts into lost.
template <typename Key, typename StackValue>
class StackReader {
 public:
  StackReader(int fd, uint64_t& lost) : fd_(fd), lost_(lost) {}
  const std::vector<uint64_t>& get(Key key) {
    auto [it, inserted] = cache_.try_emplace(key);
    if (inserted) {
      StackValue value{};
      if (bpf_map_lookup_elem(fd_, &key, &value) == 0) {
        for (uint64_t ip : value.ips) {
          if (ip == 0) break;
          it->second.push_back(ip);
        }
      } else {
        ++lost_;  // a straggler from two generations ago: its stack was cleared
      }
    }
    return it->second;
  }

 private:
  int fd_;
  uint64_t& lost_;
  std::unordered_map<Key, std::vector<uint64_t>> cache_;
};

/// Sums a per-CPU array of u64 counters into out[0..count).
inline void sum_percpu_counters(int fd, uint32_t count, uint64_t* out) {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t i = 0; i < count; ++i) {
    out[i] = 0;
    if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) out[i] += v;
  }
}

/// Publishes keys in a program's .bss filter table (double-buffered, see bpf/filter_table.h):
/// the idle copy is filled, then flipped in; when the keys do not fit, the program is told to use
/// its hash map (which the caller keeps complete).
template <typename Bss>
void publish_filter_table(Bss* bss, const std::vector<std::pair<uint32_t, uint32_t>>& keys) {
  FastFilterTable table;
  if (!build_fast_filter(keys, table)) {
    bss->filter_in_table = 0;
    return;
  }
  uint32_t idle = (bss->filter_table & 1) ^ 1;
  for (size_t i = 0; i < table.size(); ++i) bss->filter_slots[idle][i] = table[i];
  __atomic_thread_fence(__ATOMIC_RELEASE);
  bss->filter_table = idle;
  bss->filter_in_table = 1;
}

}  // namespace scorch
