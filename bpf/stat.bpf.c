// SPDX-License-Identifier: GPL-2.0
/* Counting per task (scorch stat and scorch llc for the whole system, or per thread): the daemon
 * opens each event as a counter on every CPU and puts them in `counters`. At each context switch
 * this program reads the CPU's counters and charges what they counted since the CPU's last
 * reading to the task switched out, which ran all that time. The daemon runs the reader on each
 * CPU at the start (the first readings) and at the end (charging the tasks still running). Nothing
 * per switch crosses to user space. */
#include "scorch.bpf.h"
#include "stat.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 nr_events = 1;
const volatile __u32 nr_cpus = 1;    /* possible CPUs: counters holds nr_events rows of nr_cpus */
const volatile __u32 all_tasks = 0;  /* else only the tgids in targets */
const volatile __u32 per_thread = 0; /* key by thread, not by process */

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} counters SEC(".maps"); /* max_entries: nr_events * nr_cpus, set by the daemon */

/* Per CPU and event, the counter's last reading: the start of what the next task is charged. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_STAT_MAX_EVENTS);
  __type(key, __u32);
  __type(value, struct bpf_perf_event_value);
} last SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_STAT_MAX_TASKS);
  __type(key, struct scorch_stat_key);
  __type(value, struct scorch_stat_value);
} totals SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_STAT_TARGET_ENTRIES);
  __type(key, __u32);
  __type(value, __u8);
} targets SEC(".maps");

/* A zeroed value with the new task's name, copied into totals (too large for the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scorch_stat_value);
} fresh SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* The totals of task t, created on first use; NULL when t is not wanted or there is no room. */
static __always_inline struct scorch_stat_value *totals_of(struct task_struct *t)
{
  struct scorch_stat_key key = {};
  key.tgid = t->tgid;
  if (key.tgid == 0)
    return NULL; /* an idle task */
  if (!all_tasks && !bpf_map_lookup_elem(&targets, &key.tgid))
    return NULL;
  if (per_thread)
    key.tid = t->pid;
  struct scorch_stat_value *v = bpf_map_lookup_elem(&totals, &key);
  if (v)
    return v;
  __u32 zero = 0;
  struct scorch_stat_value *init = bpf_map_lookup_elem(&fresh, &zero);
  if (!init)
    return NULL;
  if (per_thread)
    bpf_probe_read_kernel_str(init->comm, sizeof(init->comm), t->comm);
  else
    bpf_probe_read_kernel_str(init->comm, sizeof(init->comm), t->group_leader->comm);
  long err = bpf_map_update_elem(&totals, &key, init, BPF_NOEXIST);
  if (err != 0 && err != -EEXIST) {
    scorch_count(&stats, SCORCH_STAT_MAP_FULL);
    return NULL;
  }
  return bpf_map_lookup_elem(&totals, &key);
}

/* Charges what this CPU's counters counted since their last reading to t. */
static __always_inline void charge(struct task_struct *t)
{
  __u32 cpu = bpf_get_smp_processor_id();
  struct scorch_stat_value *v = NULL;
  bool looked = false;
  for (__u32 i = 0; i < SCORCH_STAT_MAX_EVENTS; i++) {
    if (i >= nr_events)
      break;
    struct bpf_perf_event_value now = {};
    __u64 index = (__u64)i * nr_cpus + cpu;
    if (bpf_perf_event_read_value(&counters, index, &now, sizeof(now)) != 0) {
      scorch_count(&stats, SCORCH_STAT_READ_ERROR);
      continue;
    }
    __u32 e = SCORCH_BOUND(i, SCORCH_STAT_MAX_EVENTS);
    struct bpf_perf_event_value *prev = bpf_map_lookup_elem(&last, &e);
    if (!prev)
      continue;
    /* A counter is enabled as soon as it is opened: a zero enabled time is a CPU's first reading,
     * which starts the count and charges nobody. */
    if (prev->enabled != 0) {
      if (!looked) {
        v = totals_of(t);
        looked = true;
      }
      if (v) {
        /* Bounded at each use: clang keeps e on the stack, where the verifier loses its bound. */
        __sync_fetch_and_add(&v->counter[SCORCH_BOUND(i, SCORCH_STAT_MAX_EVENTS)], now.counter - prev->counter);
        __sync_fetch_and_add(&v->enabled[SCORCH_BOUND(i, SCORCH_STAT_MAX_EVENTS)], now.enabled - prev->enabled);
        __sync_fetch_and_add(&v->running[SCORCH_BOUND(i, SCORCH_STAT_MAX_EVENTS)], now.running - prev->running);
      }
    }
    *prev = now;
  }
  if (v)
    scorch_count(&stats, SCORCH_STAT_CHARGED);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(scorch_stat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
  scorch_count(&stats, SCORCH_STAT_SWITCHES);
  charge(prev);
  return 0;
}

/* Run by the daemon on each CPU (BPF_PROG_TEST_RUN): charges the task running there now. */
SEC("raw_tp")
int scorch_stat_read(void *ctx)
{
  charge(bpf_get_current_task_btf());
  return 0;
}
