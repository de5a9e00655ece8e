// SPDX-License-Identifier: GPL-2.0
/* On-CPU sampling: a perf_event program counting samples per process, stack pair and sampler. The
 * sampler is the attach cookie of the event that fired (a cpu-clock timer, a page-fault count, ...). */
#include "scorch.bpf.h"
#include "unwind.bpf.h"
#include "oncpu.h"
#include "filter_table.bpf.h"
#include "creds.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The daemon drains one generation while the program fills the other (see OnCpuProbe::drain). */
volatile __u32 active_generation = 0;
volatile __u32 filter_table = 0;    /* which of filter_slots is live */
volatile __u32 filter_in_table = 0; /* 0: the filter did not fit, use the hash map */
volatile __u64 filter_slots[2][SCORCH_FAST_SLOTS];

struct filter_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_FILTER_MAX_ENTRIES);
  __type(key, struct scorch_filter_key);
  __type(value, __u8);
};

struct counts_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_ONCPU_MAX_ENTRIES);
  __type(key, struct scorch_oncpu_key);
  __type(value, struct scorch_oncpu_value);
};

struct stack_map {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, SCORCH_ONCPU_STACK_ENTRIES);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, SCORCH_MAX_STACK_DEPTH * sizeof(__u64));
};

struct filter_map filter SEC(".maps");
struct counts_map counts0 SEC(".maps"), counts1 SEC(".maps");
struct stack_map stacks0 SEC(".maps"), stacks1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct ustack_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_USTACK_ENTRIES);
  __type(key, __u64);
  __type(value, struct scorch_ustack);
};
struct ustack_map ustacks0 SEC(".maps"), ustacks1 SEC(".maps");

static __always_inline int fast_wanted(__u32 table, __u32 tgid, __u32 sampler)
{
  return scorch_fast_has(filter_slots, table, tgid, sampler);
}

static __always_inline int wanted(__u32 tgid, __u32 sampler)
{
  if (filter_in_table) {
    __u32 table = filter_table;
    return fast_wanted(table, tgid, sampler) || fast_wanted(table, SCORCH_PID_ANY, sampler);
  }
  struct scorch_filter_key fk = {.tgid = tgid, .sampler = sampler};
  if (bpf_map_lookup_elem(&filter, &fk))
    return 1;
  fk.tgid = SCORCH_PID_ANY;
  return bpf_map_lookup_elem(&filter, &fk) != NULL;
}

static __always_inline __s32 stack_id(void *ctx, void *stacks, __u64 flags)
{
  long id = bpf_get_stackid(ctx, stacks, flags);
  if (id >= 0)
    return (__s32)id;
  scorch_count(&counters, id == -EEXIST ? SCORCH_CNT_STACK_COLLISION : SCORCH_CNT_STACK_ERROR);
  return SCORCH_NO_STACK;
}

/* A user stack unwound from the process's tables, stored under its hash; 0 when the process has
 * no tables (the caller then walks frame pointers) or the walk failed at once. */
static __always_inline __u64 unwind_user_stack(struct bpf_perf_event_data *ctx, __u32 tgid, __u32 seq,
                                               int in_kernel)
{
  struct scorch_walk *st = scorch_walk_state();
  if (!st)
    return 0;
  if (in_kernel) {
    if (!scorch_unwind_start_task(st, bpf_get_current_task_btf()))
      return 0;
  } else {
    /* The verifier allows only 8-byte loads of the context's registers. */
    scorch_unwind_start_exact(
        st, *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, ip)),
        *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, sp)),
        *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, bp)));
  }
  if (scorch_unwind_walk(tgid) == 0)
    return 0;
  __u64 hash = st->hash;
  if (hash == st->last_hash && seq == st->last_seq)
    return hash; /* stored by this CPU since the last drain */
  void *ustacks = scorch_active_map(seq, &ustacks0, &ustacks1);
  if (!bpf_map_lookup_elem(ustacks, &hash) && bpf_map_update_elem(ustacks, &hash, &st->stack, BPF_ANY) != 0)
    return hash; /* not stored (map full): the daemon counts the stack as lost */
  st->last_hash = hash;
  st->last_seq = seq;
  return hash;
}

