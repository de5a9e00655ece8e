// SPDX-License-Identifier: GPL-2.0
/* Lock contention. User space: the futex syscalls of traced processes. A wait opens at
 * sys_enter_futex (FUTEX_WAIT, WAIT_BITSET, LOCK_PI) with the waiter's user stack, and closes at
 * sys_exit_futex, adding its time to a bucket by process, lock address, kind and stack. A
 * contended release (FUTEX_WAKE, UNLOCK_PI) records the releasing thread and its stack on the
 * address; a wait that ends after such a release is charged to it (--holders). Every mutex wait is
 * also charged to the thread that owned the mutex when it began, read from the lock. The futex time
 * includes the run-queue delay after the wake. Kernel: lock:contention_begin/end, with the
 * kernel and user stacks of the task that waited. Nothing per wait crosses to user space. */
#include "scorch.bpf.h"
#include "unwind.bpf.h"
#include "locks.h"
#include "creds.bpf.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define FUTEX_WAIT        0
#define FUTEX_WAKE        1
#define FUTEX_LOCK_PI     6
#define FUTEX_UNLOCK_PI   7
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_LOCK_PI2    13
#define FUTEX_CMD_MASK    0x7f /* without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256) */

/* The daemon drains one generation while the program fills the other (as on-CPU). */
volatile __u32 active_generation = 0;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_LOCKS_FILTER_ENTRIES);
  __type(key, __u32);
  __type(value, struct scorch_locks_filter);
} filter SEC(".maps");

struct counts_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_LOCKS_MAX_ENTRIES);
  __type(key, struct scorch_lock_key);
  __type(value, struct scorch_lock_value);
};
struct counts_map counts0 SEC(".maps"), counts1 SEC(".maps");

struct holders_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_LOCKS_MAX_ENTRIES);
  __type(key, struct scorch_lock_holder_key);
  __type(value, struct scorch_lock_holder_value);
};
struct holders_map holders0 SEC(".maps"), holders1 SEC(".maps");

struct owners_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_LOCKS_OWNER_ENTRIES);
  __type(key, struct scorch_lock_owner_key);
  __type(value, struct scorch_lock_owner_value);
};
struct owners_map owners0 SEC(".maps"), owners1 SEC(".maps");

/* Waiters' stacks by hash, double-buffered with the counts that name them. */
struct stacks_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_LOCKS_STACK_ENTRIES);
  __type(key, __u64);
  __type(value, struct scorch_ustack);
};
struct stacks_map ustacks0 SEC(".maps"), ustacks1 SEC(".maps");
struct stacks_map kstacks0 SEC(".maps"), kstacks1 SEC(".maps");

/* Releasers' stacks: a release may be charged in a later generation than it happened in, so
 * these are not double-buffered; the daemon reads them without deleting, LRU evicts. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SCORCH_LOCKS_STACK_ENTRIES);
  __type(key, __u64);
  __type(value, struct scorch_ustack);
} wake_stacks SEC(".maps");

/* The last contended release on each address of a traced process. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SCORCH_LOCKS_WAKE_ENTRIES);
  __type(key, struct scorch_lock_wake_key);
  __type(value, struct scorch_lock_wake);
} wakes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_LK_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* The open futex wait of a thread, and its open kernel-lock wait (one may sit inside the other:
 * the futex code takes kernel locks). */
struct waits_map {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct scorch_lock_wait);
};
struct waits_map user_waits SEC(".maps"), kernel_waits SEC(".maps");

/* How many traced threads sleep in a futex wait on each address now: a release on an address
 * nobody traced sleeps on ends no wait, so its stack is not taken. LRU: an evicted count only
 * costs releases their stack (counted as woken waits without a release). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SCORCH_LOCKS_WAKE_ENTRIES);
  __type(key, struct scorch_lock_wake_key);
  __type(value, __s64);
} sleepers SEC(".maps");

/* A scratch record for a release's stack (too large for the BPF stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scorch_ustack);
} scratch SEC(".maps");

static __always_inline struct scorch_locks_filter *wanted(__u32 tgid)
{
  return bpf_map_lookup_elem(&filter, &tgid);
}

/* The user stack of current from the registers saved at syscall entry: unwind tables when the
 * process has them, else frame pointers. Its hash, 0 when none. */
static __noinline __u64 take_user_stack(void *ctx, struct scorch_ustack *out, __u32 tgid)
{
  struct scorch_walk *st = scorch_walk_state();
  if (st && scorch_unwind_start_task(st, bpf_get_current_task_btf())) {
    __u32 n = scorch_unwind_walk(tgid);
    if (n > 0) {
      __builtin_memcpy(out, &st->stack, sizeof(*out));
      return st->hash;
    }
  }
  long bytes = bpf_get_stack(ctx, out->ips, sizeof(out->ips), BPF_F_USER_STACK);
  if (bytes < 0)
    scorch_count(&counters, SCORCH_LK_STACK_ERROR);
  return scorch_hash_frames(out->ips, bytes);
}

