/* ptr_chase: chases pointers through a working set of a given size, so the last-level cache
 * misses of a large set can be compared with those of a small one.
 *
 *   ptr_chase BYTES [LOADS]   (LOADS default 20000000)
 *
 * Links BYTES / 64 nodes of one cache line each in one random cycle (Sattolo's shuffle: every
 * load depends on the one before and hits a line the prefetcher cannot guess), prints
 * "ready <pid>", waits for SIGUSR1, follows LOADS links, prints "loads=<n> end=<index>", and
 * waits for SIGTERM.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct node {
  struct node* next;
  char pad[64 - sizeof(struct node*)];
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

__attribute__((noinline)) struct node* chase(struct node* p, long loads) {
  for (long i = 0; i < loads; ++i) p = p->next;
  return p;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ptr_chase BYTES [LOADS]\n");
    return 2;
  }
  long n = atol(argv[1]) / (long)sizeof(struct node), loads = argc > 2 ? atol(argv[2]) : 20000000;
  if (n < 2) {
    fprintf(stderr, "ptr_chase: BYTES must hold at least two 64-byte nodes\n");
    return 2;
  }
  struct node* nodes = aligned_alloc(64, (size_t)n * sizeof(struct node));
  long* order = malloc((size_t)n * sizeof(long));
  if (!nodes || !order) return 1;
  for (long i = 0; i < n; ++i) order[i] = i;
  for (long i = n - 1; i > 0; --i) { /* Sattolo: one cycle through every node */
    long j = (long)(next_random() % (uint64_t)i), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (long i = 0; i < n; ++i) nodes[order[i]].next = &nodes[order[(i + 1) % n]];
  free(order);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  if (sig == SIGTERM) return 0;
  struct node* end = chase(&nodes[0], loads);
  printf("loads=%ld end=%ld\n", loads, (long)(end - nodes));
  fflush(stdout);
  sigwait(&set, &sig);
  return 0;
}
