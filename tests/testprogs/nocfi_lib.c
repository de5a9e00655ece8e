/* libnocfi: a shared library with frame pointers but no call frame information at all (its
 * .eh_frame is removed after linking), as some hand-built or stripped libraries are. */
#include <stdint.h>
#include <time.h>

uint64_t nocfi_spin(double seconds) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t x = 1;
  do {
    for (int i = 0; i < 200000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
  return x;
}