static __always_inline void count_sleeper(__u32 tgid, __u64 addr, __s64 delta)
{
  struct scorch_lock_wake_key k = {.tgid = tgid, .addr = addr};
  __s64 *n = bpf_map_lookup_elem(&sleepers, &k);
  if (!n) {
    if (delta < 0)
      return;
    __s64 zero = 0;
    n = scorch_insert_or_get(&sleepers, &k, &zero);
    if (!n)
      return;
  }
  __sync_fetch_and_add(n, delta);
}

static __always_inline __u32 log2_bucket(__u64 ns)
{
  __u32 b = 0;
  for (int i = 0; i < SCORCH_LOCKS_HIST - 1; i++) {
    if (ns < 2)
      break;
    ns >>= 1;
    b++;
  }
  return b;
}

/* Adds one wait of ns to its bucket in the active generation. */
static __always_inline void add_wait(struct scorch_lock_wait *w, __u32 tgid, __u64 ns, __u32 seq)
{
  struct scorch_lock_key key = {.tgid = tgid,
                                .kind = w->kind,
                                .addr = w->addr,
                                .uhash = w->uhash,
                                .khash = w->khash,
                                .flags = w->flags};
  void *counts = scorch_active_map(seq, &counts0, &counts1);
  struct scorch_lock_value *v = bpf_map_lookup_elem(counts, &key);
  if (!v) {
    struct scorch_lock_value init = {};
    bpf_get_current_comm(init.comm, sizeof(init.comm));
    v = scorch_insert_or_get(counts, &key, &init);
    if (!v) {
      scorch_count(&counters, SCORCH_LK_MAP_FULL);
      return;
    }
    /* A new bucket in this generation: its stacks go in with it, so the daemon finds them
     * together (a bucket that exists already has them). */
    if (w->uhash)
      bpf_map_update_elem(scorch_active_map(seq, &ustacks0, &ustacks1), &w->uhash, &w->user, BPF_ANY);
    if (w->khash)
      bpf_map_update_elem(scorch_active_map(seq, &kstacks0, &kstacks1), &w->khash, &w->kernel, BPF_ANY);
  }
  __sync_fetch_and_add(&v->total_ns, ns);
  __sync_fetch_and_add(&v->count, 1);
  if (ns > v->max_ns)
    v->max_ns = ns; /* racy by design: a lost max is one wait of the same size on another CPU */
  __u32 b = log2_bucket(ns);
  if (b < SCORCH_LOCKS_HIST)
    __sync_fetch_and_add(&v->hist[b], 1);
  scorch_count(&counters, SCORCH_LK_WAITS);
}

/* Charges a wait to the thread that owned the mutex when it began. */
static __always_inline void add_owner(struct scorch_lock_wait *w, __u32 tgid, __u64 ns, __u32 seq)
{
  struct scorch_lock_owner_key key = {.tgid = tgid, .kind = w->kind, .addr = w->addr, .owner = w->owner};
  void *owners = scorch_active_map(seq, &owners0, &owners1);
  struct scorch_lock_owner_value *v = bpf_map_lookup_elem(owners, &key);
  if (!v) {
    struct scorch_lock_owner_value init = {};
    v = scorch_insert_or_get(owners, &key, &init);
    if (!v) {
      scorch_count(&counters, SCORCH_LK_MAP_FULL);
      return;
    }
  }
  __sync_fetch_and_add(&v->waited_ns, ns);
  __sync_fetch_and_add(&v->count, 1);
}

/* Who holds the mutex at addr now, read from the lock (the waiter's own memory, just touched by
 * its futex call): glibc's pthread_mutex_t keeps the owner's tid in __owner, 8 bytes past the
 * futex word (glibc's internal locks, a bare int, have something else there: the daemon keeps
 * only tids of the process's threads); a PI mutex keeps it in the futex word. 0: unknown. */
static __always_inline __u32 read_owner(__u64 addr, __u32 kind, __u32 tid, __u32 *flags)
{
  __u32 owner = 0;
  if (kind == SCORCH_LOCK_LLL) {
    struct {
      __u32 owner, nusers, kind; /* pthread_mutex_t's __owner, __nusers, __kind */
    } m;
    if (bpf_probe_read_user(&m, sizeof(m), (const void *)(addr + 8)))
      return 0;
    *flags = SCORCH_LOCK_F_MUTEX_KIND | (m.kind & 0xff);
    owner = m.owner;
  } else if (kind == SCORCH_LOCK_PI) {
    if (bpf_probe_read_user(&owner, sizeof(owner), (const void *)addr))
      return 0;
    owner &= 0x3fffffff; /* FUTEX_TID_MASK */
  }
  return owner == tid || owner > 4194304 /* PID_MAX_LIMIT */ ? 0 : owner;
}

