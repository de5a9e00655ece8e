/* The credential check every measure's program makes before it records anything of a process
 * traced for a user other than root (see creds.h). */
#ifndef SCORCH_CREDS_BPF_H
#define SCORCH_CREDS_BPF_H

#include "creds.h"

/* Created by the daemon once and shared by every program (UnwindMaps::share_with). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCORCH_CRED_WATCH_MAX);
  __type(key, __u32);
  __type(value, struct scorch_cred_watch);
} cred_watch SEC(".maps");

/* How many processes cred_watch holds: an array lookup (inlined, one cache line) spares every
 * event the hash lookup while nobody but root traces anything. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} cred_watch_on SEC(".maps");

/* 0 when task (of process tgid) may no longer be traced for the user who asked: its credentials
 * are not those its tracing was allowed with. A process nobody watches costs one lookup. */
static __always_inline int scorch_creds_ok(struct task_struct *task, __u32 tgid)
{
  __u32 zero = 0;
  __u32 *on = bpf_map_lookup_elem(&cred_watch_on, &zero);
  if (!on || !*on)
    return 1;
  struct scorch_cred_watch *w = bpf_map_lookup_elem(&cred_watch, &tgid);
  if (!w)
    return 1;
  if (w->changed)
    return 0;
  const struct cred *cred = BPF_CORE_READ(task, cred);
  __u32 ids[SCORCH_CRED_IDS] = {};
  __u64 caps = 0;
  /* uid, gid, suid, sgid, euid, egid lie together in struct cred; one copy reads them all. */
  if (bpf_core_read(ids, sizeof(ids), &cred->uid) ||
      bpf_core_read(&caps, sizeof(caps), &cred->cap_permitted)) {
    w->changed = SCORCH_CRED_IDS + 2; /* unreadable: refuse rather than guess */
    return 0;
  }
  for (int i = 0; i < SCORCH_CRED_IDS; i++) {
    if (ids[i] != w->ids[i]) {
      w->changed = i + 1;
      return 0;
    }
  }
  if (caps != w->cap_permitted) {
    w->changed = SCORCH_CRED_IDS + 1;
    return 0;
  }
  return 1;
}

#endif
