// SPDX-License-Identifier: GPL-2.0
/* Off-CPU time: sched_switch (tp_btf) records where a wanted thread blocked (its kernel and user
 * stacks, taken at switch-out, in task storage); when it runs again the blocked time is added to a
 * bucket keyed by process, stacks and state. Nothing per switch crosses to user space. */
#include "scorch.bpf.h"
#include "unwind.bpf.h"
#include "offcpu.h"
#include "filter_table.bpf.h"
#include "creds.bpf.h"
#include <bpf/bpf_tracing.h>

#ifndef E2BIG
#define E2BIG 7
#endif

char LICENSE[] SEC("license") = "GPL";

/* The daemon drains one generation while the program fills the other (as on-CPU). */
volatile __u32 active_generation = 0;
/* Bumped by the daemon each time it attaches the program: records left in task storage by an
 * earlier attachment (the thread never woke while attached) must not end into a later session. */
volatile __u32 attach_epoch = 0;
/* Which tgids have a filter entry, in .bss (see filter_table.h): every context switch on the
 * machine asks, and most of them are for processes nobody traces. */
volatile __u32 filter_table = 0;
volatile __u32 filter_in_table = 0;
volatile __u64 filter_slots[2][SCORCH_FAST_SLOTS];

static __always_inline int fast_has(__u32 table, __u32 tgid)
{
  return scorch_fast_has(filter_slots, table, tgid, 1); /* off-CPU keys use sampler 1 */
}

#define TASK_INTERRUPTIBLE_BIT   0x1
#define TASK_UNINTERRUPTIBLE_BIT 0x2

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_OFFCPU_FILTER_ENTRIES);
  __type(key, __u32);
  __type(value, struct scorch_offcpu_filter);
} filter SEC(".maps");

struct counts_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_OFFCPU_MAX_ENTRIES);
  __type(key, struct scorch_offcpu_key);
  __type(value, struct scorch_offcpu_value);
};
struct counts_map counts0 SEC(".maps"), counts1 SEC(".maps");

/* Stacks by hash of their frames; user and kernel stacks share the layout. */
struct stacks_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_OFFCPU_STACK_ENTRIES);
  __type(key, __u64);
  __type(value, struct scorch_kstack);
};
struct stacks_map ustacks0 SEC(".maps"), ustacks1 SEC(".maps");
struct stacks_map kstacks0 SEC(".maps"), kstacks1 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_OFF_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct scorch_offcpu_start);
} starts SEC(".maps");

static __always_inline __u32 offcpu_state_of(bool preempt, unsigned int prev_state)
{
  if (preempt || prev_state == 0)
    return SCORCH_STATE_PREEMPTED;
  if (prev_state & TASK_INTERRUPTIBLE_BIT)
    return SCORCH_STATE_SLEEP;
  if (prev_state & TASK_UNINTERRUPTIBLE_BIT)
    return SCORCH_STATE_DISK;
  return SCORCH_STATE_OTHER;
}

/* The user stack of current (prev): from unwind tables when its process has them, else frame
 * pointers. Kept as a separate subprogram so the verifier checks it once. */
static __noinline __u64 take_user_stack(void *ctx, struct scorch_offcpu_start *rec, __u32 tgid)
{
  struct scorch_walk *st = scorch_walk_state();
  if (st && scorch_unwind_start_task(st, bpf_get_current_task_btf())) {
    __u32 n = scorch_unwind_walk(tgid);
    if (n > 0) {
      __builtin_memcpy(&rec->user, &st->stack, sizeof(rec->user));
      return st->hash;
    }
  }
  long bytes = bpf_get_stack(ctx, rec->user.ips, sizeof(rec->user.ips), BPF_F_USER_STACK);
  if (bytes < 0)
    scorch_count(&counters, SCORCH_OFF_STACK_ERROR);
  return scorch_hash_frames(rec->user.ips, bytes);
}

