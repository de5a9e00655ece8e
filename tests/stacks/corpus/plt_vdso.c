/* plt_vdso: calls into a shared library through the PLT (lazy binding), which calls
 * clock_gettime in a loop (the vdso): poll_clock -> read_clock_many@plt -> libc -> [vdso].
 * Runs until killed; prints "ready <pid>". */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

uint64_t read_clock_many(int n);
static volatile uint64_t sink;

__attribute__((noinline)) void poll_clock(void) {
  for (;;) sink += read_clock_many(1000);
}

int main(void) {
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  poll_clock();
  return 0;
}
