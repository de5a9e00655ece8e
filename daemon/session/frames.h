#pragma once
/// The one place raw stack addresses become frames: reversed to root first, return addresses
/// looked up one byte earlier (inside their call), and symbolized.

#include <cstdint>
#include <span>
#include <vector>

#include "model/profile.h"

namespace scorch {

class Symbolizer;

/// What the leaf address of a user stack is.
enum class UserLeaf {
  kExact,                // the sampled or probed instruction itself
  kReturnAddress,        // where the thread resumes after a call or syscall (blocked threads)
  kExactUnlessInKernel,  // exact, unless a kernel stack sits on top (then it is where user mode resumes)
};

struct FrameRules {
  UserLeaf user_leaf = UserLeaf::kExact;
  bool kernel_leaf_exact = true;  // false: the kernel leaf called into a tracepoint (a return address)
  bool skip_tracing = false;      // drop the tracing machinery at the kernel stack's leaf end
};

/// Appends the frames of one stack, root first: user frames outermost..leaf, then kernel
/// entry..leaf. Both spans are leaf first, as the kernel gives them. "[no stack]" when both are empty.
void stack_frames(Symbolizer& symbolizer, uint32_t tgid, std::span<const uint64_t> user_leaf_first,
                  std::span<const uint64_t> kernel_leaf_first, const FrameRules& rules, std::vector<Frame>& out);

}  // namespace scorch
