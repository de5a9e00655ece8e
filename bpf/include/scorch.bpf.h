/* Helpers shared by scorch's BPF programs. */
#ifndef SCORCH_BPF_H
#define SCORCH_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#ifndef EEXIST
#define EEXIST 17
#endif

/* i masked to below n (a power of two) in a way clang cannot drop: the verifier needs the bound
 * on the very register that indexes, and clang would otherwise index with an unchecked copy. */
#define SCORCH_BOUND(i, n)                                                                         \
  ({                                                                                               \
    __u32 __b = (i);                                                                               \
    asm volatile("" : "+r"(__b));                                                                  \
    __b & ((n)-1);                                                                                 \
  })

/* Bump one per-CPU counter; the daemon sums the CPUs. */
static __always_inline void scorch_count(void *counters, __u32 index)
{
  __u64 *slot = bpf_map_lookup_elem(counters, &index);
  if (slot)
    *slot += 1;
}

/* Kernel threads have no user address space, so no user stack to walk. */
static __always_inline int scorch_current_has_user_stack(void)
{
  return bpf_get_current_task_btf()->mm != NULL; /* a BTF pointer: a plain load, no helper call */
}

#endif
