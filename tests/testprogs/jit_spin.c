/* jit_spin: spends its CPU time in code it wrote into anonymous executable memory, as a JIT does,
 * so a profiler names those frames from /tmp/perf-PID.map (which this program does not write:
 * the tests decide what that path holds).
 *
 *   jit_spin [SECONDS]     prints "ready <pid> <code address>", spins, exits after SECONDS (default 60).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  double seconds = argc > 1 ? (double)atoi(argv[1]) : 60;
  /* mov ecx, 0x00100000; 1: dec ecx; jnz 1b; ret */
  static const uint8_t code[] = {0xb9, 0x00, 0x00, 0x10, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xc3};
  void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 1;
  memcpy(page, code, sizeof(code));
  if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) return 1;
  void (*spin)(void) = (void (*)(void))page;
  printf("ready %d %p\n", (int)getpid(), page);
  fflush(stdout);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    for (int i = 0; i < 100; ++i) spin();
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
  return 0;
}
