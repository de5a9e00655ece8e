/* lockloop: a lock-heavy load for the lock-contention benchmark (locks_vs_peers.sh).
 *
 *   lockloop contended|uncontended|mmap THREADS ITERS [stdin|signal]
 *
 *   contended    THREADS threads lock and unlock one shared pthread mutex ITERS times each, with
 *                a little work inside the lock and a little more outside it: the threads collide,
 *                and glibc's __lll_lock_wait sleeps in futex(FUTEX_WAIT) on every collision it
 *                cannot spin away
 *   uncontended  the same, but each thread has its own mutex: no collision, no futex call at all
 *                (the lock and unlock are one atomic instruction each in user space)
 *   mmap         THREADS threads each mmap an anonymous 64 KiB region, touch every page and munmap
 *                it, ITERS times: the page faults take the process's mmap_lock for reading and
 *                mmap/munmap for writing, so the threads contend on that kernel rwsem (for
 *                scorch locks --kernel and perf lock)
 *
 * Build: cc -O2 -pthread -o lockloop lockloop.c
 *
 * The threads are created first; then the program prints "ready <pid>" on stdout (flushed) and
 * waits before starting the loop, so that a tracer can attach to an existing pid:
 *   stdin (default): until one byte (or EOF) arrives on stdin;  signal: until SIGUSR1 arrives.
 * Only the loop is timed (CLOCK_MONOTONIC, from the go to the last thread's end), printed as
 * "elapsed_s=<seconds>", followed by "collisions=<n>" (contended and uncontended: how often a
 * thread found the mutex taken, counted by a failed trylock before the blocking lock; a count, not
 * every futex call, as glibc may spin or find the lock free again) and "checksum=<x>" (the work's
 * result, so that the compiler keeps it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum mode { CONTENDED, UNCONTENDED, MMAP };

#define MAX_THREADS 64
#define MMAP_BYTES (64 * 1024)

struct worker {
  pthread_t thread;
  pthread_mutex_t own; /* the uncontended mode's mutex */
  uint64_t state;      /* the work's state: a xorshift per thread */
  long collisions;
  char pad[64];
};

static enum mode mode;
static long iters;
static pthread_mutex_t shared = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shared_counter;
static struct worker workers[MAX_THREADS];
static pthread_barrier_t start_line;
static long page_size;

/* A few dozen dependent operations: the "little work" in and outside the lock. */
static inline uint64_t work(uint64_t x, int rounds) {
  for (int i = 0; i < rounds; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

static void lock_counting(pthread_mutex_t* m, struct worker* w) {
  if (pthread_mutex_trylock(m) == 0) return;
  w->collisions++;
  pthread_mutex_lock(m);
}

static void* run(void* arg) {
  struct worker* w = arg;
  pthread_mutex_t* m = mode == CONTENDED ? &shared : &w->own;
  pthread_barrier_wait(&start_line);
  if (mode == MMAP) {
    for (long i = 0; i < iters; i++) {
      char* p = mmap(NULL, MMAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        fprintf(stderr, "lockloop: mmap: %s\n", strerror(errno));
        exit(1);
      }
      for (long off = 0; off < MMAP_BYTES; off += page_size) p[off] = (char)i;
      w->state += (unsigned char)p[MMAP_BYTES - page_size];
      munmap(p, MMAP_BYTES);
    }
    return NULL;
  }
  for (long i = 0; i < iters; i++) {
    lock_counting(m, w);
    w->state = work(w->state, 8);
    if (mode == CONTENDED) shared_counter += w->state & 1;
    pthread_mutex_unlock(m);
    w->state = work(w->state, 24);
  }
  return NULL;
}

static volatile sig_atomic_t got_go;
static void on_usr1(int sig) {
  (void)sig;
  got_go = 1;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 4) {
  usage:
    fprintf(stderr, "usage: lockloop contended|uncontended|mmap THREADS ITERS [stdin|signal]\n");
    return 2;
  }
  if (!strcmp(argv[1], "contended"))
    mode = CONTENDED;
  else if (!strcmp(argv[1], "uncontended"))
    mode = UNCONTENDED;
  else if (!strcmp(argv[1], "mmap"))
    mode = MMAP;
  else
    goto usage;
  long threads = strtol(argv[2], NULL, 10);
  iters = strtol(argv[3], NULL, 10);
  const char* go = argc > 4 ? argv[4] : "stdin";
  if (threads < 1 || threads > MAX_THREADS || iters < 1) goto usage;
  page_size = sysconf(_SC_PAGESIZE);

  sigset_t usr1, old;
  if (!strcmp(go, "signal")) {
    /* blocked in every thread (inherited), waited for by the main thread below */
    signal(SIGUSR1, on_usr1);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
  } else if (strcmp(go, "stdin")) {
    goto usage;
  }

  pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
  for (long t = 0; t < threads; t++) {
    workers[t].state = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
    pthread_mutex_init(&workers[t].own, NULL);
    if (pthread_create(&workers[t].thread, NULL, run, &workers[t])) {
      fprintf(stderr, "lockloop: pthread_create failed\n");
      return 1;
    }
  }
  printf("ready %d\n", (int)getpid());
  fflush(stdout);

  if (!strcmp(go, "signal")) {
    while (!got_go) sigsuspend(&old);
  } else {
    char c;
    while (read(0, &c, 1) < 0 && errno == EINTR)
      ;
  }

  double t0 = now_s();
  pthread_barrier_wait(&start_line);
  for (long t = 0; t < threads; t++) pthread_join(workers[t].thread, NULL);
  double t1 = now_s();

  long collisions = 0;
  uint64_t sum = shared_counter;
  for (long t = 0; t < threads; t++) {
    collisions += workers[t].collisions;
    sum += workers[t].state;
  }
  printf("elapsed_s=%.6f\n", t1 - t0);
  if (mode != MMAP) printf("collisions=%ld\n", collisions);
  printf("checksum=%llx\n", (unsigned long long)sum);
  return 0;
}
