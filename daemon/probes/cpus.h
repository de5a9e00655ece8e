#pragma once
/// CPU lists as the kernel writes them ("0-3,8,10-11").

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace scorch {

/// Parses a kernel CPU list; nullopt on malformed text.
std::optional<std::vector<uint32_t>> parse_cpu_list(std::string_view text);

/// The CPUs online now, from /sys/devices/system/cpu/online.
Result<std::vector<uint32_t>> online_cpus();

}  // namespace scorch
