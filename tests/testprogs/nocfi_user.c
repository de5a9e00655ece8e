/* nocfi_user: main -> nocfi_caller -> nocfi_spin (in libnocfi.so, which has no unwind tables).
 *
 *   nocfi_user SECONDS      prints "ready <pid>"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

uint64_t nocfi_spin(double seconds);

__attribute__((noinline)) uint64_t nocfi_caller(double seconds) { return nocfi_spin(seconds) + 1; }

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  printf("%llu\n", (unsigned long long)nocfi_caller(seconds));
  return 0;
}
