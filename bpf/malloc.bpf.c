// SPDX-License-Identifier: GPL-2.0
/* Allocator tracing: uprobes on the allocator a process really uses (glibc, jemalloc, tcmalloc,
 * mimalloc), counting calls and bytes per user stack in the kernel; in outstanding mode return
 * probes and free track which blocks are still live.
 *
 * Every probe carries a cookie (see malloc.h) saying which process it is for, which function it
 * sits on, how far the stack pointer is from the return address there, and the slot of the
 * session's settings. So one program serves every function, and a probe firing in a process it
 * was not meant for (a child that inherited the breakpoint at fork) is dropped at once. */
#include "scorch.bpf.h"
#include "unwind.bpf.h"
#include "malloc.h"
#include "creds.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The daemon drains one generation of counts while the program fills the other. */
volatile __u32 active_generation = 0;
/* Bumped whenever the daemon empties the stacks map: a CPU's memory of the stack it stored
 * last is void after that. */
volatile __u32 stack_epoch = 0;
struct scorch_malloc_slot slots[SCORCH_MALLOC_SLOTS];
/* -ln(u) for u spread evenly over (0, 1), scaled by 1 << 16 and normalised to a mean of
 * exactly 1 << 16 by the daemon: thresholds drawn from it are exponential with the mean asked. */
__u32 exp_q16[SCORCH_MALLOC_EXP_TABLE];
/* Duty mode, per slot: probe hits while the gate was open, the time the program spent on them,
 * threads seen in each window (window_id[] is bumped by the daemon for every window). The daemon
 * takes the hits' cost out of the window's time: the probes slow the program down while they are
 * attached, and the counts must stand for the program running at its own speed. */
__u64 gated_hits[SCORCH_MALLOC_SLOTS];
__u64 gated_ns[SCORCH_MALLOC_SLOTS];
__u64 gated_threads[SCORCH_MALLOC_SLOTS];
__u32 window_id[SCORCH_MALLOC_SLOTS];

struct counts_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_MALLOC_COUNT_ENTRIES);
  __type(key, struct scorch_malloc_key);
  __type(value, struct scorch_malloc_value);
};
struct counts_map counts0 SEC(".maps"), counts1 SEC(".maps");

/* Stacks by hash. Not double-buffered: live blocks refer to them for as long as they live. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_MALLOC_STACK_ENTRIES);
  __type(key, __u64);
  __type(value, struct scorch_ustack);
} stacks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_MALLOC_LIVE_ENTRIES);
  __type(key, struct scorch_live_key);
  __type(value, struct scorch_live_value);
} live SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct scorch_malloc_thread);
} threads SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_M_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* n * size, or 0 when it overflows (the call then fails). Written so that clang does not turn
 * it into a 128-bit multiply, which BPF lacks. */
static __always_inline __u64 product(__u64 n, __u64 size)
{
  if (n == 0 || size == 0)
    return 0;
  __u64 limit = ~0ull / n;
  asm volatile("" : "+r"(limit));
  if (size > limit)
    return 0;
  asm volatile("" : "+r"(size));
  return n * size;
}

static __always_inline __u64 requested_size(__u32 kind, __u64 di, __u64 si, __u64 dx)
{
  switch (kind) {
  case SCORCH_ALLOC_MALLOC:
  case SCORCH_ALLOC_VALLOC:
    return di;
  case SCORCH_ALLOC_CALLOC:
    return product(di, si);
  case SCORCH_ALLOC_REALLOC:
  case SCORCH_ALLOC_MEMALIGN:
    return si;
  case SCORCH_ALLOC_REALLOCARRAY:
    return product(si, dx);
  case SCORCH_ALLOC_POSIX_MEMALIGN:
    return dx;
  }
  return 0;
}

/* A frame-pointer walk for a process without unwind tables. The probe sits before the function
 * saved rbp, so rbp is still the caller's frame pointer and a plain walk would skip the caller:
 * its return address is read from the stack first. */
struct fp_ctx {
  struct scorch_walk *st;
  __u64 bp;
};

