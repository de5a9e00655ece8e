#pragma once
/// What every measure's options share on the wire: an id per measure, and the codec shape.
///
/// A ProfileRequest carries the common part (targets, duration) and the measure's own options as
/// bytes; each measure encodes and validates those bytes in its own <measure>_options.cpp, which
/// the CLI (to encode) and the daemon (to decode) both link.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "proto/wire.h"

namespace scorch::proto {

/// Measure ids on the wire: one per measure, never reused (the registry checks they are unique).
inline constexpr uint8_t kCpuMeasure = 0;
inline constexpr uint8_t kOffCpuMeasure = 1;
inline constexpr uint8_t kWallMeasure = 2;
inline constexpr uint8_t kMallocMeasure = 3;
inline constexpr uint8_t kLocksMeasure = 4;
inline constexpr uint8_t kStatMeasure = 5;

/// Ends the decoding of one measure's options: an error naming the measure when a field was
/// refused or bytes are left over.
template <typename T>
Result<T> finish_options(wire::Reader& r, const char* measure, T value) {
  if (!r.finish()) return Error{std::string("decode ") + measure + " options", r.why(), EPROTO, {}};
  return value;
}

}  // namespace scorch::proto
