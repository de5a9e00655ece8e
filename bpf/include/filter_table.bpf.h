/* The lookup in a .bss filter table (see filter_table.h), shared by the programs that keep one. */
#ifndef SCORCH_FILTER_TABLE_BPF_H
#define SCORCH_FILTER_TABLE_BPF_H

#include "filter_table.h"

/* 1 when key {tgid, sampler} is in live copy `table` of slots: open addressing from its home slot,
 * at most SCORCH_FAST_PROBES probes, an empty slot ends the search. */
static __always_inline int scorch_fast_has(volatile __u64 (*slots)[SCORCH_FAST_SLOTS], __u32 table,
                                           __u32 tgid, __u32 sampler)
{
  __u64 key = ((__u64)tgid << 32) | sampler;
  __u32 home = scorch_fast_slot(tgid, sampler);
  for (int i = 0; i < SCORCH_FAST_PROBES; i++) {
    __u64 v = slots[table & 1][(home + i) & (SCORCH_FAST_SLOTS - 1)];
    if (v == key)
      return 1;
    if (v == 0)
      return 0;
  }
  return 0;
}

#endif