static long fp_step(__u32 index, void *arg)
{
  struct fp_ctx *fc = arg;
  struct scorch_walk *st = fc->st;
  __u32 n = st->n;
  if (n >= SCORCH_MAX_STACK_DEPTH || fc->bp == 0)
    return 1;
  __u64 frame[2] = {0, 0}; /* saved rbp, return address */
  if (bpf_probe_read_user(frame, sizeof(frame), (void *)fc->bp) || frame[1] == 0)
    return 1;
  st->stack.ips[n] = frame[1];
  st->n = n + 1;
  st->hash = scorch_hash_step(st->hash, frame[1]);
  if (frame[0] <= fc->bp)
    return 1; /* frames go up the stack */
  fc->bp = frame[0];
  return 0;
}

static __noinline __u32 fp_walk(__u64 ip, __u64 ret_slot, __u64 bp)
{
  struct scorch_walk *st = scorch_walk_state();
  if (!st)
    return 0;
  __u64 ret = 0;
  if (bpf_probe_read_user(&ret, sizeof(ret), (void *)ret_slot))
    ret = 0;
  st->hash = SCORCH_FNV_OFFSET;
  st->stack.ips[0] = ip;
  st->hash = scorch_hash_step(st->hash, ip);
  st->n = 1;
  if (ret) {
    st->stack.ips[1] = ret;
    st->hash = scorch_hash_step(st->hash, ret);
    st->n = 2;
    struct fp_ctx fc = {.st = st, .bp = bp};
    bpf_loop(SCORCH_MAX_STACK_DEPTH, fp_step, &fc, 0);
  }
  __u32 n = st->n;
  if (n < SCORCH_MAX_STACK_DEPTH)
    st->stack.ips[n] = 0;
  if (st->hash == 0)
    st->hash = 1;
  return n;
}

/* Walks remembered per CPU: a call site hit again with the same registers and the same words
 * at every stack address the walk read has the same stack (the walk is a function of those), so
 * re-reading one window and comparing replaces the walk: a hot allocation site costs one
 * bpf_probe_read_user instead of a frame-by-frame unwind. */
#define MEMO_WAYS 8
struct walk_memo {
  __u64 ip, sp, bp, hash;
  __u32 tgid, epoch;
  __u32 n, valid;
  __u32 bp_used;              /* the walk depended on bp: it must match too */
  __u32 span;                 /* bytes from sp that hold every word read */
  __u16 off[SCORCH_WALK_LOG]; /* offsets from sp of the words read */
  __u64 val[SCORCH_WALK_LOG];
};
struct walk_memos {
  struct walk_memo way[MEMO_WAYS];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct walk_memos);
} memos SEC(".maps");

/* The remembered stack when every word it read is unchanged; 0 otherwise. */
static __noinline __u64 memo_check(struct walk_memo *m, struct scorch_walk *st, __u64 sp)
{
  __u32 n = m->n, span = m->span;
  if (n > SCORCH_WALK_LOG || span < 8 || span > SCORCH_STACK_WINDOW ||
      bpf_probe_read_user(st->win, span, (void *)sp))
    return 0;
  st->win_base = sp;
  for (__u32 i = 0; i < SCORCH_WALK_LOG; i++) {
    if (i >= n)
      break;
    __u32 off = m->off[i];
    if (off > SCORCH_STACK_WINDOW - 8 || off + 8 > span)
      return 0;
    if (*(__u64 *)(st->win + off) != m->val[i])
      return 0;
  }
  return m->hash;
}

