/* A filter copied into a program's .bss (shared by oncpu and offcpu): fixed-width only. */
#ifndef SCORCH_FILTER_TABLE_H
#define SCORCH_FILTER_TABLE_H

/* A copy of the filter in .bss, next to active_generation, read first: after a millisecond of
 * someone else's work a sample finds its caches cold, and one hash-map lookup cost ~200 ns of a
 * ~1.5 us sample (measured). Open addressing: key (tgid << 32 | sampler id; off-CPU uses 1), home slot
 * scorch_fast_slot(), at most SCORCH_FAST_PROBES probes; two tables, the daemon fills the idle
 * one and flips filter_table. When the filter does not fit, filter_in_table is 0 and the hash
 * map (always complete) is used. */
#define SCORCH_FAST_SLOTS  64
#define SCORCH_FAST_PROBES 8
static inline __u32 scorch_fast_slot(__u32 tgid, __u32 sampler)
{
  return ((tgid * 2654435761u) ^ sampler ^ (sampler >> 7)) & (SCORCH_FAST_SLOTS - 1);
}

#endif
