#include "proto/stat_options.h"

#include <algorithm>

#include "proto/perf_events.h"

namespace scorch::proto {

std::vector<uint8_t> encode(const StatOptions& o) {
  wire::Writer w;
  w.u32(static_cast<uint32_t>(o.events.size()));
  for (const auto& e : o.events) w.str(e);
  w.str(o.purpose);
  w.u8(o.per_thread ? 1 : 0);
  return std::move(w.bytes());
}

Result<StatOptions> decode_stat_options(std::span<const uint8_t> bytes) {
  wire::Reader r(bytes);
  StatOptions o;
  const uint32_t n = r.count(kMaxStatEvents, 4);
  if (!r.failed() && n == 0) r.fail("no event to count");
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    std::string name = r.str(64);
    if (r.failed()) break;
    if (!find_perf_event(name))
      r.fail("unknown event '" + name + "'");
    else if (std::find(o.events.begin(), o.events.end(), name) != o.events.end())
      r.fail("event '" + name + "' given twice");
    o.events.push_back(std::move(name));
  }
  o.purpose = r.str(128);
  const uint8_t per_thread = r.u8();
  if (!r.failed() && per_thread > 1) r.fail("per_thread must be 0 or 1");
  o.per_thread = per_thread == 1;
  return finish_options(r, "stat", o);
}

}  // namespace scorch::proto
