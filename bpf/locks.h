/* Types shared by locks.bpf.c and the daemon: fixed-width only. */
#ifndef SCORCH_LOCKS_H
#define SCORCH_LOCKS_H

#include "scorch.h"
#include "unwind.h"

#ifndef SCORCH_LOCKS_MAX_ENTRIES
#define SCORCH_LOCKS_MAX_ENTRIES 16384
#endif
#ifndef SCORCH_LOCKS_STACK_ENTRIES
#define SCORCH_LOCKS_STACK_ENTRIES 8192
#endif
#ifndef SCORCH_LOCKS_WAKE_ENTRIES
#define SCORCH_LOCKS_WAKE_ENTRIES 8192
#endif
#ifndef SCORCH_LOCKS_OWNER_ENTRIES
#define SCORCH_LOCKS_OWNER_ENTRIES 4096
#endif
#define SCORCH_LOCKS_FILTER_ENTRIES 1024
#define SCORCH_LOCKS_HIST                                                                                    \
  32 /* log2 buckets of the wait in ns: [2^i, 2^(i+1)); the last, from 2.1 s, open                           \
      */

/* What kind of wait a futex call is (the daemon names them; see locks_session.cpp):
 * LLL: FUTEX_WAIT with value 2, glibc's contended lock path (__lll_lock_wait: mutexes of every
 *      kind but PI, std::mutex, a condvar's re-acquisition of its mutex);
 * WAIT: other FUTEX_WAITs (std::atomic::wait, hand-made locks);
 * BITSET: FUTEX_WAIT_BITSET (rwlocks, but also condvars, semaphores and pthread_join: told
 *      apart by the waiter's stack in the daemon);
 * PI: FUTEX_LOCK_PI / FUTEX_LOCK_PI2 (priority-inheritance mutexes). */
enum scorch_lock_kind {
  SCORCH_LOCK_LLL = 0,
  SCORCH_LOCK_WAIT = 1,
  SCORCH_LOCK_BITSET = 2,
  SCORCH_LOCK_PI = 3,
  SCORCH_LOCK_KERNEL = 4, /* lock:contention_begin/end; flags say spin/mutex/rwsem, read/write */
};

/* Set by the program in scorch_lock_wait.flags (above contention_begin's own LCB_F_* bits) when
 * a kernel lock is one it can name: the waiter's own mm's mmap_lock, its signal lock. */
#define SCORCH_LOCK_F_MMAP_LOCK (1u << 24)
#define SCORCH_LOCK_F_SIGLOCK   (1u << 25)
/* Set in an LLL wait's flags with the low byte holding what a pthread mutex keeps in __kind
 * (16 bytes past its futex word): normal 0, recursive 1, error-checking 2, adaptive 3. Only
 * meaningful when the lock is a pthread mutex (the daemon tells by the waiter's stack). */
#define SCORCH_LOCK_F_MUTEX_KIND (1u << 26)

/* Per traced process (or SCORCH_PID_ANY for kernel locks of every process). */
struct scorch_locks_filter {
  __u64 min_wait_ns; /* shorter waits are not counted (nor their holders) */
  __u64 since_ns;    /* when the filter went in (bpf_ktime_get_ns): a wait recorded before, by an
                        earlier session, counts from here */
  __u32 user;        /* futex waits of this process */
  __u32 kernel;      /* kernel lock contention of this process */
  __u32 holders;     /* record its contended releases (a session asked for --holders) */
  __u32 pad;
};

/* A wait in progress (task storage): from the futex entry (or contention_begin) to its exit. */
struct scorch_lock_wait {
  __u64 start_ns;
  __u64 addr;    /* the futex word (user) or the lock (kernel) */
  __u64 uhash;   /* user stack at the wait, in ustacks; 0: none */
  __u64 khash;   /* kernel stack (kernel locks), in kstacks; 0: none */
  __u32 kind;    /* scorch_lock_kind */
  __u32 flags;   /* kernel: contention_begin's flags */
  __u32 active;  /* 1 while a wait is open */
  __u32 holders; /* it was counted in sleepers (releases were being recorded) */
  __u32 owner;   /* the thread that held the lock when the wait began (mutexes); 0: unknown */
  __u32 pad;
  struct scorch_ustack user;
  struct scorch_ustack kernel; /* kernel locks only */
};

/* Where contended unlocks happened: the last FUTEX_WAKE (or UNLOCK_PI) on an address. */
struct scorch_lock_wake_key {
  __u32 tgid;
  __u32 pad;
  __u64 addr;
};
struct scorch_lock_wake {
  __u64 ts_ns;
  __u64 uhash; /* the waker's user stack: where the holder released the lock */
  __u32 tid;
  __u32 pad;
  char comm[SCORCH_COMM_LEN];
};

/* Waiting time by waiter: one process, one lock, one kind, one pair of stacks. */
struct scorch_lock_key {
  __u32 tgid;
  __u32 kind;
  __u64 addr;
  __u64 uhash;
  __u64 khash;
  __u32 flags;
  __u32 pad;
};
struct scorch_lock_value {
  __u64 total_ns;
  __u64 count;
  __u64 max_ns;
  __u64 hist[SCORCH_LOCKS_HIST];
  char comm[SCORCH_COMM_LEN];
};

/* Waiting time by holder: the waits a release ended, by the releasing thread and stack, and by
 * the waiter's stack (the daemon tells lock waits from condvar waits by it, then sums it away). */
struct scorch_lock_holder_key {
  __u32 tgid;
  __u32 kind; /* the waiter's */
  __u64 addr;
  __u64 uhash; /* the holder's stack at the release, in wake_stacks */
  __u64 whash; /* the waiter's stack, in ustacks of the same generation */
  __u32 tid;   /* the releasing thread */
  __u32 pad;
};
struct scorch_lock_holder_value {
  __u64 waited_ns; /* others' waits this release ended */
  __u64 count;
  char comm[SCORCH_COMM_LEN]; /* the releasing thread's */
};

/* Waiting time by owner: the thread that held the mutex when each wait began, read from the
 * lock itself (a pthread mutex's __owner, 8 bytes past its futex word; a PI mutex's futex word).
 * Cheap: nothing runs at the release. */
struct scorch_lock_owner_key {
  __u32 tgid;
  __u32 kind;
  __u64 addr;
  __u32 owner; /* tid */
  __u32 pad;
};
struct scorch_lock_owner_value {
  __u64 waited_ns;
  __u64 count;
};

enum scorch_locks_counter {
  SCORCH_LK_WAITS = 0,   /* waits counted */
  SCORCH_LK_SHORT,       /* waits under --min-wait */
  SCORCH_LK_MAP_FULL,    /* counts or holders map full */
  SCORCH_LK_STACK_ERROR, /* no stack */
  SCORCH_LK_NESTED,      /* a wait began while one was open (a signal handler's futex) */
  SCORCH_LK_NO_STORAGE,  /* no task storage */
  SCORCH_LK_WAKES,       /* contended releases recorded */
  SCORCH_LK_NO_HOLDER,   /* woken waits with no release seen on their address */
  SCORCH_LK_IDLE_WAKES,  /* releases with no traced waiter asleep on the address: no stack taken */
  SCORCH_LK_MAX,
};

#endif
