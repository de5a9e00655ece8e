/* Types shared by oncpu.bpf.c and the daemon: fixed-width only. */
#ifndef SCORCH_ONCPU_H
#define SCORCH_ONCPU_H

#ifndef SCORCH_MAX_STACK_DEPTH
#define SCORCH_MAX_STACK_DEPTH 127
#endif
#ifndef SCORCH_ONCPU_MAX_ENTRIES
#define SCORCH_ONCPU_MAX_ENTRIES 40960
#endif
#ifndef SCORCH_ONCPU_STACK_ENTRIES
#define SCORCH_ONCPU_STACK_ENTRIES 16384
#endif
#ifndef SCORCH_FILTER_MAX_ENTRIES
#define SCORCH_FILTER_MAX_ENTRIES 4096
#endif

#define SCORCH_COMM_LEN 16
/* Filter key pid meaning "every process" for one sampling period. */
#define SCORCH_PID_ANY 0xffffffffu
/* Stack id when no stack was taken (kernel thread has no user stack). */
#define SCORCH_NO_STACK (-1)

/* Which sampler wants which process: {tgid or SCORCH_PID_ANY, sampling period}. */
struct scorch_filter_key {
  __u32 tgid;
  __u32 pad;
  __u64 period_ns;
};

/* One aggregation bucket: samples of one process at one pair of stacks for one period. The user
 * stack is either a stack-map id (frame pointers) or, when unwound from tables, the hash under
 * which the stack sits in the ustacks map (user_stack_id is then SCORCH_NO_STACK). */
struct scorch_oncpu_key {
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  __u32 pad;
  __u64 period_ns;
  __u64 user_stack_hash;
};

/* ---- table-driven user stack unwinding (x86-64) ---- */

#ifndef SCORCH_UNWIND_MAX_ROWS
#define SCORCH_UNWIND_MAX_ROWS (1u << 20)
#endif
#define SCORCH_UNWIND_MAX_MAPPINGS 128
#ifndef SCORCH_USTACK_ENTRIES
#define SCORCH_USTACK_ENTRIES 8192
#endif

/* Row rules; the same values as scorch::CfaRule and scorch::RbpRule. */
enum scorch_cfa_rule {
  SCORCH_CFA_NO_INFO = 0,
  SCORCH_CFA_RSP,
  SCORCH_CFA_RBP,
  SCORCH_CFA_PLT,
  SCORCH_CFA_UNDEFINED,
  SCORCH_CFA_UNSUPPORTED,
};
enum scorch_rbp_rule {
  SCORCH_RBP_SAME = 0,
  SCORCH_RBP_OFFSET,
  SCORCH_RBP_UNDEFINED,
  SCORCH_RBP_UNSUPPORTED,
};

/* How to unwind one step from any pc in [pc, next row's pc): the layout of scorch::UnwindRow. */
struct scorch_unwind_row {
  __u32 pc_offset;
  __s32 cfa_offset;
  __u8 cfa;
  __u8 rbp;
  __s16 rbp_offset;
};

/* One executable mapping of a process and the rows of its file. */
struct scorch_unwind_mapping {
  __u64 start;
  __u64 end;
  __u64 bias;    /* ELF virtual address = runtime address - bias */
  __u64 base_pc; /* ELF virtual address of the file's first row */
  __u32 first_row;
  __u32 nrows;
};

/* A process's executable mappings, sorted by start. */
struct scorch_unwind_proc {
  __u32 count;
  __u32 pad;
  struct scorch_unwind_mapping maps[SCORCH_UNWIND_MAX_MAPPINGS];
};

struct scorch_ustack {
  __u64 ips[SCORCH_MAX_STACK_DEPTH];
};

struct scorch_oncpu_value {
  __u64 count;
  char comm[SCORCH_COMM_LEN];
};

/* Per-CPU counters the daemon reports (index into the drops array). */
enum scorch_oncpu_counter {
  SCORCH_CNT_SAMPLES = 0,     /* samples of processes someone asked for */
  SCORCH_CNT_FILTERED,        /* samples nobody asked for, dropped early */
  SCORCH_CNT_STACK_COLLISION, /* bpf_get_stackid: -EEXIST */
  SCORCH_CNT_STACK_ERROR,     /* bpf_get_stackid: other errors */
  SCORCH_CNT_MAP_FULL,        /* counts map update failed */
  SCORCH_CNT_UNWOUND,         /* user stacks unwound from tables */
  SCORCH_CNT_UNWIND_FP,       /* frames where no table applied: a frame-pointer step instead */
  SCORCH_CNT_MAX,
};

#endif
