/* Types shared by stat.bpf.c and the daemon: fixed-width only. */
#ifndef SCORCH_STAT_H
#define SCORCH_STAT_H

#include "scorch.h"

/* Events one session counts at once (proto::kMaxStatEvents). */
#define SCORCH_STAT_MAX_EVENTS 16
#ifndef SCORCH_STAT_MAX_TASKS
#define SCORCH_STAT_MAX_TASKS 16384 /* processes (or threads, per thread) with counts */
#endif
#define SCORCH_STAT_TARGET_ENTRIES 1024

/* Whose counts: a process (tid 0) or, per thread, one thread of it. */
struct scorch_stat_key {
  __u32 tgid;
  __u32 tid;
};

/* What ran as this task: per event, the counter's increase while it ran, and how long the
 * counter was enabled and running then (they differ when hardware events are multiplexed). */
struct scorch_stat_value {
  __u64 counter[SCORCH_STAT_MAX_EVENTS];
  __u64 enabled[SCORCH_STAT_MAX_EVENTS];
  __u64 running[SCORCH_STAT_MAX_EVENTS];
  char comm[16]; /* the process's (its group leader's), or the thread's per thread */
};

/* Per-CPU counters of the program, summed by the daemon. */
enum scorch_stat_counter {
  SCORCH_STAT_SWITCHES = 0, /* context switches seen */
  SCORCH_STAT_CHARGED = 1,  /* intervals charged to a wanted task */
  SCORCH_STAT_MAP_FULL = 2, /* intervals lost: no room for another task */
  SCORCH_STAT_READ_ERROR = 3,
  SCORCH_STAT_MAX = 4,
};

#endif
