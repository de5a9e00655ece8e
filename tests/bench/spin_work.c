/* spin_work: a fixed amount of integer work, timed, for measuring how much a profiler slows
 * a CPU-bound program down. Unlike cpu_split (which runs for a fixed CPU time), the work here
 * is fixed, so a slower run shows up as a longer elapsed time.
 *
 *   spin_work [ITERATIONS]     (default 400000000)
 *
 * Prints one line: "elapsed_ns=<wall ns> cpu_ns=<thread CPU ns> iterations=<n> result=<x>".
 * Build: cc -O2 -o spin_work spin_work.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A dependent multiply-add chain: the compiler cannot fold or vectorise it away. */
__attribute__((noinline)) static uint64_t work(uint64_t iterations, uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t i = 0; i < iterations; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    x ^= x >> 29;
  }
  return x;
}

int main(int argc, char **argv) {
  uint64_t iterations = argc > 1 ? strtoull(argv[1], NULL, 10) : 400000000ull;
  if (iterations == 0) {
    fprintf(stderr, "spin_work: ITERATIONS must be a positive integer\n");
    return 2;
  }
  uint64_t wall0 = now_ns(CLOCK_MONOTONIC), cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  /* The seed comes from the clock so the result cannot be computed at compile time. */
  uint64_t result = work(iterations, wall0 | 1);
  uint64_t cpu1 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall1 = now_ns(CLOCK_MONOTONIC);
  printf("elapsed_ns=%llu cpu_ns=%llu iterations=%llu result=%llu\n", (unsigned long long)(wall1 - wall0),
         (unsigned long long)(cpu1 - cpu0), (unsigned long long)iterations, (unsigned long long)(result & 0xffff));
  return 0;
}
