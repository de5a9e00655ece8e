// SPDX-License-Identifier: GPL-2.0
/* On-CPU sampling: a perf_event (cpu-clock) program counting samples per process and stack pair. */
#include "scorch.bpf.h"
#include "oncpu.h"

char LICENSE[] SEC("license") = "GPL";

/* The daemon drains one generation while the program fills the other (see OnCpuProbe::drain). */
volatile __u32 active_generation = 0;

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

/* Unwind rows of every file loaded, appended by the daemon; tables never move. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SCORCH_UNWIND_MAX_ROWS);
  __type(key, __u32);
  __type(value, struct scorch_unwind_row);
} unwind_rows SEC(".maps");

/* Processes whose user stacks are unwound from tables. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct scorch_unwind_proc);
} unwind_procs SEC(".maps");

struct ustack_map {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_USTACK_ENTRIES);
  __type(key, __u64);
  __type(value, struct scorch_ustack);
};
struct ustack_map ustacks0 SEC(".maps"), ustacks1 SEC(".maps");

/* The stack being unwound on this CPU. */
struct scorch_walk {
  __u64 ip, sp, bp;
  __u64 hash;   /* FNV-1a over the frames so far */
  __u32 n;
  __u32 adjust; /* look up ip - 1: ip is a return address */
  struct scorch_ustack stack;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scorch_walk);
} unwind_scratch SEC(".maps");

