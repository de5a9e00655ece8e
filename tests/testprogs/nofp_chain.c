/* nofp_chain: built with -fomit-frame-pointer; main -> chain_driver -> chain_outer -> chain_leaf,
 * where chain_leaf is a true leaf (no calls, no frame). Runs until SIGTERM or SECONDS.
 *
 *   nofp_chain [SECONDS]      prints "ready <pid>"
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

__attribute__((noinline)) uint64_t chain_leaf(uint64_t x, int rounds) {
  for (int i = 0; i < rounds; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) uint64_t chain_outer(double seconds) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t x = sink;
  while (!stop_requested) {
    x = chain_leaf(x, 200000);
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (seconds > 0 && (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
  }
  return x;
}

__attribute__((noinline)) void chain_driver(double seconds) { sink = chain_outer(seconds); }

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  chain_driver(seconds);
  return 0;
}