/* User stack by frame pointers only: the raw_tp fallback, for kernels without BTF task pointers. */
static __noinline __u64 take_user_stack_fp(void *ctx, struct scorch_offcpu_start *rec)
{
  long bytes = bpf_get_stack(ctx, rec->user.ips, sizeof(rec->user.ips), BPF_F_USER_STACK);
  if (bytes < 0)
    scorch_count(&counters, SCORCH_OFF_STACK_ERROR);
  return scorch_hash_frames(rec->user.ips, bytes);
}

/* Which scopes want a block of tgid in this state (0: nobody). */
static __always_inline __u32 wanted_scopes(__u32 tgid, __u32 state, struct scorch_offcpu_filter **fp,
                                           struct scorch_offcpu_filter **fa)
{
  __u32 any = SCORCH_PID_ANY;
  *fp = NULL;
  *fa = NULL;
  if (filter_in_table) {
    __u32 table = filter_table;
    if (!fast_has(table, tgid) && !fast_has(table, any))
      return 0; /* nobody traces this process: no hash lookup at all */
  }
  *fp = bpf_map_lookup_elem(&filter, &tgid);
  *fa = bpf_map_lookup_elem(&filter, &any);
  __u32 bit = 1u << state;
  __u32 scopes = 0;
  if (*fp && ((*fp)->states & bit))
    scopes |= 1u << SCORCH_SCOPE_PID;
  if (*fa && ((*fa)->states & bit))
    scopes |= 1u << SCORCH_SCOPE_ANY;
  return scopes;
}

/* Which stacks the wanting scopes ask for (the union: the daemon drops what a session did not ask for). */
static __always_inline __u32 wanted_stacks(__u32 scopes, struct scorch_offcpu_filter *fp,
                                           struct scorch_offcpu_filter *fa)
{
  __u32 stacks = 0;
  if (fp && (scopes & (1u << SCORCH_SCOPE_PID)))
    stacks |= fp->stacks;
  if (fa && (scopes & (1u << SCORCH_SCOPE_ANY)))
    stacks |= fa->stacks;
  return stacks;
}

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct scorch_kmemo);
} kmemos SEC(".maps");

struct kregion {
  __u64 w[SCORCH_KMEMO_REGION / 8];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct kregion);
} kbuf SEC(".maps");

/* A word that can only hold the same value when the same code put it there: an address in the
 * kernel image or a module (return addresses, function and static-data pointers). Stack
 * addresses are left out: syscall entry moves the stack by a random offset each time
 * (CONFIG_RANDOMIZE_KSTACK_OFFSET); heap pointers and data change from one block to the next. */
static __always_inline int text_like(__u64 v)
{
  return v >= 0xffffffff80000000ull && v < 0xffffffffff000000ull;
}

struct kchain {
  struct kregion *buf;
  struct scorch_kstack *stack;
  __u32 words; /* of buf read */
  __u32 j;     /* the frame looked for next, from 0 (innermost) up */
  __u32 last;  /* frames to find: up to the one below the outermost */
  __u32 first_slot, last_slot;
};

/* One word of the region, from the bottom up: the frames' return addresses must appear in order,
 * innermost lowest, so a stale copy of one below its live slot is not taken for it. */
static long kchain_step(__u32 k, void *arg)
{
  struct kchain *kc = arg;
  __u32 j = kc->j;
  if (k >= kc->words || k >= SCORCH_KMEMO_REGION / 8 || j > kc->last || j >= SCORCH_MAX_STACK_DEPTH)
    return 1;
  asm volatile("" : "+r"(j)); /* the bound must hold on the register that indexes */
  if (j >= SCORCH_MAX_STACK_DEPTH)
    return 1;
  if (kc->buf->w[SCORCH_BOUND(k, SCORCH_KMEMO_REGION / 8)] != kc->stack->ips[j])
    return 0;
  if (j == 0)
    kc->first_slot = k;
  kc->last_slot = k;
  kc->j = j + 1;
  return 0;
}

