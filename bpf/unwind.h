/* Types of table-driven user stack unwinding (x86-64), shared by every measure's BPF program and
 * the daemon: fixed-width only. The daemon owns the maps; each program reuses them. */
#ifndef SCORCH_UNWIND_H
#define SCORCH_UNWIND_H

#include "scorch.h" /* SCORCH_MAX_STACK_DEPTH */
#ifndef SCORCH_UNWIND_MAX_ROWS
#define SCORCH_UNWIND_MAX_ROWS (1u << 20)
#endif
/* Index buckets: each file gets at most one bucket per two rows (plus one), see unwind_maps.cpp. */
#define SCORCH_UNWIND_MAX_BUCKETS  (SCORCH_UNWIND_MAX_ROWS / 2 + 65536)
#define SCORCH_UNWIND_MAX_MAPPINGS 128
#define SCORCH_UNWIND_MAX_PROCS    1024
/* Files the walk counts frames of (struct scorch_unwind_file_frames); id 0: a pc in no mapping listed. */
#define SCORCH_UNWIND_MAX_FILES 1024
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
  SCORCH_CFA_SIGNAL, /* rsp = *(rsp + cfa_offset), rip = *(rsp + cfa_offset + 8), rbp = *(rsp + rbp_offset) */
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

/* One executable mapping of a process and the rows of its file. The file's index has one entry
 * per (1 << shift) bytes of code: entry b is the first row (relative to first_row) whose
 * pc_offset >= b << shift, so a lookup bisects only the few rows of one bucket. A file without a
 * table is listed too, with nrows 0, so its frames are counted under its file id. */
struct scorch_unwind_mapping {
  __u64 start;
  __u64 end;
  __u64 bias;    /* ELF virtual address = runtime address - bias */
  __u64 base_pc; /* ELF virtual address of the file's first row */
  __u32 first_row;
  __u32 nrows;
  __u32 first_bucket;
  __u32 nbuckets;
  __u32 shift;
  __u32 file_id; /* index into unwind_file_frames */
};

/* A process's executable mappings, sorted by start. */
struct scorch_unwind_proc {
  __u32 count;
  __u32 gen; /* changes whenever the daemon installs mappings: cached rows of older ones are void */
  struct scorch_unwind_mapping maps[SCORCH_UNWIND_MAX_MAPPINGS];
};

struct scorch_ustack {
  __u64 ips[SCORCH_MAX_STACK_DEPTH];
};

/* Per-CPU counters of the unwinder (index into unwind_counters), summed over every program. */
enum scorch_unwind_counter {
  SCORCH_UNW_STACKS = 0, /* user stacks unwound from tables */
  SCORCH_UNW_FRAMES,     /* frames recorded by table walks (how each was got past: per file, below) */
  SCORCH_UNW_MAX,
};

/* How the frames of one file were unwound, summed over CPUs by the daemon: each frame of a table
 * walk is counted once, by how the walk got past it. */
enum scorch_unwind_how {
  SCORCH_UNW_BY_TABLE = 0, /* a row of its table (or the table says the stack ends there) */
  SCORCH_UNW_BY_FP,        /* no row applied: a frame-pointer step */
  SCORCH_UNW_LOST,         /* the walk stopped there before the stack's outermost frame */
  SCORCH_UNW_HOW_MAX,
};

struct scorch_unwind_file_frames {
  __u64 frames[SCORCH_UNW_HOW_MAX];
};

#endif
