/* mallocloop: a malloc/free-heavy loop for the allocator-tracing benchmark.
 *
 *   mallocloop SECONDS        prints "ready <pid>", waits for a byte on stdin (so a tracer can
 *                             attach first), then for SECONDS calls churn(): malloc of one of eight
 *                             sizes (16..512 bytes), a write into the block, free. Prints
 *                             "pairs=<n> elapsed_s=<s> ns_per_pair=<ns>".
 *
 * Built -O2 against glibc like any program; the calls go through the PLT to libc's malloc/free.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static volatile uint64_t sink;
static void *volatile escaped; /* the block escapes, so the compiler cannot drop the pair */

__attribute__((noinline)) uint64_t churn(uint64_t n) {
  static const size_t sizes[8] = {16, 32, 48, 64, 96, 128, 256, 512};
  uint64_t x = 0;
  for (uint64_t i = 0; i < n; i++) {
    char *p = malloc(sizes[i & 7]);
    p[0] = (char)i;
    escaped = p;
    x += (uint64_t)p[0];
    free(p);
  }
  return x;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5.0;
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  char c;
  if (read(0, &c, 1) != 1) return 1;
  uint64_t pairs = 0;
  double t0 = now_s(), t = t0;
  while (t - t0 < seconds) {
    sink += churn(4096);
    pairs += 4096;
    t = now_s();
  }
  printf("pairs=%llu elapsed_s=%.6f ns_per_pair=%.2f\n", (unsigned long long)pairs, t - t0, (t - t0) * 1e9 / (double)pairs);
  return 0;
}
