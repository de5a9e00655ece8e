#pragma once
/// Stack chains of two profilers (scorch's folded output, `perf script`) reduced to the same
/// physical user frames with the same names, and compared as distributions.

#include <cstdint>
#include <istream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace scorch::stacks {

/// User frames of one stack, outermost (root) first, leaf last, names normalized.
using Chain = std::vector<std::string>;

/// A weighted set of chains: samples (on-CPU, malloc calls) or blocked microseconds (off-CPU).
struct Chains {
  std::map<Chain, double> weight;
  double total = 0;
  uint64_t records = 0;  // samples that went in (perf's records; the sum of scorch's folded counts)
  void add(Chain chain, double w);
};

/// The name both tools would give a frame: C++ and Rust symbols demangled (no parameter lists,
/// no Rust hash), symbol versions (`@@GLIBC_2.2.5`) and `+0x..` offsets dropped, and frames
/// without a symbol reduced to `[file]` (scorch: `libx.so+0x1c0`; perf: `[unknown] (/x/libx.so)`)
/// or `[unknown]` (anonymous memory, no mapping). Aliases of one function are made one name: leading
/// underscores and glibc's `__GI_` and `__libc_` prefixes are dropped (writev, __GI___writev).
std::string normalize_frame(std::string_view name, std::string_view dso = {});

/// scorch's folded stacks (`comm;outer;...;leaf COUNT`): comm and kernel frames (`_[k]`) dropped.
Chains parse_folded(std::istream& in);

/// A switch back in of a thread (`perf script` of sched:sched_switch: next_pid and time).
struct SwitchIn {
  uint32_t tid = 0;
  double time = 0;  // seconds
};

/// `perf script -F comm,tid,time,event,ip,sym,dso` output with call chains. Each sample weighs 1,
/// or, when switch_ins is given (off-CPU), the microseconds until its thread was switched back in
/// (until end_time when it was not). Inlined frames (marked "(inlined)") and kernel frames are
/// dropped; a frame at ip ffffffffffffffff (perf's end of a cut-off chain) too.
Chains parse_perf_script(std::istream& in, const std::vector<SwitchIn>* switch_ins = nullptr, double end_time = 0);

/// Switch-ins out of `perf script -F tid,time,trace` of sched:sched_switch (next_pid=N).
std::vector<SwitchIn> parse_switch_ins(std::istream& in, double* last_time = nullptr);

/// Keeps only chains whose leaf is `leaf` (malloc: perf probes malloc alone, scorch every allocator function).
Chains only_leaf(const Chains& chains, const std::string& leaf);

/// Symbolization, not unwinding: a frame one tool left unnamed (`[libx.so]`: perf checks symbol
/// sizes, scorch takes the symbol before the address) matches any name at that place. Each chain
/// with such a frame that the other tool lacks is counted as the other tool's chain it matches.
void reconcile_names(Chains& scorch, Chains& perf);

/// For a frame-pointer oracle (perf --call-graph fp, for Go): a sample in a leaf without a frame
/// shows the leaf's caller's caller next. Per leaf function, scorch's chains are counted without
/// the leaf's caller when that agrees better with perf (the leaf then has no frame).
void allow_fp_leaf_skip(Chains& scorch, const Chains& perf);

/// One chain where the two shares differ most, with the other tool's closest chain.
struct Difference {
  Chain chain;            // as `side` saw it
  bool perf_side = true;  // chain is perf's (scorch has too little of it) or scorch's
  double perf_share = 0, scorch_share = 0;
  Chain closest;  // the other tool's chain with the most frames in common from the leaf (none: same chain)
  double closest_share = 0;
  size_t first_diff = 0;  // frames from the leaf (0 = leaf) where chain and closest part
};

struct Comparison {
  double overlap = 0;                     // sum over chains of min(scorch share, perf share), 0..1
  double scorch_seen = 0, perf_seen = 0;  // share of one tool's samples whose chain the other has too
  double scorch_total = 0, perf_total = 0;
  uint64_t scorch_records = 0, perf_records = 0;
  size_t scorch_distinct = 0, perf_distinct = 0, common_distinct = 0;
  double scorch_mean_depth = 0, perf_mean_depth = 0;  // frames per chain, weighted
  std::vector<Difference> worst;
};

Comparison compare(const Chains& scorch, const Chains& perf, size_t worst = 5);

/// The report a developer reads, ending in `key value` lines a test parses
/// (overlap_pct, scorch_samples, perf_samples).
std::string render(const Comparison& c, const std::string& title);

std::string join(const Chain& chain);

}  // namespace scorch::stacks
