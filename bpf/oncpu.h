/* Types shared by oncpu.bpf.c and the daemon: fixed-width only. */
#ifndef SCORCH_ONCPU_H
#define SCORCH_ONCPU_H

#include "scorch.h"
#include "unwind.h"
#include "filter_table.h"

#ifndef SCORCH_ONCPU_MAX_ENTRIES
#define SCORCH_ONCPU_MAX_ENTRIES 40960
#endif
#ifndef SCORCH_ONCPU_STACK_ENTRIES
#define SCORCH_ONCPU_STACK_ENTRIES 16384
#endif
#ifndef SCORCH_FILTER_MAX_ENTRIES
#define SCORCH_FILTER_MAX_ENTRIES 4096
#endif

/* Which sampler wants which process: {tgid or SCORCH_PID_ANY, sampler id}. A sampler's id is the
 * attach cookie of its perf events, so samplers of the same event and period stay apart. */
struct scorch_filter_key {
  __u32 tgid;
  __u32 sampler;
};

/* One aggregation bucket: samples of one process at one pair of stacks for one sampler. The user
 * stack is either a stack-map id (frame pointers) or, when unwound from tables, the hash under
 * which the stack sits in the ustacks map (user_stack_id is then SCORCH_NO_STACK). */
struct scorch_oncpu_key {
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  __u32 sampler;
  __u64 user_stack_hash;
};

struct scorch_oncpu_value {
  __u64 count;
  __u64 weight; /* events the samples stand for: their periods summed (varies in frequency mode) */
  char comm[SCORCH_COMM_LEN];
};

/* Per-CPU counters the daemon reports (index into the drops array). */
enum scorch_oncpu_counter {
  SCORCH_CNT_SAMPLES = 0,     /* samples of processes someone asked for */
  SCORCH_CNT_FILTERED,        /* samples nobody asked for, dropped early */
  SCORCH_CNT_STACK_COLLISION, /* bpf_get_stackid: -EEXIST */
  SCORCH_CNT_STACK_ERROR,     /* bpf_get_stackid: other errors */
  SCORCH_CNT_MAP_FULL,        /* counts map update failed */
  SCORCH_CNT_MAX,
};

#endif
