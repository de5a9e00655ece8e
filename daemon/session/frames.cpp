#include "session/frames.h"

#include "symbolize/symbolizer.h"

namespace scorch {
namespace {

bool tracing_frame(const std::string& n) {
  return n.starts_with("__traceiter_") || n.starts_with("__bpf_trace_") || n.starts_with("bpf_trace_run") ||
         n.starts_with("bpf_prog_");
}

}  // namespace

void stack_frames(Symbolizer& symbolizer, uint32_t tgid, std::span<const uint64_t> user_leaf_first,
                  std::span<const uint64_t> kernel_leaf_first, const FrameRules& rules, std::vector<Frame>& out) {
  const size_t start = out.size();
  std::vector<uint64_t> user(user_leaf_first.rbegin(), user_leaf_first.rend());
  const bool leaf_exact = rules.user_leaf == UserLeaf::kExact ||
                          (rules.user_leaf == UserLeaf::kExactUnlessInKernel && kernel_leaf_first.empty());
  for (size_t i = 0; i < user.size(); ++i)
    if (i + 1 < user.size() || !leaf_exact) user[i] -= 1;
  for (auto& name : symbolizer.symbolize_user(tgid, user)) out.push_back(Frame{std::move(name), false});

  size_t nk = kernel_leaf_first.size(), first = 0;
  // The tracing machinery sits at the leaf end: the BPF program (a bpf_prog_ symbol, or no symbol
  // when the JIT's symbols are hidden) under bpf_trace_run / __bpf_trace_. Everything up to the
  // last such frame among the first few goes.
  if (rules.skip_tracing)
    for (size_t i = 0; i < nk && i < 6; ++i)
      if (tracing_frame(symbolizer.symbolize_kernel(kernel_leaf_first[i]))) first = i + 1;
  for (size_t j = nk; j-- > first;) {
    const bool exact = j == first && rules.kernel_leaf_exact;
    out.push_back(Frame{symbolizer.symbolize_kernel(exact ? kernel_leaf_first[j] : kernel_leaf_first[j] - 1), true});
  }
  if (out.size() == start) out.push_back(Frame{"[no stack]", false});
}

}  // namespace scorch
