/* spin_sleep: one thread that alternates spin_half() (busy for SPIN_MS) and sleep_half()
 * (nanosleep SLEEP_MS), for the wall-clock view: on-CPU and off-CPU add up to wall time.
 *
 *   spin_sleep [SECONDS] [SPIN_MS] [SLEEP_MS]     prints "ready <pid>", runs, then prints
 *   "spin_ns=.. sleep_ns=.. wall_ns=.." and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

__attribute__((noinline)) uint64_t spin_half(uint64_t ns) {
  uint64_t t0 = now_ns(), x = sink;
  while (now_ns() - t0 < ns)
    for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ull + 1;
  sink = x;
  return now_ns() - t0;
}

__attribute__((noinline)) uint64_t sleep_half(uint64_t ns) {
  struct timespec d = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
  uint64_t t0 = now_ns();
  nanosleep(&d, NULL);
  return now_ns() - t0;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  uint64_t spin_ns = (uint64_t)(argc > 2 ? atoi(argv[2]) : 10) * 1000000ull;
  uint64_t sleep_ns = (uint64_t)(argc > 3 ? atoi(argv[3]) : 10) * 1000000ull;
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), spun = 0, slept = 0;
  while (now_ns() < end) {
    spun += spin_half(spin_ns);
    slept += sleep_half(sleep_ns);
  }
  printf("spin_ns=%llu sleep_ns=%llu wall_ns=%llu\n", (unsigned long long)spun, (unsigned long long)slept,
         (unsigned long long)(now_ns() - start));
  return 0;
}
