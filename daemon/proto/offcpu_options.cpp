#include "proto/offcpu_options.h"

namespace scorch::proto {

void encode_options(wire::Writer& w, const OffCpuOptions& o) {
  w.u64(o.min_block_ns);
  w.u64(o.max_block_ns);
  w.u32(o.states);
  w.u8(o.by_state ? 1 : 0);
  w.u8(o.stacks);
}

std::vector<uint8_t> encode(const OffCpuOptions& o) {
  wire::Writer w;
  encode_options(w, o);
  return std::move(w.bytes());
}

void read_options(wire::Reader& r, OffCpuOptions& o) {
  o.min_block_ns = r.u64();
  o.max_block_ns = r.u64();
  o.states = r.u32();
  uint8_t by_state = r.u8();
  o.stacks = r.u8();
  if (r.failed()) return;
  if (o.stacks == 0 || o.stacks > kBothStacks) r.fail("stack kinds must be 1 (user), 2 (kernel) or 3");
  if (o.states == 0 || (o.states & ~kAllStates) != 0)
    r.fail("thread state mask " + std::to_string(o.states) + " out of range");
  if (o.min_block_ns > o.max_block_ns) r.fail("minimum block time above the maximum");
  if (by_state > 1) r.fail("by-state flag must be 0 or 1");
  o.by_state = by_state == 1;
}

Result<OffCpuOptions> decode_offcpu_options(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return OffCpuOptions{};  // none sent: the defaults
  wire::Reader r(bytes);
  OffCpuOptions o;
  read_options(r, o);
  return finish_options(r, "offcpu", o);
}

const char* offcpu_state_name(uint32_t state) {
  switch (state) {
    case 0:
      return "preempted";
    case 1:
      return "sleep";
    case 2:
      return "disk";
    default:
      return "other";
  }
}

Result<uint32_t> parse_offcpu_states(std::string_view list) {
  uint32_t mask = 0;
  size_t pos = 0;
  while (true) {
    size_t comma = list.find(',', pos);
    std::string_view word = list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    uint32_t bits = word == "all" ? kAllStates : 0;
    for (uint32_t s = 0; s < 4; ++s)
      if (word == offcpu_state_name(s)) bits = 1u << s;
    if (bits == 0)
      return Error{"parse thread state '" + std::string(word) + "'", "not a state", EINVAL,
                   "use sleep, disk, preempted, other or all, comma-separated"};
    mask |= bits;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return mask;
}

}  // namespace scorch::proto
