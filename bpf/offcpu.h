/* Types shared by offcpu.bpf.c and the daemon: fixed-width only. */
#ifndef SCORCH_OFFCPU_H
#define SCORCH_OFFCPU_H

#include "scorch.h"
#include "unwind.h"
#include "filter_table.h"

#ifndef SCORCH_OFFCPU_MAX_ENTRIES
#define SCORCH_OFFCPU_MAX_ENTRIES 40960
#endif
#ifndef SCORCH_OFFCPU_STACK_ENTRIES
#define SCORCH_OFFCPU_STACK_ENTRIES 16384
#endif
#ifndef SCORCH_OFFCPU_FILTER_ENTRIES
#define SCORCH_OFFCPU_FILTER_ENTRIES 4096
#endif

/* Why a thread was off CPU, from the scheduler's prev_state at switch-out. */
enum scorch_offcpu_state {
  SCORCH_STATE_PREEMPTED = 0, /* runnable, switched out involuntarily: waiting for a CPU */
  SCORCH_STATE_SLEEP,         /* TASK_INTERRUPTIBLE: sleep, poll, pipe/socket/futex waits */
  SCORCH_STATE_DISK,          /* TASK_UNINTERRUPTIBLE: disk I/O, some locks */
  SCORCH_STATE_OTHER,         /* stopped, traced, parked, ... */
  SCORCH_STATE_MAX,
};

/* Filter scopes: a block is counted once for the process's own filter and once for the
 * whole-system filter, each under its own key, so a process in both kinds of session is never
 * counted twice in either. */
enum scorch_offcpu_scope {
  SCORCH_SCOPE_PID = 0,
  SCORCH_SCOPE_ANY,
  SCORCH_SCOPE_MAX,
};

/* Which blocks a filter entry (keyed by tgid, or SCORCH_PID_ANY) keeps: min_ns <= duration <=
 * max_ns, in one of the states of the mask (bit 1 << scorch_offcpu_state). */
struct scorch_offcpu_filter {
  __u64 min_ns;
  __u64 max_ns;
  __u32 states;
  __u32 stacks; /* SCORCH_STACK_USER | SCORCH_STACK_KERNEL: which stacks to take (a kernel walk
                 * costs about 2 us a block here, most of the program's time) */
};
#define SCORCH_STACK_USER   1u
#define SCORCH_STACK_KERNEL 2u

/* One aggregation bucket: blocked time of one process at one pair of stacks in one state. Stacks
 * are keyed by a hash of their frames (0: no stack). */
struct scorch_offcpu_key {
  __u32 tgid;
  __u16 state;
  __u16 scope;
  __u32 pad;
  __u32 pad2;
  __u64 user_stack_hash;
  __u64 kernel_stack_hash;
};

struct scorch_offcpu_value {
  __u64 total_ns;
  __u64 count;
  __u64 max_ns;
  char comm[SCORCH_COMM_LEN];
};

#define SCORCH_KMEMO_WORDS  64   /* address-like words a remembered kernel stack checks */
#define SCORCH_KMEMO_REGION 4096 /* bytes below pt_regs searched for the stack's first frame */

struct scorch_kstack {
  __u64 ips[SCORCH_MAX_STACK_DEPTH];
};

/* Where and when a thread blocked: written at switch-out, consumed at switch-in (task storage;
 * the daemon also reads it, by pidfd, for blocks still in progress when a profile ends). */
struct scorch_offcpu_start {
  __u64 ts; /* bpf_ktime_get_ns at switch-out; 0: no block pending */
  __u64 min_ns[SCORCH_SCOPE_MAX];
  __u64 max_ns[SCORCH_SCOPE_MAX];
  __u32 scopes; /* bit per scope whose filter wants this block */
  __u32 tgid;
  __u32 state;
  __u32 epoch; /* attach_epoch at switch-out: a block from an earlier attachment is never ended */
  char comm[SCORCH_COMM_LEN];
  __u64 uhash, khash;
  __u64 task_start; /* raw_tp fallback: the task's start_time, so a reused tid is not mistaken */
  struct scorch_kstack user;
  struct scorch_kstack kernel;
};

/* Kernel stacks of a thread's last switch-outs, remembered (tp_btf only; task storage of its
 * own). A way holds a walked stack and the words of its kernel stack region, from the innermost
 * frame's return address to the one below the outermost, that held kernel-image or module
 * addresses (return addresses, function and static-data pointers), by position. When they are
 * all unchanged the unwinder would walk the same frames, so the walk is skipped. Two ways: a
 * thread often alternates between two places (a pipe read, and preemption on the way out of the
 * write that woke its peer). */
struct scorch_kmemo_way {
  __u32 base_off; /* where the region starts, above the tracepoint's argument array */
  __u32 len;      /* bytes of the region; 0: nothing remembered */
  __u32 n;        /* words checked */
  __u32 pad;
  __u64 khash;
  __u16 off[SCORCH_KMEMO_WORDS]; /* word index from the region's start */
  __u64 val[SCORCH_KMEMO_WORDS];
  struct scorch_kstack stack;
};
struct scorch_kmemo {
  struct scorch_kmemo_way way[2];
  __u32 mru; /* the way used last: the other one is replaced */
  __u32 pad;
};

#ifndef SCORCH_OFFCPU_RAW_STARTS
#define SCORCH_OFFCPU_RAW_STARTS 16384 /* threads blocked at once, raw_tp fallback */
#endif

/* Per-CPU counters the daemon reports (index into the counters array). */
enum scorch_offcpu_counter {
  SCORCH_OFF_SWITCH_OUTS = 0, /* switch-outs of threads someone asked for: stacks taken */
  SCORCH_OFF_BLOCKS,          /* blocks counted into a session's buckets */
  SCORCH_OFF_FILTERED,        /* blocks outside the duration or state filter */
  SCORCH_OFF_NO_STORAGE,      /* switch-outs lost: no task storage could be created */
  SCORCH_OFF_MAP_FULL,        /* counts or stack map update failed */
  SCORCH_OFF_STACK_ERROR,     /* bpf_get_stack failed */
  SCORCH_OFF_KSTACK_WALKS,    /* kernel stacks walked (tp_btf) */
  SCORCH_OFF_KSTACK_KEPT,     /* kernel stacks found unchanged since the thread's last switch-out */
  SCORCH_OFF_MAX,
};

#endif
