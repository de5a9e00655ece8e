/* c_chain: non-inlined C calls without frame pointers, some with large frames, built with each
 * linker (GNU ld, LLD, mold) as PIE and non-PIE. Runs until killed; prints "ready <pid>".
 *   main -> run -> route_a -> big_frame -> leaf_mix     (route_a's frame: 4 KiB of locals)
 *   main -> run -> route_b -> leaf_mix                  (a short chain next to a long one)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile uint64_t sink;

__attribute__((noinline)) uint64_t leaf_mix(uint64_t x, int rounds) {
  for (int i = 0; i < rounds; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) uint64_t big_frame(uint64_t x) {
  volatile char scratch[4096];
  memset((char *)scratch, (int)x, sizeof scratch);
  return leaf_mix(x + scratch[x & 4095], 40000);
}

__attribute__((noinline)) uint64_t route_a(uint64_t x) { return big_frame(x) ^ 1; }
__attribute__((noinline)) uint64_t route_b(uint64_t x) { return leaf_mix(x, 20000) ^ 2; }

__attribute__((noinline)) void run(void) {
  uint64_t x = 1;
  for (;;) {
    x = route_a(x);
    x = route_b(x);
    sink = x;
  }
}

int main(void) {
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  run();
  return 0;
}
