/* Table-driven user stack unwinding (x86-64), included by every program that takes user stacks.
 *
 * The daemon creates the row, index, process and counter maps once (UnwindMaps) and every BPF
 * object reuses them, so a table built for one measure serves all. Each object has its own scratch
 * map. A walk: the caller fills the start registers with scorch_unwind_start_*, calls
 * scorch_unwind_walk (one verified subprogram), then stores st->stack under st->hash. */
#ifndef SCORCH_UNWIND_BPF_H
#define SCORCH_UNWIND_BPF_H

#include "scorch.bpf.h"
#include "unwind.h"

/* Unwind rows of every file loaded, appended by the daemon. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SCORCH_UNWIND_MAX_ROWS);
  __type(key, __u32);
  __type(value, struct scorch_unwind_row);
} unwind_rows SEC(".maps");

/* Per-file bucket index into the rows (see struct scorch_unwind_mapping). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SCORCH_UNWIND_MAX_BUCKETS);
  __type(key, __u32);
  __type(value, __u32);
} unwind_index SEC(".maps");

/* Processes whose user stacks are unwound from tables. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_UNWIND_MAX_PROCS);
  __type(key, __u32);
  __type(value, struct scorch_unwind_proc);
} unwind_procs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_UNW_MAX);
  __type(key, __u32);
  __type(value, __u64);
} unwind_counters SEC(".maps");

/* How each file's frames were unwound, by the file id of its mappings (scorch_unwind_mapping). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCORCH_UNWIND_MAX_FILES);
  __type(key, __u32);
  __type(value, struct scorch_unwind_file_frames);
} unwind_file_frames SEC(".maps");

#define SCORCH_STACK_WINDOW 512
#define SCORCH_WALK_LOG     16  /* stack words a memoizable walk may read */
#define SCORCH_ROW_CACHE    256 /* per CPU, direct-mapped by pc */

/* A row found for a pc of a process, so the next sample at the same pc needs no search. */
struct scorch_row_cache_entry {
  __u64 pc;
  __u32 tgid;
  __u32 gen;
  struct scorch_unwind_row row;
  __u16 valid;
  __u16 file_id;
};

/* The stack being unwound on this CPU. */
struct scorch_walk {
  __u64 ip, sp, bp;
  __u64 hash; /* FNV-1a over the frames so far */
  __u32 n;
  __u32 adjust;    /* look up ip - 1: ip is a return address */
  __u32 tgid, gen; /* the process being walked and its mappings' generation */
  __u64 last_hash; /* the stack this CPU stored last, and under which drain sequence: a hot loop */
  __u32 last_seq;  /* samples the same stack again and again, and need not look it up each time */
  __u32 last_pad;
  __u64 win_base; /* user address of win[0]; 0: the window is empty */
  /* With log_on, the stack words the walk read (a caller that memoizes walks checks them). */
  __u32 log_on;
  __u32 log_n;
  __u32 bp_regs; /* bp still holds the start registers' value */
  __u32 bp_used; /* the walk used that value (an rbp-based CFA or a frame-pointer step) */
  /* Frames counted for run_file and not yet added to unwind_file_frames: consecutive frames are
   * mostly in one file, so a walk touches that map once per run, not once per frame. */
  __u32 run_file;
  __u32 run[SCORCH_UNW_HOW_MAX];
  __u64 log_addr[SCORCH_WALK_LOG];
  __u64 log_val[SCORCH_WALK_LOG];
  struct scorch_ustack stack;
  /* A copy of the stack around the frames being unwound: one bpf_probe_read_user (about 85 ns
   * here, most of a frame's cost) serves the reads of many frames. */
  __u8 win[SCORCH_STACK_WINDOW];
  struct scorch_row_cache_entry cache[SCORCH_ROW_CACHE];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scorch_walk);
} unwind_scratch SEC(".maps");

static __always_inline struct scorch_walk *scorch_walk_state(void)
{
  __u32 zero = 0;
  return bpf_map_lookup_elem(&unwind_scratch, &zero);
}