/* Charges a woken waiter's time to the last release on its address, if it came after the wait began. */
static __always_inline void add_holder(struct scorch_lock_wait *w, __u32 tgid, __u64 ns, __u32 seq)
{
  struct scorch_lock_wake_key wk = {.tgid = tgid, .addr = w->addr};
  struct scorch_lock_wake *wake = bpf_map_lookup_elem(&wakes, &wk);
  if (!wake || wake->ts_ns < w->start_ns) {
    scorch_count(&counters, SCORCH_LK_NO_HOLDER);
    return;
  }
  struct scorch_lock_holder_key key = {.tgid = tgid,
                                       .kind = w->kind,
                                       .addr = w->addr,
                                       .uhash = wake->uhash,
                                       .whash = w->uhash,
                                       .tid = wake->tid};
  void *holders = scorch_active_map(seq, &holders0, &holders1);
  struct scorch_lock_holder_value *v = bpf_map_lookup_elem(holders, &key);
  if (!v) {
    struct scorch_lock_holder_value init = {};
    __builtin_memcpy(init.comm, wake->comm, sizeof(init.comm));
    v = scorch_insert_or_get(holders, &key, &init);
    if (!v) {
      scorch_count(&counters, SCORCH_LK_MAP_FULL);
      return;
    }
  }
  __sync_fetch_and_add(&v->waited_ns, ns);
  __sync_fetch_and_add(&v->count, 1);
}

/* A contended release: who released the lock at addr, and where. */
static __noinline void record_wake(void *ctx, __u32 tgid, __u32 tid, __u64 addr)
{
  struct scorch_lock_wake_key wk = {.tgid = tgid, .addr = addr};
  __s64 *sleeping = bpf_map_lookup_elem(&sleepers, &wk);
  if (!sleeping || *sleeping <= 0) {
    scorch_count(&counters, SCORCH_LK_IDLE_WAKES);
    return;
  }
  __u32 zero = 0;
  struct scorch_ustack *stack = bpf_map_lookup_elem(&scratch, &zero);
  if (!stack)
    return;
  struct scorch_lock_wake wake = {.ts_ns = bpf_ktime_get_ns(), .tid = tid};
  wake.uhash = take_user_stack(ctx, stack, tgid);
  bpf_get_current_comm(wake.comm, sizeof(wake.comm));
  if (wake.uhash)
    bpf_map_update_elem(&wake_stacks, &wake.uhash, stack, BPF_ANY);
  bpf_map_update_elem(&wakes, &wk, &wake, BPF_ANY);
  scorch_count(&counters, SCORCH_LK_WAKES);
}

SEC("tracepoint/syscalls/sys_enter_futex")
int scorch_futex_enter(struct trace_event_raw_sys_enter *ctx)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  struct scorch_locks_filter *f = wanted(tgid);
  if (!f || !f->user)
    return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  if (!scorch_creds_ok(task, tgid))
    return 0;
  __u64 addr = ctx->args[0];
  __u32 op = (__u32)ctx->args[1] & FUTEX_CMD_MASK;
  __u32 val = (__u32)ctx->args[2];
  __u32 kind;
  if (op == FUTEX_WAIT)
    kind = val == 2 ? SCORCH_LOCK_LLL : SCORCH_LOCK_WAIT;
  else if (op == FUTEX_WAIT_BITSET)
    kind = SCORCH_LOCK_BITSET;
  else if (op == FUTEX_LOCK_PI || op == FUTEX_LOCK_PI2)
    kind = SCORCH_LOCK_PI;
  else if (op == FUTEX_WAKE || op == FUTEX_WAKE_BITSET || op == FUTEX_UNLOCK_PI) {
    if (f->holders)
      record_wake(ctx, tgid, tid, addr);
    return 0;
  } else
    return 0;
  struct scorch_lock_wait *w = bpf_task_storage_get(&user_waits, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!w) {
    scorch_count(&counters, SCORCH_LK_NO_STORAGE);
    return 0;
  }
  if (w->active) {
    scorch_count(&counters, SCORCH_LK_NESTED); /* a futex from a signal handler: the newer one counts */
    if (f->holders)
      count_sleeper(tgid, w->addr, -1);
  }
  w->active = 1;
  w->addr = addr;
  w->kind = kind;
  w->flags = 0;
  w->khash = 0;
  w->holders = f->holders;
  w->owner = read_owner(addr, kind, tid, &w->flags);
  w->uhash = take_user_stack(ctx, &w->user, tgid);
  w->start_ns = bpf_ktime_get_ns(); /* after the walk: its cost is not the lock's */
  if (f->holders)
    count_sleeper(tgid, addr, 1);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int scorch_futex_exit(struct trace_event_raw_sys_exit *ctx)
{
  struct task_struct *task = bpf_get_current_task_btf();
  struct scorch_lock_wait *w = bpf_task_storage_get(&user_waits, task, 0, 0);
  if (!w || !w->active)
    return 0;
  w->active = 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (w->holders)
    count_sleeper(tgid, w->addr, -1);
  struct scorch_locks_filter *f = wanted(tgid);
  if (!f || !f->user) /* the session ended meanwhile */
    return 0;
  __u64 ns = bpf_ktime_get_ns() - (w->start_ns > f->since_ns ? w->start_ns : f->since_ns);
  if (ns < f->min_wait_ns) {
    scorch_count(&counters, SCORCH_LK_SHORT);
    return 0;
  }
  __u32 seq = active_generation;
  add_wait(w, tgid, ns, seq);
  if (w->owner)
    add_owner(w, tgid, ns, seq);
  if (ctx->ret == 0 && f->holders)
    add_holder(w, tgid, ns, seq); /* woken (or the lock taken), not timed out nor interrupted */
  return 0;
}

