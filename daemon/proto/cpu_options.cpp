#include "proto/cpu_options.h"

#include "proto/perf_events.h"

namespace scorch::proto {

void encode_options(wire::Writer& w, const CpuOptions& o) {
  w.u32(o.frequency_hz);
  w.str(o.event);
  w.u64(o.period);
}

std::vector<uint8_t> encode(const CpuOptions& o) {
  wire::Writer w;
  encode_options(w, o);
  return std::move(w.bytes());
}

void read_options(wire::Reader& r, CpuOptions& o) {
  o.frequency_hz = r.u32();
  if (!r.failed() && (o.frequency_hz == 0 || o.frequency_hz > kMaxFrequencyHz))
    r.fail("frequency " + std::to_string(o.frequency_hz) + " Hz out of range 1.." + std::to_string(kMaxFrequencyHz));
  o.event = r.str(64);
  o.period = r.u64();
  if (!r.failed() && !o.event.empty() && !find_perf_event(o.event)) r.fail("unknown event '" + o.event + "'");
}

Result<CpuOptions> decode_cpu_options(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return CpuOptions{};  // none sent: the defaults
  wire::Reader r(bytes);
  CpuOptions o;
  read_options(r, o);
  return finish_options(r, "cpu", o);
}

}  // namespace scorch::proto