/* Reads the 8 bytes of user stack at addr, from the window when it holds them; otherwise the
 * window is refilled from addr upwards (the walk goes up the stack). Returns 0 on success. */
static __always_inline int scorch_read_stack(struct scorch_walk *st, __u64 addr, __u64 *out)
{
  __u64 off = addr - st->win_base;
  if (st->win_base == 0 || addr < st->win_base || off > SCORCH_STACK_WINDOW - 8) {
    if (bpf_probe_read_user(st->win, SCORCH_STACK_WINDOW, (void *)addr)) {
      /* The window would cross the end of the stack's mapping: read just these bytes. */
      st->win_base = 0;
      if (st->log_on)
        st->log_n = SCORCH_WALK_LOG + 1; /* a read outside any window: not memoizable */
      return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
    }
    st->win_base = addr;
    off = 0;
  }
  if (off > SCORCH_STACK_WINDOW - 8)
    return -1;
  *out = *(__u64 *)(st->win + off);
  if (st->log_on) {
    __u32 n = st->log_n;
    if (n < SCORCH_WALK_LOG) {
      st->log_addr[n] = addr;
      st->log_val[n] = *out;
    }
    st->log_n = n + 1;
  }
  return 0;
}

/* Start from registers the caller read where user mode stopped exactly (a sample or a probe hit
 * in user mode): the ip itself is looked up. */
static __always_inline void scorch_unwind_start_exact(struct scorch_walk *st, __u64 ip, __u64 sp, __u64 bp)
{
  st->ip = ip;
  st->sp = sp;
  st->bp = bp;
  st->adjust = 0;
}

/* Start from the user registers the kernel saved when task (current) entered it. After a syscall
 * the ip follows the `syscall` instruction, and is looked up one byte earlier like a return
 * address; after an interrupt or fault it is the exact instruction. Returns 0 without regs. */
static __always_inline int scorch_unwind_start_task(struct scorch_walk *st, struct task_struct *task)
{
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  if (!regs)
    return 0;
  st->ip = BPF_CORE_READ(regs, ip);
  st->sp = BPF_CORE_READ(regs, sp);
  st->bp = BPF_CORE_READ(regs, bp);
  __u16 insn = 0;
  /* 0f 05 is `syscall`; unreadable code counts as a syscall, the common case. */
  st->adjust = bpf_probe_read_user(&insn, sizeof(insn), (void *)(st->ip - 2)) || insn == 0x050f;
  return 1;
}

/* Adds the current run of frames to its file's counters. */
static __always_inline void scorch_flush_run(struct scorch_walk *st)
{
  __u32 file = st->run_file;
  struct scorch_unwind_file_frames *ff = bpf_map_lookup_elem(&unwind_file_frames, &file);
  if (ff) {
    ff->frames[SCORCH_UNW_BY_TABLE] += st->run[SCORCH_UNW_BY_TABLE];
    ff->frames[SCORCH_UNW_BY_FP] += st->run[SCORCH_UNW_BY_FP];
    ff->frames[SCORCH_UNW_LOST] += st->run[SCORCH_UNW_LOST];
  }
  st->run[SCORCH_UNW_BY_TABLE] = 0;
  st->run[SCORCH_UNW_BY_FP] = 0;
  st->run[SCORCH_UNW_LOST] = 0;
}

/* Counts one frame of file, unwound as how says (a constant). */
static __always_inline void scorch_count_frame(struct scorch_walk *st, __u32 file, enum scorch_unwind_how how)
{
  if (file != st->run_file) {
    if (st->run[SCORCH_UNW_BY_TABLE] | st->run[SCORCH_UNW_BY_FP] | st->run[SCORCH_UNW_LOST])
      scorch_flush_run(st);
    st->run_file = file;
  }
  st->run[how] += 1;
}

struct scorch_walk_ctx {
  struct scorch_walk *st;
  struct scorch_unwind_proc *proc;
  __u32 last_map; /* the mapping of the previous frame: the next one is often in it too */
};

