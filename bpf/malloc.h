/* Types shared by malloc.bpf.c and the daemon: fixed-width only. */
#ifndef SCORCH_MALLOC_H
#define SCORCH_MALLOC_H

#include "scorch.h"
#include "unwind.h"

#ifndef SCORCH_MALLOC_COUNT_ENTRIES
#define SCORCH_MALLOC_COUNT_ENTRIES 16384
#endif
#ifndef SCORCH_MALLOC_LIVE_ENTRIES
#define SCORCH_MALLOC_LIVE_ENTRIES 262144
#endif
#ifndef SCORCH_MALLOC_STACK_ENTRIES
#define SCORCH_MALLOC_STACK_ENTRIES 16384
#endif
#define SCORCH_MALLOC_SLOTS     64
#define SCORCH_MALLOC_EXP_TABLE 1024

/* Which allocator function a probe sits on, and so where its size and result are. */
enum scorch_alloc_kind {
  SCORCH_ALLOC_MALLOC = 0,     /* malloc(size) */
  SCORCH_ALLOC_CALLOC,         /* calloc(n, size) */
  SCORCH_ALLOC_REALLOC,        /* realloc(ptr, size) */
  SCORCH_ALLOC_REALLOCARRAY,   /* reallocarray(ptr, n, size) */
  SCORCH_ALLOC_POSIX_MEMALIGN, /* posix_memalign(&ptr, align, size): the result through memptr */
  SCORCH_ALLOC_MEMALIGN,       /* memalign(align, size), aligned_alloc(align, size) */
  SCORCH_ALLOC_VALLOC,         /* valloc(size), pvalloc(size) */
  SCORCH_ALLOC_FREE,           /* free(ptr) */
  SCORCH_ALLOC_KIND_MAX,
};

/* The attach cookie of every probe: who it is for and what it sits on.
 *   bits  0..3  enum scorch_alloc_kind
 *   bit   4     SCORCH_COOKIE_RET: this function also has a return probe (depth is counted)
 *   bits  8..15 distance in 8-byte words from the stack pointer at the probe to the return
 *               address (pushes the probe sits after)
 *   bits 16..21 slot: index into the program's slots[] (the session's settings)
 *   bits 32..63 tgid */
#define SCORCH_COOKIE_RET (1u << 4)
static inline __u64 scorch_malloc_cookie(__u32 tgid, __u32 slot, __u32 kind, __u32 flags, __u32 sp_words)
{
  return ((__u64)tgid << 32) | ((__u64)(slot & 63) << 16) | ((__u64)(sp_words & 255) << 8) | (flags & 0xf0) |
         (kind & 15);
}

/* Modes of a slot. */
#define SCORCH_MALLOC_OUTSTANDING 1u /* return probes track live blocks; free removes them */
#define SCORCH_MALLOC_SAMPLED     2u /* --sample-bytes: only threshold crossings are recorded */
#define SCORCH_MALLOC_GATED       4u /* --duty: events count only while gate is open */

/* One traced process's settings, in .bss (slots[]). */
struct scorch_malloc_slot {
  __u32 tgid;
  __u32 mode;
  __u64 sample_bytes; /* mean bytes between samples */
  __u32 gate;         /* GATED: 1 while a window is open */
  __u32 pad;
};

/* One aggregation bucket: allocations of one process at one user stack (the allocator function
 * is the leaf frame). In sampled mode calls/bytes are the sampled allocations and est_* the
 * unbiased estimates; otherwise est_* stay 0. */
struct scorch_malloc_key {
  __u32 tgid;
  __u32 pad;
  __u64 stack_hash; /* key of the stacks map; 0: no stack */
};
struct scorch_malloc_value {
  __u64 calls;
  __u64 bytes;
  __u64 est_calls_q16; /* estimated calls << 16 */
  __u64 est_bytes;
};

/* A live block (outstanding mode). */
struct scorch_live_key {
  __u32 tgid;
  __u32 pad;
  __u64 addr;
};
struct scorch_live_value {
  __u64 size;
  __u64 stack_hash;
  __u64 ts_ns; /* bpf_ktime_get_ns at allocation */
};

/* Per-thread state (task storage). */
struct scorch_malloc_thread {
  __s64 remaining;  /* sampled mode: bytes until the next sample */
  __u32 depth;      /* allocator calls in progress that have return probes */
  __u32 pending;    /* 1: the outermost call's entry was recorded, its return is awaited */
  __u64 outer_slot; /* address of the outermost call's return address on the stack */
  __u64 size;       /* pending call: requested bytes */
  __u64 stack_hash; /* pending call: its stack */
  __u64 arg_ptr;    /* pending call: realloc's old block, posix_memalign's memptr */
  __u32 kind;       /* pending call's kind */
  __u32 seeded;     /* sampled mode: remaining holds a drawn threshold */
  __u32 window;     /* duty mode: the last window this thread was counted in */
  __u32 pad;
};

/* Per-CPU counters (index into counters). */
enum scorch_malloc_counter {
  SCORCH_M_CALLS = 0,     /* allocator calls of traced processes seen (entries, not nested) */
  SCORCH_M_FREES,         /* free calls seen (outstanding mode) */
  SCORCH_M_NESTED,        /* calls made by the allocator itself inside another call: not counted */
  SCORCH_M_SAMPLED,       /* sampled mode: calls that crossed a threshold */
  SCORCH_M_OTHER_PROCESS, /* a probe hit in a process it was not meant for (a fork's child) */
  SCORCH_M_MAP_FULL,      /* counts map full: a call not counted */
  SCORCH_M_LIVE_FULL,     /* live map full: a block not tracked */
  SCORCH_M_STACK_LOST,    /* stacks map full: a stack not stored */
  SCORCH_M_NO_STORAGE,    /* no per-thread storage: the call not tracked */
  SCORCH_M_FREE_UNKNOWN,  /* free of a block allocated before tracing began (or untracked) */
  SCORCH_M_WALKS,         /* user stacks walked */
  SCORCH_M_MEMO_HITS,     /* user stacks found unchanged since the same site's last walk */
  SCORCH_M_MAX,
};

#endif
