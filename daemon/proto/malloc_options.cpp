#include "proto/malloc_options.h"

namespace scorch::proto {

std::vector<uint8_t> encode(const MallocOptions& o) {
  wire::Writer w;
  w.u8(o.outstanding ? 1 : 0);
  w.u64(o.min_age_ns);
  w.u64(o.sample_bytes);
  w.u32(o.duty_permille);
  w.u8(o.weight_calls ? 1 : 0);
  return std::move(w.bytes());
}

Result<MallocOptions> decode_malloc_options(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return MallocOptions{};  // none sent: the defaults
  wire::Reader r(bytes);
  MallocOptions o;
  uint8_t outstanding = r.u8();
  o.min_age_ns = r.u64();
  o.sample_bytes = r.u64();
  o.duty_permille = r.u32();
  uint8_t weight_calls = r.u8();
  if (!r.failed() && (outstanding > 1 || weight_calls > 1)) r.fail("malloc flags must be 0 or 1");
  o.outstanding = outstanding == 1;
  o.weight_calls = weight_calls == 1;
  if (!r.failed() && o.sample_bytes > kMaxSampleBytes) r.fail("sample bytes above " + std::to_string(kMaxSampleBytes));
  if (!r.failed() && o.duty_permille > kMaxDutyPermille) r.fail("duty above 100%");
  if (!r.failed() && o.outstanding && (o.sample_bytes || o.duty_permille))
    r.fail("outstanding mode needs every call: no sampling or duty cycle");
  return finish_options(r, "malloc", o);
}

}  // namespace scorch::proto