struct scorch_map_search {
  struct scorch_unwind_proc *proc;
  __u64 pc;
  __u32 lo, hi; /* the answer is the last mapping in [0, lo) with start <= pc */
};

/* One bisection step over a process's mappings; a callback, so the verifier checks it once. */
static long scorch_map_search_step(__u32 index, void *arg)
{
  struct scorch_map_search *ms = arg;
  if (ms->lo >= ms->hi)
    return 1;
  __u32 mid = ms->lo + (ms->hi - ms->lo) / 2;
  if (mid >= SCORCH_UNWIND_MAX_MAPPINGS)
    return 1;
  if (ms->proc->maps[mid].start <= ms->pc)
    ms->lo = mid + 1;
  else
    ms->hi = mid;
  return 0;
}

/* The mapping that holds pc: the previous frame's, else a binary search over the sorted mappings. */
static __always_inline const struct scorch_unwind_mapping *scorch_find_mapping(struct scorch_walk_ctx *uc,
                                                                               __u64 pc)
{
  struct scorch_unwind_proc *proc = uc->proc;
  __u32 last = uc->last_map;
  if (last < SCORCH_UNWIND_MAX_MAPPINGS) {
    last &= SCORCH_UNWIND_MAX_MAPPINGS - 1;
    if (proc->maps[last].start <= pc && pc < proc->maps[last].end)
      return &proc->maps[last];
  }
  struct scorch_map_search ms = {.proc = proc, .pc = pc, .lo = 0, .hi = proc->count};
  bpf_loop(8, scorch_map_search_step, &ms, 0);
  if (ms.lo == 0 || ms.lo > SCORCH_UNWIND_MAX_MAPPINGS)
    return NULL;
  __u32 found = (ms.lo - 1) & (SCORCH_UNWIND_MAX_MAPPINGS - 1); /* a bound the verifier can see */
  const struct scorch_unwind_mapping *m = &proc->maps[found];
  if (pc >= m->end)
    return NULL;
  uc->last_map = found;
  return m;
}

struct scorch_row_search {
  __u32 lo, hi; /* absolute row indices: the answer is the last row in [lo - 1, hi) with pc <= off */
  __u64 off;
};

/* One bisection step, for buckets too large for the inline steps; in its own callback so the
 * verifier checks it once. */
