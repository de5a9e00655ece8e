// The stacks comparer (tests/stacks/chains.*): perf script and folded input reduced to the same
// chains, and the overlap of two distributions.
#include <gtest/gtest.h>

#include <sstream>

#include "chains.h"

namespace scorch::stacks {
namespace {

// Two perf samples as `perf script --no-demangle -F comm,tid,time,event,ip,sym,dso` prints them:
// kernel frames, an inlined frame and perf's end marker of a cut-off chain are not user frames.
constexpr const char* kPerfScript =
    "tokio-runtime-w  4087  3990.711045: cpu-clock:ppp: \n"
    "\tffffffff81234567 do_syscall_64 ([kernel.kallsyms])\n"
    "\t           3d251 _ZN9hello_svc11render_page17h404797c16ed5b1b8E (/tmp/hs/hello_svc)\n"
    "\t           3d251 _ZN4core4iter5range10inlined_fn17h0123456789abcdefE (/tmp/hs/hello_svc) (inlined)\n"
    "\t           891f4 start_thread (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
    "\t           11223 [unknown] (/usr/lib/x86_64-linux-gnu/libfoo.so.1)\n"
    "\tffffffffffffffff [unknown] ([unknown])\n"
    "\n"
    "my prog  12  3990.800000: cpu-clock:ppp: \n"
    "\t            1139 _ZN6corpus6crunchEmi (/x/cpp_throw)\n"
    "\t            1200 memcpy@@GLIBC_2.14 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
    "\t            1300 [unknown] ([unknown])\n"
    "\n";

TEST(StacksChains, PerfScriptKeepsPhysicalUserFramesWithScorchsNames) {
  std::istringstream in(kPerfScript);
  Chains c = parse_perf_script(in);
  EXPECT_EQ(c.records, 2u);
  EXPECT_DOUBLE_EQ(c.total, 2);
  ASSERT_EQ(c.weight.size(), 2u);
  Chain tokio{"[libfoo.so.1]", "start_thread", "hello_svc::render_page"};
  Chain cpp{"[unknown]", "memcpy", "corpus::crunch"};
  EXPECT_EQ(c.weight.count(tokio), 1u) << join(c.weight.begin()->first);
  EXPECT_EQ(c.weight.count(cpp), 1u) << join(c.weight.rbegin()->first);
}

TEST(StacksChains, FoldedDropsCommAndKernelFramesAndNamesFilesLikePerf) {
  std::istringstream in(
      "cpp_throw;main;corpus::serve;libc.so.6+0x2a1c0 7\n"
      "cpp_throw;main;corpus::serve;[anon];schedule_[k];finish_task_switch_[k] 3\n");
  Chains c = parse_folded(in);
  EXPECT_EQ(c.records, 10u);
  EXPECT_DOUBLE_EQ(c.total, 10);
  EXPECT_DOUBLE_EQ((c.weight[{"main", "corpus::serve", "[libc.so.6]"}]), 7);
  EXPECT_DOUBLE_EQ((c.weight[{"main", "corpus::serve", "[unknown]"}]), 3);
}

TEST(StacksChains, BothToolsNameAFrameAlike) {
  EXPECT_EQ(normalize_frame("libc.so.6+0x1f0"), normalize_frame("[unknown]", "/usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_EQ(normalize_frame("[anon]"), normalize_frame("[unknown]", "[unknown]"));
  EXPECT_EQ(normalize_frame("[vdso]"), normalize_frame("__vdso_clock_gettime", "[vdso]"));
  EXPECT_EQ(normalize_frame("corpus::crunch"), normalize_frame("_ZN6corpus6crunchEmi", "/x/y"));
  EXPECT_EQ(normalize_frame("main"), normalize_frame("main+0x1f", "/x/y"));
  EXPECT_NE(normalize_frame("main"), normalize_frame("_start", "/x/y"));
  EXPECT_EQ(normalize_frame("writev"), normalize_frame("__GI___writev", "/usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_EQ(normalize_frame("malloc"), normalize_frame("__libc_malloc", "/usr/lib/x86_64-linux-gnu/libc.so.6"));
}

TEST(StacksChains, OverlapIsTheSumOfTheSmallerShares) {
  Chains scorch, perf;
  Chain a{"main", "run", "leaf"}, b{"main", "leaf"}, junk{"[unknown]", "leaf"};
  scorch.add(a, 6);
  scorch.add(junk, 4);
  perf.add(a, 5);
  perf.add(b, 5);
  Comparison c = compare(scorch, perf);
  EXPECT_NEAR(c.overlap, 0.5, 1e-9);  // a: min(0.6, 0.5); b and junk: 0
  EXPECT_EQ(c.common_distinct, 1u);
  EXPECT_NEAR(c.scorch_seen, 0.6, 1e-9);  // junk: perf never saw it
  EXPECT_NEAR(c.perf_seen, 0.5, 1e-9);
  ASSERT_GE(c.worst.size(), 2u);
  // b (perf 50%, scorch 0%) is the worst; scorch's closest chain with its leaf parts one frame up.
  EXPECT_EQ(c.worst[0].chain, b);
  EXPECT_TRUE(c.worst[0].perf_side);
  EXPECT_EQ(c.worst[0].first_diff, 1u);
  std::string report = render(c, "t");
  EXPECT_NE(report.find("overlap_pct 50.0"), std::string::npos) << report;
  EXPECT_NE(report.find("first difference at frame 1 from the leaf"), std::string::npos) << report;
}

TEST(StacksChains, OffCpuSamplesWeighTheirBlockedTime) {
  std::istringstream switches(
      "    12  100.000500: prev_comm=x prev_pid=99 prev_prio=120 prev_state=R ==> next_comm=p next_pid=12 "
      "next_prio=120\n"
      "    13  100.100000: prev_comm=x prev_pid=99 prev_prio=120 prev_state=R ==> next_comm=q next_pid=7 "
      "next_prio=120\n");
  double end = 0;
  std::vector<SwitchIn> ins = parse_switch_ins(switches, &end);
  ASSERT_EQ(ins.size(), 2u);
  EXPECT_DOUBLE_EQ(end, 100.1);
  std::istringstream script(
      "p  12  100.000000: sched:sched_switch: \n"
      "\t  1139 sleep_a (/x/p)\n"
      "\n"
      "p  12  100.050000: sched:sched_switch: \n"
      "\t  2139 wait_b (/x/p)\n"
      "\n"
      "p  13  100.010000: sched:sched_switch: \n"
      "\t  2139 lost_in (/x/p)\n"
      "\n"
      "p  13  100.020000: sched:sched_switch: \n"
      "\t  2139 lost_in (/x/p)\n"
      "\n");
  Chains c = parse_perf_script(script, &ins, end);
  // sleep_a: back in at 100.0005 (500 us); wait_b: not back in before the end (50 ms).
  EXPECT_NEAR((c.weight[{"sleep_a"}]), 500, 1);
  EXPECT_NEAR((c.weight[{"wait_b"}]), 50000, 1);
  // Thread 13's switch-in was lost: its first block ends no later than its next switch-out (10 ms),
  // its last at the end (80 ms).
  EXPECT_NEAR((c.weight[{"lost_in"}]), 10000 + 80000, 1);
}

TEST(StacksChains, OnlyLeafKeepsOneFunctionsChains) {
  Chains c;
  c.add({"main", "malloc"}, 3);
  c.add({"main", "calloc"}, 2);
  Chains m = only_leaf(c, "malloc");
  EXPECT_DOUBLE_EQ(m.total, 3);
  EXPECT_EQ(m.weight.size(), 1u);
}

}  // namespace
}  // namespace scorch::stacks

namespace scorch::stacks {
namespace {

TEST(StacksChains, AFrameOneToolLeftUnnamedMatchesAnyNameThere) {
  Chains scorch, perf;
  scorch.add({"main", "__cxa_throw", "__gxx_personality_v0"}, 4);
  perf.add({"main", "__cxa_throw", "[libstdc++.so.6]"}, 4);
  perf.add({"main", "[libstdc++.so.6]", "[unknown]"}, 1);  // [unknown] is no file: matches nothing else
  scorch.add({"main", "other", "leaf"}, 1);
  reconcile_names(scorch, perf);
  EXPECT_DOUBLE_EQ((perf.weight[{"main", "__cxa_throw", "__gxx_personality_v0"}]), 4);
  EXPECT_NEAR(compare(scorch, perf).overlap, 0.8, 1e-9);
}

TEST(StacksChains, ANamedChainIsNeverCountedAsTheOtherToolsUnnamedOne) {
  // What a Go run gave: scorch left one sample's frames in a signal trampoline unnamed, and perf
  // (frame pointers: mix has no frame, so its caller stageB is missing) has a named chain of the
  // same length. That perf chain must not become scorch's unnamed one, nor scorch's main chain
  // then become it.
  Chains scorch, perf;
  scorch.add({"goexit", "worker", "stageA", "stageB", "mix"}, 6);
  scorch.add({"goexit", "worker", "stageA", "[go_chain]", "[go_chain]"}, 1);
  perf.add({"goexit", "worker", "stageA", "mix"}, 6);
  perf.add({"goexit", "worker", "stageA", "mix", "asyncPreempt"}, 1);
  reconcile_names(scorch, perf);
  EXPECT_DOUBLE_EQ((scorch.weight[{"goexit", "worker", "stageA", "stageB", "mix"}]), 6);
  EXPECT_DOUBLE_EQ((perf.weight[{"goexit", "worker", "stageA", "mix", "asyncPreempt"}]), 1);
  EXPECT_FALSE((perf.weight.count({"goexit", "worker", "stageA", "[go_chain]", "[go_chain]"})));
  allow_fp_leaf_skip(scorch, perf);
  // scorch's unnamed sample is counted as perf's chain it matches but for names, as any is.
  EXPECT_NEAR(compare(scorch, perf).overlap, 1.0, 1e-9);
}

}  // namespace
}  // namespace scorch::stacks

namespace scorch::stacks {
namespace {

TEST(StacksChains, AFramePointerOracleMissesOnlyTheLeafsCaller) {
  Chains scorch, perf;
  // mix has no frame: perf skips its caller in every sample of it, stageB or stageA alike.
  scorch.add({"goexit", "worker", "stageA", "stageB", "mix"}, 6);
  scorch.add({"goexit", "worker", "stageA", "mix"}, 3);
  scorch.add({"goexit", "worker", "other", "leaf"}, 1);
  perf.add({"goexit", "worker", "stageA", "mix"}, 6);
  perf.add({"goexit", "worker", "mix"}, 3);
  perf.add({"goexit", "leaf"}, 1);  // not the leaf's caller alone: no match
  allow_fp_leaf_skip(scorch, perf);
  EXPECT_NEAR(compare(scorch, perf).overlap, 0.9, 1e-9);
}

}  // namespace
}  // namespace scorch::stacks
