/* deep_chain: a 20-frame user stack without frame pointers, for the unwinder's cost per sample.
 * main -> run -> descend x DEPTH -> deep_leaf, built with -fomit-frame-pointer; deep_leaf is a
 * true leaf. With _start and glibc's two start frames, DEPTH 15 gives 20 frames.
 *
 *   deep_chain [SECONDS] [DEPTH]      prints "ready <pid>"; runs until SIGTERM or SECONDS
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

__attribute__((noinline)) uint64_t deep_leaf(uint64_t x) {
  for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

/* Not a tail call: the result is mixed after the call returns, and depth is stored to memory. */
__attribute__((noinline)) uint64_t descend(int depth, uint64_t x) {
  if (depth <= 0) return deep_leaf(x);
  uint64_t r = descend(depth - 1, x + (uint64_t)depth);
  sink = (uint64_t)depth;
  return r * 31 + (uint64_t)depth;
}

__attribute__((noinline)) void run(double seconds, int depth) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t x = 1;
  while (!stop_requested) {
    x = descend(depth, x);
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (seconds > 0 && (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
  }
  sink = x;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0;
  int depth = argc > 2 ? atoi(argv[2]) : 15;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  run(seconds, depth);
  return 0;
}