static long scorch_row_search_step(__u32 index, void *arg)
{
  struct scorch_row_search *rs = arg;
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

#define SCORCH_INLINE_STEPS 5 /* buckets of up to 32 rows are bisected without bpf_loop */

/* The last row whose pc is <= elf_pc: the bucket index narrows the search to a few rows. */
static __always_inline const struct scorch_unwind_row *scorch_find_row(const struct scorch_unwind_mapping *m,
                                                                       __u64 elf_pc)
{
  if (elf_pc < m->base_pc || m->nrows == 0 || m->nbuckets == 0)
    return NULL;
  __u64 off = elf_pc - m->base_pc;
  __u64 b = off >> (m->shift & 63);
  if (b >= m->nbuckets)
    b = m->nbuckets - 1;
  __u32 key = m->first_bucket + (__u32)b;
  __u32 *lo_p = bpf_map_lookup_elem(&unwind_index, &key);
  if (!lo_p)
    return NULL;
  __u32 lo = *lo_p, hi = m->nrows;
  if (b + 1 < m->nbuckets) {
    key++;
    __u32 *hi_p = bpf_map_lookup_elem(&unwind_index, &key);
    if (!hi_p)
      return NULL;
    hi = *hi_p;
  }
  if (hi > m->nrows || lo > hi)
    return NULL;
  /* Row lo - 1 starts before the bucket, so it is the answer unless a later row also fits;
   * row 0 starts at offset 0. Search (lo - 1, hi) for the first row past off. */
  struct scorch_row_search rs = {.lo = m->first_row + (lo ? lo : 1), .hi = m->first_row + hi, .off = off};
  if (rs.hi - rs.lo > (1u << SCORCH_INLINE_STEPS) - 1 || rs.lo > rs.hi) {
    bpf_loop(32, scorch_row_search_step, &rs, 0);
  } else {
    for (int i = 0; i < SCORCH_INLINE_STEPS; i++) {
      if (rs.lo >= rs.hi)
        break;
      __u32 mid = rs.lo + (rs.hi - rs.lo) / 2;
      const struct scorch_unwind_row *row = bpf_map_lookup_elem(&unwind_rows, &mid);
      if (!row)
        return NULL;
      if (row->pc_offset <= off)
        rs.lo = mid + 1;
      else
        rs.hi = mid;
    }
  }
  __u32 idx = rs.lo - 1;
  return bpf_map_lookup_elem(&unwind_rows, &idx);
}

/* One frame: record ip, then find the caller's ip, sp and bp. Returns 1 to stop. */
static long scorch_unwind_step(__u32 index, void *arg)
{
  struct scorch_walk_ctx *uc = arg;
  struct scorch_walk *st = uc->st;
  __u32 n = st->n;
  if (n >= SCORCH_MAX_STACK_DEPTH || st->ip == 0)
    return 1;
  st->stack.ips[n] = st->ip;
  st->n = n + 1;
  st->hash = scorch_hash_step(st->hash, st->ip);

  __u64 pc = st->adjust ? st->ip - 1 : st->ip;
  st->adjust = 1;
  /* The row cache first: samples keep landing on the same few hundred pcs. */
  struct scorch_row_cache_entry *ce = &st->cache[(pc ^ (pc >> 8)) & (SCORCH_ROW_CACHE - 1)];
  const struct scorch_unwind_row *row = NULL;
  __u32 file = 0;
  if (ce->valid && ce->pc == pc && ce->tgid == st->tgid && ce->gen == st->gen) {
    row = &ce->row;
    file = ce->file_id;
  } else {
    const struct scorch_unwind_mapping *m = scorch_find_mapping(uc, pc);
    if (m) {
      file = m->file_id;
      row = scorch_find_row(m, pc - m->bias);
    }
    if (row) {
      ce->row = *row;
      ce->pc = pc;
      ce->tgid = st->tgid;
      ce->gen = st->gen;
      ce->valid = 1;
      ce->file_id = (__u16)file;
    }
  }
  __u64 cfa, ra = 0;

  if (!row || row->cfa == SCORCH_CFA_NO_INFO || row->cfa == SCORCH_CFA_UNSUPPORTED) {
    /* No table here (JIT, a file without CFI): one frame-pointer step. A chain that ends here
     * (rbp 0, an unreadable frame, a zero return address) ends before the outermost frame: lost. */
    __u64 saved_bp = 0;
    st->bp_used |= st->bp_regs;
    st->bp_regs = 0;
    if (st->bp == 0 || scorch_read_stack(st, st->bp, &saved_bp) || scorch_read_stack(st, st->bp + 8, &ra) ||
        ra == 0) {
      scorch_count_frame(st, file, SCORCH_UNW_LOST);
      return 1;
    }
    scorch_count_frame(st, file, SCORCH_UNW_BY_FP);
    st->sp = st->bp + 16;
    st->bp = saved_bp;
    st->ip = ra;
    return 0;
  }
  if (row->cfa == SCORCH_CFA_UNDEFINED) {
    scorch_count_frame(st, file, SCORCH_UNW_BY_TABLE);
    st->ip = 0; /* the outermost frame: nothing lies beyond */
    return 1;
  }
  if (row->cfa == SCORCH_CFA_SIGNAL) {
    /* The kernel's signal frame (ip is __restore_rt): the interrupted registers are saved at sp,
     * rbp first (lowest), then rsp and rip. The interrupted ip is exact: no return address. */
    __u64 regs = st->sp, saved_sp = 0;
    if (row->rbp == SCORCH_RBP_OFFSET) {
      __u64 saved_bp = 0;
      if (!scorch_read_stack(st, regs + row->rbp_offset, &saved_bp)) {
        st->bp = saved_bp;
        st->bp_regs = 0;
      }
    }
    if (scorch_read_stack(st, regs + row->cfa_offset, &saved_sp) ||
        scorch_read_stack(st, regs + row->cfa_offset + 8, &ra)) {
      scorch_count_frame(st, file, SCORCH_UNW_LOST);
      return 1;
    }
    scorch_count_frame(st, file, SCORCH_UNW_BY_TABLE);
    st->sp = saved_sp;
    st->ip = ra;
    st->adjust = 0;
    return ra == 0;
  }
  if (row->cfa == SCORCH_CFA_RSP)
    cfa = st->sp + row->cfa_offset;
  else if (row->cfa == SCORCH_CFA_RBP) {
    cfa = st->bp + row->cfa_offset;
    st->bp_used |= st->bp_regs;
  } else /* PLT: rsp + 8, plus 8 once the stub has pushed */
    cfa = st->sp + 8 + (((st->ip & 15) >= (__u64)row->cfa_offset) ? 8 : 0);

  if (row->rbp == SCORCH_RBP_OFFSET) {
    /* rbp is saved below the return address: read it first, so the window starts low enough. */
    __u64 saved_bp = 0;
    if (!scorch_read_stack(st, cfa + row->rbp_offset, &saved_bp)) {
      st->bp = saved_bp;
      st->bp_regs = 0;
    }
  }
  if (scorch_read_stack(st, cfa - 8, &ra)) {
    scorch_count_frame(st, file, SCORCH_UNW_LOST);
    return 1;
  }
  scorch_count_frame(st, file, SCORCH_UNW_BY_TABLE); /* a zero return address ends a stack on purpose */
  st->sp = cfa;
  st->ip = ra;
  return ra == 0;
}

/* Walks the user stack of tgid from st's start registers into st->stack. Returns the number of
 * frames, or 0 when the process has no tables (the caller then walks frame pointers). A global
 * function, so the verifier checks the walk once, apart from its callers' states (as a static
 * subprogram it was checked in each of them, and the malloc program passed the verifier's limit of
 * a million instructions on kernel 6.18.44). */
__noinline __u32 scorch_unwind_walk(__u32 tgid)
{
  struct scorch_unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
  if (!proc)
    return 0;
  struct scorch_walk *st = scorch_walk_state();
  if (!st)
    return 0;
  st->n = 0;
  st->tgid = tgid;
  st->gen = proc->gen;
  st->win_base = 0;
  st->hash = SCORCH_FNV_OFFSET;
  st->run_file = 0;
  st->run[SCORCH_UNW_BY_TABLE] = 0;
  st->run[SCORCH_UNW_BY_FP] = 0;
  st->run[SCORCH_UNW_LOST] = 0;
  struct scorch_walk_ctx uc = {.st = st, .proc = proc, .last_map = SCORCH_UNWIND_MAX_MAPPINGS};
  bpf_loop(SCORCH_MAX_STACK_DEPTH, scorch_unwind_step, &uc, 0);
  __u32 n = st->n;
  if (n >= SCORCH_MAX_STACK_DEPTH && st->ip != 0)
    st->run[SCORCH_UNW_LOST] += 1; /* cut at the depth limit: what lies beyond is lost */
  scorch_flush_run(st);
  if (n == 0)
    return 0;
  if (n < SCORCH_MAX_STACK_DEPTH)
    st->stack.ips[n] = 0; /* the end; what lies beyond is never read */
  if (st->hash == 0)
    st->hash = 1;
  scorch_count(&unwind_counters, SCORCH_UNW_STACKS);
  __u32 idx = SCORCH_UNW_FRAMES;
  __u64 *frames = bpf_map_lookup_elem(&unwind_counters, &idx);
  if (frames)
    *frames += n;
  return n;
}

#endif