static __always_inline int wanted(__u32 tgid, __u64 period)
{
  struct scorch_filter_key fk = {.tgid = tgid, .period_ns = period};
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

struct scorch_walk_ctx {
  struct scorch_walk *st;
  struct scorch_unwind_proc *proc;
};

/* The mapping that holds pc, by binary search over the sorted mappings. */
static __always_inline const struct scorch_unwind_mapping *find_mapping(struct scorch_unwind_proc *proc, __u64 pc)
{
  __u32 lo = 0, hi = proc->count;
  if (hi > SCORCH_UNWIND_MAX_MAPPINGS)
    hi = SCORCH_UNWIND_MAX_MAPPINGS;
  for (int i = 0; i < 8 && lo < hi; i++) {
    __u32 mid = (lo + hi) / 2;
    if (mid >= SCORCH_UNWIND_MAX_MAPPINGS)
      return NULL;
    if (proc->maps[mid].start <= pc)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || lo > SCORCH_UNWIND_MAX_MAPPINGS)
    return NULL;
  const struct scorch_unwind_mapping *m = &proc->maps[lo - 1];
  return pc < m->end ? m : NULL;
}

struct row_search {
  __u32 lo, hi;
  __u64 off;
};

/* One bisection step; in its own callback so the verifier checks it once, not per iteration. */
static long row_search_step(__u32 index, void *arg)
{
  struct row_search *rs = arg;
  if (rs->lo >= rs->hi)
    return 1;
  __u32 mid = rs->lo + (rs->hi - rs->lo) / 2;
  const struct scorch_unwind_row *row = bpf_map_lookup_elem(&unwind_rows, &mid);
  if (!row)
    return 1;
  if (row->pc_offset <= rs->off)
    rs->lo = mid + 1;
  else
    rs->hi = mid;
  return 0;
}

/* The last row whose pc is <= elf_pc, by binary search in the mapping's rows. */
static __always_inline const struct scorch_unwind_row *find_row(const struct scorch_unwind_mapping *m, __u64 elf_pc)
{
  if (elf_pc < m->base_pc || m->nrows == 0)
    return NULL;
  struct row_search rs = {.lo = m->first_row, .hi = m->first_row + m->nrows, .off = elf_pc - m->base_pc};
  __u32 first = m->first_row;
  bpf_loop(32, row_search_step, &rs, 0);
  if (rs.lo <= first)
    return NULL;
  __u32 idx = rs.lo - 1;
  return bpf_map_lookup_elem(&unwind_rows, &idx);
}

/* One frame: record ip, then find the caller's ip, sp and bp. Returns 1 to stop. */
static long unwind_step(__u32 index, void *arg)
{
  struct scorch_walk_ctx *uc = arg;
  struct scorch_walk *st = uc->st;
  __u32 n = st->n;
  if (n >= SCORCH_MAX_STACK_DEPTH || st->ip == 0)
    return 1;
  st->stack.ips[n] = st->ip;
  st->n = n + 1;
  st->hash = (st->hash ^ st->ip) * 1099511628211ull;

  __u64 pc = st->adjust ? st->ip - 1 : st->ip;
  st->adjust = 1;
  const struct scorch_unwind_mapping *m = find_mapping(uc->proc, pc);
  const struct scorch_unwind_row *row = m ? find_row(m, pc - m->bias) : NULL;
  __u64 cfa, ra = 0;

  if (!row || row->cfa == SCORCH_CFA_NO_INFO || row->cfa == SCORCH_CFA_UNSUPPORTED) {
    /* No table here (JIT, a file without CFI): one frame-pointer step. */
    scorch_count(&counters, SCORCH_CNT_UNWIND_FP);
    __u64 saved_bp = 0;
    if (st->bp == 0 || bpf_probe_read_user(&saved_bp, sizeof(saved_bp), (void *)st->bp) ||
        bpf_probe_read_user(&ra, sizeof(ra), (void *)(st->bp + 8)))
      return 1;
    st->sp = st->bp + 16;
    st->bp = saved_bp;
    st->ip = ra;
    return ra == 0;
  }
  if (row->cfa == SCORCH_CFA_UNDEFINED)
    return 1; /* the outermost frame */
  if (row->cfa == SCORCH_CFA_RSP)
    cfa = st->sp + row->cfa_offset;
  else if (row->cfa == SCORCH_CFA_RBP)
    cfa = st->bp + row->cfa_offset;
  else /* PLT: rsp + 8, plus 8 once the stub has pushed */
    cfa = st->sp + 8 + (((st->ip & 15) >= (__u64)row->cfa_offset) ? 8 : 0);

  if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
    return 1;
  if (row->rbp == SCORCH_RBP_OFFSET) {
    __u64 saved_bp = 0;
    if (!bpf_probe_read_user(&saved_bp, sizeof(saved_bp), (void *)(cfa + row->rbp_offset)))
      st->bp = saved_bp;
  }
  st->sp = cfa;
  st->ip = ra;
  return ra == 0;
}

/* A user stack unwound from the process's tables, stored under its hash; 0 when the process has
 * no tables (the caller then walks frame pointers) or the walk failed at once. */
static __noinline __u64 unwind_user_stack(struct bpf_perf_event_data *ctx, __u32 tgid, __u32 generation,
                                         int in_kernel)
{
  struct scorch_unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
  if (!proc)
    return 0;
  __u32 zero = 0;
  struct scorch_walk *st = bpf_map_lookup_elem(&unwind_scratch, &zero);
  if (!st)
    return 0;

  if (in_kernel) {
    /* The user registers saved when the thread entered the kernel. */
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    if (!regs)
      return 0;
    st->ip = BPF_CORE_READ(regs, ip);
    st->sp = BPF_CORE_READ(regs, sp);
    st->bp = BPF_CORE_READ(regs, bp);
    st->adjust = 1;
  } else {
    st->ip = *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, ip));
    st->sp = *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, sp));
    st->bp = *(volatile __u64 *)((char *)&ctx->regs + __builtin_offsetof(struct pt_regs, bp));
    st->adjust = 0;
  }
  st->n = 0;
  st->hash = 14695981039346656037ull;
  struct scorch_walk_ctx uc = {.st = st, .proc = proc};
  bpf_loop(SCORCH_MAX_STACK_DEPTH, unwind_step, &uc, 0);

  __u32 n = st->n;
  if (n == 0)
    return 0;
  if (n < SCORCH_MAX_STACK_DEPTH)
    st->stack.ips[n] = 0; /* the end; what lies beyond is never read */
  __u64 hash = st->hash ? st->hash : 1;
  if (generation & 1)
    bpf_map_update_elem(&ustacks1, &hash, &st->stack, BPF_ANY);
  else
    bpf_map_update_elem(&ustacks0, &hash, &st->stack, BPF_ANY);
  scorch_count(&counters, SCORCH_CNT_UNWOUND);
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
                                   int has_user_stack, __u64 user_stack_hash, __u32 tgid, __u64 period)
{
  struct scorch_oncpu_key key = {.tgid = tgid, .period_ns = period, .user_stack_hash = user_stack_hash};
  key.kernel_stack_id = in_kernel ? stack_id(ctx, stacks, 0) : SCORCH_NO_STACK;
  key.user_stack_id = SCORCH_NO_STACK;
  if (has_user_stack && user_stack_hash == 0)
    key.user_stack_id = stack_id(ctx, stacks, BPF_F_USER_STACK);

  struct scorch_oncpu_value *val = bpf_map_lookup_elem(counts, &key);
  if (val) {
    __sync_fetch_and_add(&val->count, 1);
    return;
  }
  struct scorch_oncpu_value init = {.count = 1};
  bpf_get_current_comm(init.comm, sizeof(init.comm));
  long err = bpf_map_update_elem(counts, &key, &init, BPF_NOEXIST);
  if (err == -EEXIST) {
    /* Another CPU inserted the same key between our lookup and update. */
    val = bpf_map_lookup_elem(counts, &key);
    if (val)
      __sync_fetch_and_add(&val->count, 1);
  } else if (err) {
    scorch_count(&counters, SCORCH_CNT_MAP_FULL);
  }
}

SEC("perf_event")
int scorch_oncpu(struct bpf_perf_event_data *ctx)
{
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u64 period = ctx->sample_period;

  /* The idle task (pid 0) is left out, as BCC's profile does by default: nobody asked for it and
   * its kernel stack walk is the most expensive one. */
  if (tgid == 0 || !wanted(tgid, period)) {
    scorch_count(&counters, SCORCH_CNT_FILTERED);
    return 0;
  }
  scorch_count(&counters, SCORCH_CNT_SAMPLES);
  __u32 generation = active_generation & 1;
  int in_kernel = sampled_in_kernel(ctx);
  int has_user_stack = scorch_current_has_user_stack();
  /* Unwound once, outside the per-generation copies, so the verifier checks the walk once. */
  __u64 user_stack_hash = has_user_stack ? unwind_user_stack(ctx, tgid, generation, in_kernel) : 0;
  if (generation)
    record(ctx, &counts1, &stacks1, in_kernel, has_user_stack, user_stack_hash, tgid, period);
  else
    record(ctx, &counts0, &stacks0, in_kernel, has_user_stack, user_stack_hash, tgid, period);
  return 0;
}