struct kscan {
  struct kregion *buf;
  struct scorch_kmemo_way *rec;
  __u32 from, to; /* the region: buf->w[from .. to] */
  __u32 ok;
};

static long kscan_step(__u32 i, void *arg)
{
  struct kscan *ks = arg;
  __u32 k = ks->from + i;
  if (k > ks->to || k >= SCORCH_KMEMO_REGION / 8)
    return 1;
  __u64 v = ks->buf->w[SCORCH_BOUND(k, SCORCH_KMEMO_REGION / 8)];
  if (!text_like(v))
    return 0;
  __u32 n = ks->rec->n;
  if (n >= SCORCH_KMEMO_WORDS) {
    ks->ok = 0; /* too many to check cheaply: not remembered */
    return 1;
  }
  ks->rec->off[SCORCH_BOUND(n, SCORCH_KMEMO_WORDS)] = (__u16)(k - ks->from);
  ks->rec->val[SCORCH_BOUND(n, SCORCH_KMEMO_WORDS)] = v;
  ks->rec->n = n + 1;
  return 0;
}

/* Remembers the kernel stack just walked (n frames). base is the tracepoint's argument array, in
 * bpf_trace_run's frame on the kernel stack, just below the walked frames (this program itself
 * may run on a stack of its own). The return addresses of frames 0 .. n-2 are found above it, in
 * order, and every text-like word between the first and the last is kept, by offset from the
 * first. The outermost frame (the entry code, above the random offset) is not part of it. */
static __noinline void kmemo_remember(struct scorch_kmemo_way *rec, struct scorch_kstack *stack, __u32 n,
                                      __u64 base, __u64 top)
{
  rec->len = 0;
  rec->n = 0;
  __u32 zero = 0;
  struct kregion *buf = bpf_map_lookup_elem(&kbuf, &zero);
  if (!buf || n < 2 || n > SCORCH_MAX_STACK_DEPTH || base >= top)
    return;
  __u64 avail = top - base;
  __u32 bytes = avail > SCORCH_KMEMO_REGION ? SCORCH_KMEMO_REGION : (__u32)avail & ~7u;
  if (bytes < 8 || bytes > SCORCH_KMEMO_REGION || bpf_probe_read_kernel(buf->w, bytes, (void *)base))
    return;
  struct kchain kc = {.buf = buf, .stack = stack, .words = bytes / 8, .j = 0, .last = n - 2};
  bpf_loop(SCORCH_KMEMO_REGION / 8, kchain_step, &kc, 0);
  if (kc.j != n - 1 || kc.first_slot > kc.last_slot)
    return; /* not every frame was found (a deep stack): walked every time */
  struct kscan ks = {.buf = buf, .rec = rec, .from = kc.first_slot, .to = kc.last_slot, .ok = 1};
  bpf_loop(SCORCH_KMEMO_REGION / 8, kscan_step, &ks, 0);
  if (ks.ok && rec->n > 0) {
    rec->base_off = kc.first_slot * 8;
    rec->len = (kc.last_slot - kc.first_slot + 1) * 8;
  }
}

/* 1 when the region above base holds the same text-like words as when the stack was walked. */
static __noinline int kmemo_same(struct scorch_kmemo_way *rec, __u64 base)
{
  __u32 len = rec->len, n = rec->n, at = rec->base_off;
  if (len < 8 || len > SCORCH_KMEMO_REGION || at > SCORCH_KMEMO_REGION || n == 0 || n > SCORCH_KMEMO_WORDS)
    return 0;
  __u32 zero = 0;
  struct kregion *buf = bpf_map_lookup_elem(&kbuf, &zero);
  if (!buf || bpf_probe_read_kernel(buf->w, len, (void *)(base + at)))
    return 0;
  __u32 words = len / 8;
  for (__u32 i = 0; i < SCORCH_KMEMO_WORDS; i++) {
    if (i >= n)
      break;
    __u32 off = rec->off[SCORCH_BOUND(i, SCORCH_KMEMO_WORDS)];
    if (off >= words)
      return 0;
    if (buf->w[SCORCH_BOUND(off, SCORCH_KMEMO_REGION / 8)] != rec->val[SCORCH_BOUND(i, SCORCH_KMEMO_WORDS)])
      return 0;
  }
  return 1;
}

