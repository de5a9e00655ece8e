/* fault_split: first-touches fresh pages in two functions, 3:1, and counts its own faults and
 * context switches, so a page-fault profile and an event count have a truth to be held to.
 *
 *   fault_split [PAGES_B] [SLEEPS] [thread]   (defaults 4000 and 1000)
 *
 * Prints "ready <pid>", waits for SIGUSR1, then in 50 rounds touches 3 * PAGES_B / 50 pages in
 * touch_a and PAGES_B / 50 in touch_b (fresh anonymous memory, no huge pages: one fault a page),
 * and sleeps 1 ms SLEEPS times in all (each a context switch). It counts the minor faults of each
 * touch call (getrusage around it) and of the whole run, and the context switches of the run
 * (voluntary + involuntary), and prints
 *   touch_a=<n> touch_b=<n> faults=<n> csw=<n> cpu_us=<user + system time of the run>
 * then waits for SIGTERM. Built -O2 -fomit-frame-pointer; main -> fault_driver -> touch_a/b.
 * With `thread`, the work runs in a thread created after SIGUSR1 (so after any counter was
 * opened), which also counts its own faults and context switches (RUSAGE_THREAD, its whole
 * life); the line then ends with worker=<tid> worker_faults=<n> worker_csw=<n>.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 50

static struct rusage usage(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru;
}

static long page_size;

static volatile char* fresh(long pages) {
  void* p = mmap(NULL, (size_t)(pages * page_size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  madvise(p, (size_t)(pages * page_size), MADV_NOHUGEPAGE);
  return p;
}

__attribute__((noinline)) long touch_a(volatile char* p, long pages) {
  long before = usage().ru_minflt;
  for (long i = 0; i < pages; ++i) p[i * page_size] = 1;
  return usage().ru_minflt - before;
}

__attribute__((noinline)) long touch_b(volatile char* p, long pages) {
  long before = usage().ru_minflt;
  for (long i = 0; i < pages; ++i) p[i * page_size] = 2;
  return usage().ru_minflt - before;
}

__attribute__((noinline)) void fault_driver(long pages_b, long sleeps, long* a, long* b) {
  long per_round_b = pages_b / ROUNDS, per_round_a = 3 * per_round_b, slept = 0;
  volatile char *mem_a = fresh(per_round_a * ROUNDS), *mem_b = fresh(per_round_b * ROUNDS);
  for (int r = 0; r < ROUNDS; ++r) {
    *a += touch_a(mem_a + r * per_round_a * page_size, per_round_a);
    *b += touch_b(mem_b + r * per_round_b * page_size, per_round_b);
    for (; slept < sleeps * (r + 1) / ROUNDS; ++slept) {
      struct timespec ms = {0, 1000 * 1000};
      nanosleep(&ms, NULL);
    }
  }
}

struct work {
  long pages_b, sleeps, a, b;
  long tid, faults, csw; /* the worker thread's own */
};

static void* worker(void* arg) {
  struct work* w = arg;
  fault_driver(w->pages_b, w->sleeps, &w->a, &w->b);
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  w->tid = gettid();
  w->faults = ru.ru_minflt;
  w->csw = ru.ru_nvcsw + ru.ru_nivcsw;
  return NULL;
}

int main(int argc, char** argv) {
  long pages_b = argc > 1 ? atol(argv[1]) : 4000, sleeps = argc > 2 ? atol(argv[2]) : 1000;
  int threaded = argc > 3 && argv[3][0] == 't';
  page_size = sysconf(_SC_PAGESIZE);
  if (pages_b < ROUNDS || sleeps < 0) {
    fprintf(stderr, "fault_split: PAGES_B must be at least %d\n", ROUNDS);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL); /* taken by sigwait, never delivered */
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  if (sig == SIGTERM) return 0;
  struct rusage r0 = usage();
  struct work w = {pages_b, sleeps, 0, 0, 0, 0, 0};
  if (threaded) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, &w) != 0 || pthread_join(t, NULL) != 0) {
      fprintf(stderr, "fault_split: cannot run the worker thread\n");
      return 1;
    }
  } else {
    fault_driver(pages_b, sleeps, &w.a, &w.b);
  }
  struct rusage r1 = usage();
  long cpu_us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000L +
                (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
  printf("touch_a=%ld touch_b=%ld faults=%ld csw=%ld cpu_us=%ld", w.a, w.b, r1.ru_minflt - r0.ru_minflt,
         (r1.ru_nvcsw + r1.ru_nivcsw) - (r0.ru_nvcsw + r0.ru_nivcsw), cpu_us);
  if (threaded) printf(" worker=%ld worker_faults=%ld worker_csw=%ld", w.tid, w.faults, w.csw);
  printf("\n");
  fflush(stdout);
  sigwait(&set, &sig);
  return 0;
}