SEC("tp_btf/contention_begin")
int BPF_PROG(scorch_contention_begin, void *lock, unsigned int flags)
{
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct scorch_locks_filter *f = wanted(tgid);
  if (!f || !f->kernel) {
    __u32 any = SCORCH_PID_ANY;
    f = bpf_map_lookup_elem(&filter, &any);
    if (!f || !f->kernel)
      return 0;
  }
  struct task_struct *task = bpf_get_current_task_btf();
  struct scorch_lock_wait *w = bpf_task_storage_get(&kernel_waits, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!w) {
    scorch_count(&counters, SCORCH_LK_NO_STORAGE);
    return 0;
  }
  if (w->active) {
    scorch_count(&counters,
                 SCORCH_LK_NESTED); /* a spinlock inside a mutex's slow path: the outer one counts */
    return 0;
  }
  w->active = 1;
  w->addr = (__u64)lock;
  w->kind = SCORCH_LOCK_KERNEL;
  w->flags = flags;
  w->owner = 0;
  /* Locks inside objects have no symbol: name the two every process contends on (as perf lock
   * contention does), by comparing with the waiter's own. */
  struct mm_struct *mm = task->mm;
  if (mm && (__u64)&mm->mmap_lock == (__u64)lock)
    w->flags |= SCORCH_LOCK_F_MMAP_LOCK;
  struct sighand_struct *sighand = task->sighand;
  if (sighand && (__u64)&sighand->siglock == (__u64)lock)
    w->flags |= SCORCH_LOCK_F_SIGLOCK;
  long bytes = bpf_get_stack(ctx, w->kernel.ips, sizeof(w->kernel.ips), 0);
  if (bytes < 0)
    scorch_count(&counters, SCORCH_LK_STACK_ERROR);
  w->khash = scorch_hash_frames(w->kernel.ips, bytes);
  w->uhash = 0;
  if (scorch_current_has_user_stack() && scorch_creds_ok(task, tgid))
    w->uhash = take_user_stack(ctx, &w->user, tgid);
  w->start_ns = bpf_ktime_get_ns();
  return 0;
}

SEC("tp_btf/contention_end")
int BPF_PROG(scorch_contention_end, void *lock, int ret)
{
  struct task_struct *task = bpf_get_current_task_btf();
  struct scorch_lock_wait *w = bpf_task_storage_get(&kernel_waits, task, 0, 0);
  if (!w || !w->active || w->addr != (__u64)lock)
    return 0;
  w->active = 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct scorch_locks_filter *f = wanted(tgid);
  if (!f || !f->kernel) {
    __u32 any = SCORCH_PID_ANY;
    f = bpf_map_lookup_elem(&filter, &any);
    if (!f || !f->kernel)
      return 0;
  }
  __u64 ns = bpf_ktime_get_ns() - (w->start_ns > f->since_ns ? w->start_ns : f->since_ns);
  if (ns < f->min_wait_ns) {
    scorch_count(&counters, SCORCH_LK_SHORT);
    return 0;
  }
  add_wait(w, tgid, ns, active_generation);
  return 0;
}