/* The kernel stack of current at switch-out (tp_btf): the remembered one when its region is
 * unchanged, else a walk (about 2 us here: most of a traced block's cost), then remembered. */
static __always_inline void take_kernel_stack(void *ctx, struct scorch_offcpu_start *rec,
                                              struct task_struct *task, __u64 kernel_skip)
{
  __u64 base = (__u64)ctx;
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  __u64 top = (__u64)regs;
  struct scorch_kmemo *km = bpf_task_storage_get(&kmemos, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (km) {
    for (__u32 w = 0; w < 2; w++) {
      struct scorch_kmemo_way *way = &km->way[w];
      if (!way->khash || !kmemo_same(way, base))
        continue;
      if (rec->khash != way->khash) {
        __builtin_memcpy(&rec->kernel, &way->stack, sizeof(rec->kernel));
        rec->khash = way->khash;
      }
      km->mru = w;
      scorch_count(&counters, SCORCH_OFF_KSTACK_KEPT);
      return;
    }
  }
  scorch_count(&counters, SCORCH_OFF_KSTACK_WALKS);
  long kbytes =
      bpf_get_stack(ctx, rec->kernel.ips, sizeof(rec->kernel.ips), kernel_skip & BPF_F_SKIP_FIELD_MASK);
  if (kbytes < 0)
    scorch_count(&counters, SCORCH_OFF_STACK_ERROR);
  rec->khash = scorch_hash_frames(rec->kernel.ips, kbytes);
  if (!km || !regs || !rec->khash || kbytes <= 0)
    return;
  __u32 victim = km->mru ? 0 : 1; /* the least recently used way */
  struct scorch_kmemo_way *way = &km->way[victim];
  way->khash = 0;
  kmemo_remember(way, &rec->kernel, (__u32)(kbytes / 8), base, top);
  if (way->len) {
    __builtin_memcpy(&way->stack, &rec->kernel, sizeof(rec->kernel));
    way->khash = rec->khash;
    km->mru = victim;
  }
}

/* Everything but the user stack and the timestamp. */
static __always_inline void fill_start(void *ctx, struct scorch_offcpu_start *rec, __u32 scopes,
                                       struct scorch_offcpu_filter *fp, struct scorch_offcpu_filter *fa,
                                       __u32 tgid, __u32 state, __u64 kernel_skip, __u32 stacks,
                                       struct task_struct *task)
{
  scorch_count(&counters, SCORCH_OFF_SWITCH_OUTS);
  rec->ts = 0;
  rec->scopes = scopes;
  if (fp && (scopes & (1u << SCORCH_SCOPE_PID))) {
    rec->min_ns[SCORCH_SCOPE_PID] = fp->min_ns;
    rec->max_ns[SCORCH_SCOPE_PID] = fp->max_ns;
  }
  if (fa && (scopes & (1u << SCORCH_SCOPE_ANY))) {
    rec->min_ns[SCORCH_SCOPE_ANY] = fa->min_ns;
    rec->max_ns[SCORCH_SCOPE_ANY] = fa->max_ns;
  }
  rec->tgid = tgid;
  rec->state = state;
  rec->epoch = attach_epoch;
  bpf_get_current_comm(rec->comm, sizeof(rec->comm));
  /* Skip this program's frames: the leaf is __schedule. */
  if (!(stacks & SCORCH_STACK_KERNEL)) {
    rec->khash = 0;
  } else if (task) {
    take_kernel_stack(ctx, rec, task, kernel_skip);
  } else {
    long kbytes =
        bpf_get_stack(ctx, rec->kernel.ips, sizeof(rec->kernel.ips), kernel_skip & BPF_F_SKIP_FIELD_MASK);
    if (kbytes < 0)
      scorch_count(&counters, SCORCH_OFF_STACK_ERROR);
    rec->khash = scorch_hash_frames(rec->kernel.ips, kbytes);
  }
}

static __always_inline void switch_out(void *ctx, bool preempt, struct task_struct *prev,
                                       unsigned int prev_state)
{
  __u32 tgid = prev->tgid;
  if (tgid == 0)
    return; /* the idle task */
  struct scorch_offcpu_filter *fp, *fa;
  __u32 state = offcpu_state_of(preempt, prev_state);
  __u32 scopes = wanted_scopes(tgid, state, &fp, &fa);
  if (!scopes || !scorch_creds_ok(prev, tgid))
    return;
  struct scorch_offcpu_start *rec = bpf_task_storage_get(&starts, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!rec) {
    scorch_count(&counters, SCORCH_OFF_NO_STORAGE);
    return;
  }
  __u32 stacks = wanted_stacks(scopes, fp, fa);
  fill_start(ctx, rec, scopes, fp, fa, tgid, state, 2, stacks, prev); /* skip: the program, bpf_trace_run4 */
  rec->uhash = prev->mm && (stacks & SCORCH_STACK_USER) ? take_user_stack(ctx, rec, tgid) : 0;
  rec->ts = bpf_ktime_get_ns();
}

static __always_inline void put_stack(void *map, __u64 hash, struct scorch_kstack *stack)
{
  if (hash && !bpf_map_lookup_elem(map, &hash))
    if (bpf_map_update_elem(map, &hash, stack, BPF_NOEXIST) == -E2BIG)
      scorch_count(&counters, SCORCH_OFF_MAP_FULL);
}

static __always_inline void add_block(void *counts, struct scorch_offcpu_start *rec, __u32 scope, __u64 delta)
{
  struct scorch_offcpu_key key = {.tgid = rec->tgid,
                                  .state = rec->state,
                                  .scope = scope,
                                  .user_stack_hash = rec->uhash,
                                  .kernel_stack_hash = rec->khash};
  struct scorch_offcpu_value *val = bpf_map_lookup_elem(counts, &key);
  if (!val) {
    struct scorch_offcpu_value init = {};
    __builtin_memcpy(init.comm, rec->comm, sizeof(init.comm));
    val = scorch_insert_or_get(counts, &key, &init);
    if (!val) {
      scorch_count(&counters, SCORCH_OFF_MAP_FULL);
      return;
    }
  }
  __sync_fetch_and_add(&val->total_ns, delta);
  __sync_fetch_and_add(&val->count, 1);
  if (delta > val->max_ns)
    val->max_ns = delta; /* a racy maximum is good enough for a report */
  scorch_count(&counters, SCORCH_OFF_BLOCKS);
}

static __always_inline void end_block(struct scorch_offcpu_start *rec)
{
  if (rec->epoch != attach_epoch) {
    rec->ts = 0; /* blocked since before this attachment: its start is not ours to count */
    return;
  }
  __u64 now = bpf_ktime_get_ns();
  __u64 delta = now > rec->ts ? now - rec->ts : 0;
  rec->ts = 0;
  __u32 seq = active_generation;
  int stored = 0;
  for (__u32 scope = 0; scope < SCORCH_SCOPE_MAX; scope++) {
    if (!(rec->scopes & (1u << scope)))
      continue;
    if (delta < rec->min_ns[scope & 1] || delta > rec->max_ns[scope & 1]) {
      scorch_count(&counters, SCORCH_OFF_FILTERED);
      continue;
    }
    /* Stacks first, so a drain that sees the bucket finds its stacks. */
    if (!stored) {
      stored = 1;
      put_stack(scorch_active_map(seq, &ustacks0, &ustacks1), rec->uhash, &rec->user);
      put_stack(scorch_active_map(seq, &kstacks0, &kstacks1), rec->khash, &rec->kernel);
    }
    add_block(scorch_active_map(seq, &counts0, &counts1), rec, scope, delta);
  }
}

SEC("tp_btf/sched_switch")
int BPF_PROG(scorch_offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state)
{
  switch_out(ctx, preempt, prev, prev_state);
  struct scorch_offcpu_start *rec = bpf_task_storage_get(&starts, next, 0, 0);
  if (rec && rec->ts)
    end_block(rec);
  return 0;
}

/* ---- raw tracepoint fallback, for kernels without tp_btf: pending blocks in a hash by tid ---- */

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, SCORCH_OFFCPU_RAW_STARTS);
  __type(key, __u32);
  __type(value, struct scorch_offcpu_start);
} raw_starts SEC(".maps");

