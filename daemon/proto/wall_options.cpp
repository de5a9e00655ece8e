#include "proto/wall_options.h"

namespace scorch::proto {

std::vector<uint8_t> encode(const WallOptions& o) {
  wire::Writer w;
  encode_options(w, o.cpu);
  encode_options(w, o.offcpu);
  return std::move(w.bytes());
}

Result<WallOptions> decode_wall_options(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return WallOptions{};  // none sent: the defaults
  wire::Reader r(bytes);
  WallOptions o;
  read_options(r, o.cpu);
  read_options(r, o.offcpu);
  if (!r.failed() && (!o.cpu.event.empty() || o.cpu.period)) r.fail("wall-clock profiles sample cpu-clock only");
  return finish_options(r, "wall", o);
}

}  // namespace scorch::proto
