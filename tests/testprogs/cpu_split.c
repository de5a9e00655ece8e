/* cpu_split: spends its CPU time in burn_a and burn_b in a known ratio, in rounds of 5-15 ms.
 *
 * The round length varies (a fixed pseudo-random sequence): rounds of exactly 10 ms phase-lock
 * with a 99 Hz sampler on this VM, and then any sampling profiler, `perf record -F 99 -p` too,
 * reports 50-97% for a 70% function depending on the phase it started in.
 *
 *   cpu_split [PERCENT_A [SECONDS]]    (default 70, run until SIGTERM/SIGINT)
 *
 * Prints "ready <pid>" once running, and at the end the CPU time each function really got
 * (measured with CLOCK_THREAD_CPUTIME_ID), so a test compares a profile with the truth:
 *   burn_a_ns=<n> burn_b_ns=<n>
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static volatile uint64_t sink;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Integer work between clock reads, so almost every sample lands in the burn function itself. */
static inline uint64_t mix(uint64_t x, int rounds) {
  for (int i = 0; i < rounds; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

/* Spins until this thread has used cpu_ns more CPU time; returns what it used. Inlined into each
 * burn function, so the samples land in the burn function itself. */
static inline __attribute__((always_inline)) uint64_t spin_cpu(uint64_t cpu_ns, uint64_t salt) {
  uint64_t start = thread_cpu_ns(), now = start;
  uint64_t x = sink;
  while (now - start < cpu_ns) {
    x = mix(x, 20000);
    now = thread_cpu_ns();
  }
  sink = x ^ salt;
  return now - start;
}

__attribute__((noinline)) uint64_t burn_a(uint64_t cpu_ns) { return spin_cpu(cpu_ns, 0); }

__attribute__((noinline)) uint64_t burn_b(uint64_t cpu_ns) { return spin_cpu(cpu_ns, 1); }

/* The caller the profile must show between main and the burn functions. */
__attribute__((noinline)) void run_workload(unsigned percent_a, double seconds, uint64_t *used_a, uint64_t *used_b) {
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!stop_requested) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
    const uint64_t round_ns = 5 * 1000 * 1000 + rng % (10 * 1000 * 1000);
    *used_a += burn_a(round_ns * percent_a / 100);
    *used_b += burn_b(round_ns * (100 - percent_a) / 100);
    if (seconds > 0) {
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
    }
  }
}

int main(int argc, char **argv) {
  unsigned percent_a = argc > 1 ? (unsigned)atoi(argv[1]) : 70;
  double seconds = argc > 2 ? atof(argv[2]) : 0;
  if (percent_a > 100) {
    fprintf(stderr, "cpu_split: PERCENT_A must be 0..100\n");
    return 2;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  uint64_t used_a = 0, used_b = 0;
  run_workload(percent_a, seconds, &used_a, &used_b);
  printf("burn_a_ns=%llu burn_b_ns=%llu\n", (unsigned long long)used_a, (unsigned long long)used_b);
  return 0;
}