/* The caller's user stack, stored in the stacks map; returns its hash (0: none). */
static __always_inline __u64 user_stack(__u64 ip, __u64 sp, __u64 bp, __u32 tgid, __u64 ret_slot)
{
  struct scorch_walk *st = scorch_walk_state();
  if (!st)
    return 0;
  __u32 epoch = stack_epoch;
  __u32 zero = 0;
  struct walk_memos *ms = bpf_map_lookup_elem(&memos, &zero);
  struct walk_memo *m = ms ? &ms->way[((ip >> 4) ^ (sp >> 4)) & (MEMO_WAYS - 1)] : NULL;
  if (m && m->valid && m->ip == ip && m->sp == sp && (!m->bp_used || m->bp == bp) && m->tgid == tgid &&
      m->epoch == epoch) {
    __u64 h = memo_check(m, st, sp);
    if (h) {
      scorch_count(&counters, SCORCH_M_MEMO_HITS);
      return h;
    } /* stored when it was first walked, and the map has not been emptied since */
  }
  scorch_unwind_start_exact(st, ip, sp, bp);
  st->log_on = 1;
  st->log_n = 0;
  st->bp_regs = 1;
  st->bp_used = 0;
  scorch_count(&counters, SCORCH_M_WALKS);
  __u32 frames = scorch_unwind_walk(tgid);
  st->log_on = 0;
  if (frames == 0 && fp_walk(ip, ret_slot, bp) == 0)
    return 0;
  __u64 hash = st->hash;
  if (!(hash == st->last_hash && epoch == st->last_seq)) {
    if (!bpf_map_lookup_elem(&stacks, &hash)) {
      long err = bpf_map_update_elem(&stacks, &hash, &st->stack, BPF_NOEXIST);
      if (err && err != -EEXIST) {
        scorch_count(&counters, SCORCH_M_STACK_LOST);
        return hash;
      }
    }
    st->last_hash = hash;
    st->last_seq = epoch;
  }
  /* Remember a table walk whose reads all fell in one window from sp. */
  __u32 n = st->log_n;
  if (m && frames && n <= SCORCH_WALK_LOG) {
    m->valid = 0;
    __u32 span = 8;
    for (__u32 i = 0; i < SCORCH_WALK_LOG; i++) {
      if (i >= n)
        break;
      __u64 off = st->log_addr[i] - sp;
      if (off > SCORCH_STACK_WINDOW - 8)
        return hash;
      m->off[i] = (__u16)off;
      m->val[i] = st->log_val[i];
      if (off + 8 > span)
        span = off + 8;
    }
    m->span = span;
    m->ip = ip;
    m->sp = sp;
    m->bp = bp;
    m->bp_used = st->bp_used;
    m->tgid = tgid;
    m->epoch = epoch;
    m->hash = hash;
    m->n = n;
    m->valid = 1;
  }
  return hash;
}

static __always_inline void add_counts(void *counts, struct scorch_malloc_key *key, __u64 bytes,
                                       __u64 est_calls_q16, __u64 est_bytes)
{
  struct scorch_malloc_value *v = bpf_map_lookup_elem(counts, key);
  if (!v) {
    struct scorch_malloc_value init = {};
    v = scorch_insert_or_get(counts, key, &init);
    if (!v) {
      scorch_count(&counters, SCORCH_M_MAP_FULL);
      return;
    }
  }
  __sync_fetch_and_add(&v->calls, 1);
  __sync_fetch_and_add(&v->bytes, bytes);
  if (est_bytes || est_calls_q16) {
    __sync_fetch_and_add(&v->est_calls_q16, est_calls_q16);
    __sync_fetch_and_add(&v->est_bytes, est_bytes);
  }
}

/* An exponential threshold with the slot's mean. */
static __always_inline __s64 draw(__u64 mean)
{
  __u32 i = bpf_get_prandom_u32() & (SCORCH_MALLOC_EXP_TABLE - 1);
  return (__s64)((mean * exp_q16[i]) >> 16);
}

/* Sampled mode: how many thresholds this allocation crosses (0: not sampled). Each crossing
 * stands for `mean` bytes, so the sum over samples estimates the bytes without bias; calls are
 * estimated by crossings * mean / size. */
static __always_inline __u64 crossings(struct scorch_malloc_thread *t, __u64 mean, __u64 size)
{
  if (!t->seeded) {
    t->remaining = draw(mean);
    t->seeded = 1;
  }
  __s64 rem = t->remaining - (__s64)size;
  __u64 k = 0;
  for (int i = 0; i < 8 && rem <= 0; i++) {
    rem += draw(mean);
    k++;
  }
  if (rem <= 0) {
    /* A block many times the mean: the rest of its crossings at their expected spacing. */
    __u64 more = (__u64)(-rem) / mean + 1;
    k += more;
    rem += (__s64)(more * mean);
  }
  t->remaining = rem;
  return k;
}

