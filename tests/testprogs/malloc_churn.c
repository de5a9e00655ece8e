/* malloc_churn: a loop of glibc malloc/free of varied sizes in alloc_churn, so most CPU samples
 * land inside glibc (built without frame pointers), below the program's own function.
 *
 *   malloc_churn [SECONDS]      prints "ready <pid>"
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

__attribute__((noinline)) uint64_t alloc_churn(double seconds) {
  void *slots[64] = {0};
  uint64_t n = 0, seed = 88172645463325252ull;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!stop_requested) {
    for (int i = 0; i < 10000; ++i) {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      size_t k = seed % 64;
      free(slots[k]);
      slots[k] = malloc(16 + (seed >> 20) % 4000);
      ++n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (seconds > 0 && (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
  }
  for (int k = 0; k < 64; ++k) free(slots[k]);
  return n;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  printf("allocations=%llu\n", (unsigned long long)alloc_churn(seconds));
  return 0;
}