/* A zeroed record to insert from (too big for the BPF stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scorch_offcpu_start);
} raw_zero SEC(".maps");

struct task_struct___pre518 {
  long state;
} __attribute__((preserve_access_index));

static __always_inline unsigned int task_state(struct task_struct *t)
{
  if (bpf_core_field_exists(t->__state))
    return BPF_CORE_READ(t, __state);
  return (unsigned int)BPF_CORE_READ((struct task_struct___pre518 *)t, state);
}

SEC("raw_tp/sched_switch")
int scorch_offcpu_switch_raw(struct bpf_raw_tracepoint_args *ctx)
{
  /* Only preempt, prev and next: kernels before 5.18 have no prev_state argument. */
  bool preempt = ctx->args[0] != 0;
  struct task_struct *prev = (struct task_struct *)ctx->args[1];
  struct task_struct *next = (struct task_struct *)ctx->args[2];

  __u32 tgid = BPF_CORE_READ(prev, tgid);
  if (tgid != 0) {
    struct scorch_offcpu_filter *fp, *fa;
    __u32 state = offcpu_state_of(preempt, task_state(prev));
    __u32 scopes = wanted_scopes(tgid, state, &fp, &fa);
    if (scopes && scorch_creds_ok(prev, tgid)) {
      __u32 tid = BPF_CORE_READ(prev, pid), zero = 0;
      struct scorch_offcpu_start *rec = bpf_map_lookup_elem(&raw_starts, &tid);
      if (!rec) {
        struct scorch_offcpu_start *blank = bpf_map_lookup_elem(&raw_zero, &zero);
        if (blank)
          bpf_map_update_elem(&raw_starts, &tid, blank, BPF_NOEXIST);
        rec = bpf_map_lookup_elem(&raw_starts, &tid);
      }
      if (!rec) {
        scorch_count(&counters, SCORCH_OFF_NO_STORAGE);
      } else {
        __u32 stacks = wanted_stacks(scopes, fp, fa);
        fill_start(ctx, rec, scopes, fp, fa, tgid, state, 2, stacks, NULL);
        rec->task_start = BPF_CORE_READ(prev, start_time);
        rec->uhash =
            BPF_CORE_READ(prev, mm) && (stacks & SCORCH_STACK_USER) ? take_user_stack_fp(ctx, rec) : 0;
        rec->ts = bpf_ktime_get_ns();
      }
    }
  }

  __u32 next_tid = BPF_CORE_READ(next, pid);
  struct scorch_offcpu_start *rec = bpf_map_lookup_elem(&raw_starts, &next_tid);
  if (rec) {
    /* A record of an exited thread whose tid came back is dropped, never ended. */
    if (rec->ts && rec->task_start == BPF_CORE_READ(next, start_time))
      end_block(rec);
    bpf_map_delete_elem(&raw_starts, &next_tid);
  }
  return 0;
}