/* A sample that interrupted user mode has no kernel stack to walk. */
static __always_inline int sampled_in_kernel(struct bpf_perf_event_data *ctx)
{
#if defined(__TARGET_ARCH_x86)
  /* The verifier allows only 8-byte loads of the context's registers; cs is a 2-byte field. */
  __u64 cs = *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, cs));
  return (cs & 3) == 0;
#elif defined(__TARGET_ARCH_arm64)
  return (ctx->regs.pstate & 0xf) != 0; /* EL0t is 0 */
#else
  return 1;
#endif
}

static __always_inline void record(struct bpf_perf_event_data *ctx, void *counts, void *stacks, int in_kernel,
                                   int has_user_stack, __u64 user_stack_hash, __u32 tgid, __u32 sampler)
{
  struct scorch_oncpu_key key = {.tgid = tgid, .sampler = sampler, .user_stack_hash = user_stack_hash};
  key.kernel_stack_id = in_kernel ? stack_id(ctx, stacks, 0) : SCORCH_NO_STACK;
  key.user_stack_id = SCORCH_NO_STACK;
  if (has_user_stack && user_stack_hash == 0)
    key.user_stack_id = stack_id(ctx, stacks, BPF_F_USER_STACK);

  struct scorch_oncpu_value *val = bpf_map_lookup_elem(counts, &key);
  if (!val) {
    struct scorch_oncpu_value init = {};
    bpf_get_current_comm(init.comm, sizeof(init.comm));
    val = scorch_insert_or_get(counts, &key, &init);
    if (!val) {
      scorch_count(&counters, SCORCH_CNT_MAP_FULL);
      return;
    }
  }
  __sync_fetch_and_add(&val->count, 1);
  __sync_fetch_and_add(&val->weight, ctx->sample_period);
}

/* Which sampler fired: the daemon gives each sampler's events its own attach cookie (never 0).
 * An event inherited by a thread created after attach has no cookie (the kernel copies the
 * program, not the cookie), and perf may swap the events of one inheritance family between its
 * threads at a context switch: such an event's cookie is that of the event it was inherited from,
 * its parent (always the original one). */
static __always_inline __u32 sampler_id(struct bpf_perf_event_data *ctx)
{
  __u64 cookie = bpf_get_attach_cookie(ctx);
  if (cookie)
    return (__u32)cookie;
  struct bpf_perf_event_data_kern *kctx = (void *)ctx;
  struct perf_event *event = BPF_CORE_READ(kctx, event);
  return (__u32)BPF_CORE_READ(event, parent, bpf_cookie);
}

SEC("perf_event")
int scorch_oncpu(struct bpf_perf_event_data *ctx)
{
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u32 sampler = sampler_id(ctx);

  /* The idle task (pid 0) is left out, as BCC's profile does by default: nobody asked for it and
   * its kernel stack walk is the most expensive one. */
  if (tgid == 0 || !wanted(tgid, sampler)) {
    scorch_count(&counters, SCORCH_CNT_FILTERED);
    return 0;
  }
  if (!scorch_creds_ok(bpf_get_current_task_btf(), tgid)) {
    scorch_count(&counters, SCORCH_CNT_FILTERED);
    return 0;
  }
  scorch_count(&counters, SCORCH_CNT_SAMPLES);
  __u32 seq = active_generation; /* bumped at every drain; its low bit picks the maps */
  __u32 generation = seq & 1;
  int in_kernel = sampled_in_kernel(ctx);
  int has_user_stack = scorch_current_has_user_stack();
  /* Unwound once, outside the per-generation copies, so the verifier checks the walk once. */
  __u64 user_stack_hash = has_user_stack ? unwind_user_stack(ctx, tgid, seq, in_kernel) : 0;
  if (generation)
    record(ctx, &counts1, &stacks1, in_kernel, has_user_stack, user_stack_hash, tgid, sampler);
  else
    record(ctx, &counts0, &stacks0, in_kernel, has_user_stack, user_stack_hash, tgid, sampler);
  return 0;
}