static __always_inline void entry(struct pt_regs *ctx, __u64 cookie, __u32 tgid,
                                  struct scorch_malloc_slot *slot, __u32 mode)
{
  __u32 kind = cookie & 15;
  /* The verifier wants context loads unmodified: every register is read once, here. */
  __u64 di = ctx->di, si = ctx->si, dx = ctx->dx, ip = ctx->ip, sp = ctx->sp, bp = ctx->bp;
  if (kind == SCORCH_ALLOC_FREE) {
    __u64 ptr = di;
    if (!ptr || !(mode & SCORCH_MALLOC_OUTSTANDING))
      return;
    scorch_count(&counters, SCORCH_M_FREES);
    struct scorch_live_key lk = {.tgid = tgid, .addr = ptr};
    if (bpf_map_delete_elem(&live, &lk))
      scorch_count(&counters, SCORCH_M_FREE_UNKNOWN);
    return;
  }

  /* Sampled mode's common case first: a call that crosses no threshold only counts down its
   * thread's bytes (no stack walk, no map update). */
  if ((mode & SCORCH_MALLOC_SAMPLED) && !(cookie & SCORCH_COOKIE_RET)) {
    struct scorch_malloc_thread *ft =
        bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (ft && ft->seeded && ft->depth == 0) {
      __s64 size = (__s64)requested_size(kind, di, si, dx);
      if (ft->remaining > size) {
        ft->remaining -= size;
        return;
      }
    }
  }

  /* Where this call's return address sits: the stack pointer plus the pushes before the probe. */
  __u64 ret_slot = sp + ((cookie >> 8) & 255) * 8;
  int has_ret = (cookie & SCORCH_COOKIE_RET) != 0;
  int need_storage = has_ret || (mode & (SCORCH_MALLOC_SAMPLED | SCORCH_MALLOC_OUTSTANDING));
  struct scorch_malloc_thread *t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
                                                        need_storage ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
  if (need_storage && !t) {
    scorch_count(&counters, SCORCH_M_NO_STORAGE);
    return;
  }
  if (t && t->depth > 0) {
    /* A call of the allocator's own is deeper on the stack than the call in progress
     * (memalign calling malloc), or returns to the same place (glibc's realloc(NULL, n) jumps to
     * malloc). A call above the return address means the call in progress has ended and its
     * return probe was missed (a longjmp out of the allocator). */
    if (ret_slot <= t->outer_slot) {
      if (has_ret)
        t->depth++;
      scorch_count(&counters, SCORCH_M_NESTED);
      return;
    }
    t->depth = 0;
    t->pending = 0;
  }
  if (has_ret && t) {
    t->depth = 1;
    t->outer_slot = ret_slot;
  }
  scorch_count(&counters, SCORCH_M_CALLS);

  __u64 size = requested_size(kind, di, si, dx);
  __u64 est_calls_q16 = 0, est_bytes = 0;
  if (mode & SCORCH_MALLOC_SAMPLED) {
    __u64 mean = slot->sample_bytes;
    if (!t || mean == 0 || size == 0)
      return;
    __u64 k = crossings(t, mean, size);
    if (k == 0)
      return;
    scorch_count(&counters, SCORCH_M_SAMPLED);
    est_bytes = k * mean;
    est_calls_q16 = (est_bytes << 16) / size;
  }

  struct scorch_malloc_key key = {.tgid = tgid};
  key.stack_hash = user_stack(ip, sp, bp, tgid, ret_slot);
  add_counts(scorch_active_map(active_generation, &counts0, &counts1), &key, size, est_calls_q16, est_bytes);

  if ((mode & SCORCH_MALLOC_OUTSTANDING) && t && has_ret) {
    t->pending = 1;
    t->kind = kind;
    t->size = size;
    t->stack_hash = key.stack_hash;
    /* posix_memalign's memptr, realloc's old block */
    t->arg_ptr = (kind == SCORCH_ALLOC_POSIX_MEMALIGN || kind == SCORCH_ALLOC_REALLOC ||
                  kind == SCORCH_ALLOC_REALLOCARRAY)
                     ? di
                     : 0;
  }
}

