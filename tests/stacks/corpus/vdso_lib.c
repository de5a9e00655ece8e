/* libcorpus_clock.so: reads the clock in a loop; clock_gettime is glibc's, which calls the vdso. */
#include <stdint.h>
#include <time.h>

__attribute__((noinline)) uint64_t read_clock_many(int n) {
  uint64_t sum = 0;
  struct timespec ts;
  for (int i = 0; i < n; ++i) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sum += (uint64_t)ts.tv_nsec;
  }
  return sum;
}
