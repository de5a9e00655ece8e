#include "proto/locks_options.h"

namespace scorch::proto {

std::vector<uint8_t> encode(const LocksOptions& o) {
  wire::Writer w;
  w.u64(o.min_wait_ns);
  w.u8(o.kernel ? 1 : 0);
  w.u8(o.holders ? 1 : 0);
  return std::move(w.bytes());
}

Result<LocksOptions> decode_locks_options(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return LocksOptions{};  // none sent: the defaults
  wire::Reader r(bytes);
  LocksOptions o;
  o.min_wait_ns = r.u64();
  uint8_t kernel = r.u8(), holders = r.u8();
  if (!r.failed() && (kernel > 1 || holders > 1)) r.fail("lock flags must be 0 or 1");
  o.kernel = kernel == 1;
  o.holders = holders == 1;
  if (!r.failed() && o.kernel && o.holders) r.fail("holders are traced for user-space locks only");
  return finish_options(r, "locks", o);
}

}  // namespace scorch::proto
