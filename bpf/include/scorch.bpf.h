/* Helpers shared by scorch's BPF programs. */
#ifndef SCORCH_BPF_H
#define SCORCH_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "scorch.h"

#ifndef EEXIST
#define EEXIST 17
#endif

/* i masked to below n (a power of two) in a way clang cannot drop: the verifier needs the bound
 * on the very register that indexes, and clang would otherwise index with an unchecked copy. */
#define SCORCH_BOUND(i, n)                                                                                   \
  ({                                                                                                         \
    __u32 __b = (i);                                                                                         \
    asm volatile("" : "+r"(__b));                                                                            \
    __b &((n)-1);                                                                                            \
  })

/* Bump one per-CPU counter; the daemon sums the CPUs. */
static __always_inline void scorch_count(void *counters, __u32 index)
{
  __u64 *slot = bpf_map_lookup_elem(counters, &index);
  if (slot)
    *slot += 1;
}

/* One FNV-1a step: hash with word mixed in (start from SCORCH_FNV_OFFSET). */
static __always_inline __u64 scorch_hash_step(__u64 hash, __u64 word)
{
  return (hash ^ word) * SCORCH_FNV_PRIME;
}

struct scorch_hash_ctx {
  __u64 *ips;
  __u32 n;
  __u64 hash;
};

static long scorch_hash_loop_step(__u32 i, void *arg)
{
  struct scorch_hash_ctx *hc = arg;
  __u32 k = i;
  if (k >= hc->n || k >= SCORCH_MAX_STACK_DEPTH)
    return 1;
  asm volatile("" : "+r"(k)); /* keep the bounded copy: clang would index with the unchecked one */
  if (k >= SCORCH_MAX_STACK_DEPTH)
    return 1;
  hc->hash = scorch_hash_step(hc->hash, hc->ips[k]);
  return 0;
}

/* FNV-1a over the frames bpf_get_stack wrote into ips[SCORCH_MAX_STACK_DEPTH] (bytes of them),
 * never 0 (0 means "no stack"); ends the array with a 0 frame. */
static __always_inline __u64 scorch_hash_frames(__u64 *ips, long bytes)
{
  if (bytes <= 0)
    return 0;
  __u32 n = bytes / sizeof(__u64);
  if (n > SCORCH_MAX_STACK_DEPTH)
    n = SCORCH_MAX_STACK_DEPTH;
  struct scorch_hash_ctx hc = {.ips = ips, .n = n, .hash = SCORCH_FNV_OFFSET};
  bpf_loop(SCORCH_MAX_STACK_DEPTH, scorch_hash_loop_step, &hc, 0);
  if (n < SCORCH_MAX_STACK_DEPTH)
    ips[n] = 0;
  return hc.hash ? hc.hash : 1;
}

/* The map of a double-buffered pair the program fills now: the daemon drains the other one, and
 * bumps seq (the program's active_generation) as it swaps them. */
static __always_inline void *scorch_active_map(__u32 seq, void *map0, void *map1)
{
  return (seq & 1) ? map1 : map0;
}

/* The value at key in a hash map after inserting init where there was none (the caller looked
 * key up first and found nothing). Another CPU may insert the same key in between: its value is
 * used then. NULL when the map is full (the caller counts the drop). */
static __always_inline void *scorch_insert_or_get(void *map, const void *key, const void *init)
{
  long err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
  if (err && err != -EEXIST)
    return NULL;
  return bpf_map_lookup_elem(map, key);
}

/* Kernel threads have no user address space, so no user stack to walk. */
static __always_inline int scorch_current_has_user_stack(void)
{
  return bpf_get_current_task_btf()->mm != NULL; /* a BTF pointer: a plain load, no helper call */
}

#endif