/* Duty mode: the hit is counted with its cost, and its thread once per window. */
static __always_inline void account_gated(__u32 s, __u64 t0)
{
  __sync_fetch_and_add(&gated_hits[s], 1);
  __sync_fetch_and_add(&gated_ns[s], bpf_ktime_get_ns() - t0);
  struct scorch_malloc_thread *t =
      bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  __u32 w = window_id[s];
  if (t && t->window != w) {
    t->window = w;
    __sync_fetch_and_add(&gated_threads[s], 1);
  }
}

SEC("uprobe")
int scorch_malloc_entry(struct pt_regs *ctx)
{
  __u64 cookie = bpf_get_attach_cookie(ctx);
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (tgid != (__u32)(cookie >> 32)) {
    scorch_count(&counters, SCORCH_M_OTHER_PROCESS);
    return 0;
  }
  if (!scorch_creds_ok(bpf_get_current_task_btf(), tgid))
    return 0;
  __u32 s = (cookie >> 16) & (SCORCH_MALLOC_SLOTS - 1);
  struct scorch_malloc_slot *slot = &slots[s];
  __u32 mode = slot->mode;
  if (!(mode & SCORCH_MALLOC_GATED)) {
    entry(ctx, cookie, tgid, slot, mode);
    return 0;
  }
  if (!slot->gate)
    return 0;
  __u64 t0 = bpf_ktime_get_ns();
  entry(ctx, cookie, tgid, slot, mode);
  account_gated(s, t0);
  return 0;
}

/* A return probe: the result of the outermost call in progress becomes a live block. */
static __always_inline void on_return(struct pt_regs *ctx, __u64 cookie, __u32 tgid)
{
  struct scorch_malloc_thread *t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
  if (!t || t->depth == 0)
    return;
  if (--t->depth > 0 || !t->pending)
    return;
  t->pending = 0;
  struct scorch_malloc_slot *slot = &slots[(cookie >> 16) & (SCORCH_MALLOC_SLOTS - 1)];
  if (!(slot->mode & SCORCH_MALLOC_OUTSTANDING))
    return;

  __u64 ret = ctx->ax, ptr = ret;
  __u32 kind = t->kind;
  if (kind == SCORCH_ALLOC_POSIX_MEMALIGN) {
    ptr = 0;
    if ((int)ret != 0 || !t->arg_ptr || bpf_probe_read_user(&ptr, sizeof(ptr), (void *)t->arg_ptr))
      ptr = 0;
  }
  if ((kind == SCORCH_ALLOC_REALLOC || kind == SCORCH_ALLOC_REALLOCARRAY) && t->arg_ptr &&
      (ptr || t->size == 0)) {
    /* The old block is gone: moved (or resized in place, re-added below) or freed by size 0. */
    struct scorch_live_key old = {.tgid = tgid, .addr = t->arg_ptr};
    bpf_map_delete_elem(&live, &old);
  }
  if (!ptr)
    return;
  struct scorch_live_key lk = {.tgid = tgid, .addr = ptr};
  struct scorch_live_value lv = {.size = t->size, .stack_hash = t->stack_hash, .ts_ns = bpf_ktime_get_ns()};
  if (bpf_map_update_elem(&live, &lk, &lv, BPF_ANY))
    scorch_count(&counters, SCORCH_M_LIVE_FULL);
}

SEC("uretprobe")
int scorch_malloc_return(struct pt_regs *ctx)
{
  __u64 cookie = bpf_get_attach_cookie(ctx);
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (tgid != (__u32)(cookie >> 32) || !scorch_creds_ok(bpf_get_current_task_btf(), tgid))
    return 0;
  __u32 s = (cookie >> 16) & (SCORCH_MALLOC_SLOTS - 1);
  if (!(slots[s].mode & SCORCH_MALLOC_GATED) || !slots[s].gate) {
    on_return(ctx, cookie, tgid);
    return 0;
  }
  __u64 t0 = bpf_ktime_get_ns();
  on_return(ctx, cookie, tgid);
  account_gated(s, t0);
  return 0;
}
