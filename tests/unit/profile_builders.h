#pragma once
/// Small builders for hand-made profiles in the exporter tests.

#include <string>
#include <utility>
#include <vector>

#include "model/profile.h"

namespace scorch {

inline StackCount make_stack(uint32_t pid, std::string comm, std::vector<Frame> frames, uint64_t count) {
  StackCount stack;
  stack.pid = pid;
  stack.comm = std::move(comm);
  stack.frames = std::move(frames);
  stack.count = count;
  return stack;
}

}  // namespace scorch
