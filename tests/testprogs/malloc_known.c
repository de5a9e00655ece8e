/* malloc_known: an exact, known set of allocator calls per function, for the malloc measure.
 *   alloc_a   10,000 x malloc(64), each freed
 *   alloc_b    2,500 x calloc(16, 256), each freed
 *   grow_c     1,000 x realloc of one block, growing by 64 bytes a step (the first from NULL), then freed
 *   leak_d       100 x malloc(1000), never freed
 * Built three ways: with glibc's allocator, linked against jemalloc, linked against tcmalloc.
 *
 *   malloc_known        prints "ready <pid>", waits for SIGUSR1, does the calls above, prints
 *                       "done grow_c_bytes=<n>", then waits for SIGTERM (the leaks stay live)
 *   malloc_known fork   the same, but first forks a child that runs alloc_a and exits (a child
 *                       inherits its parent's breakpoints; it must not be counted)
 *   malloc_known exit   the same, but exits right after the calls (a target gone mid-trace)
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t go, stop_requested;
static void on_go(int sig) { (void)sig; go = 1; }
static void on_stop(int sig) { (void)sig; stop_requested = 1; }

/* The program touches what it allocates, so no call is optimised away. */
static volatile uint64_t sink;
static void *leaks[100];

__attribute__((noinline)) void alloc_a(void) {
  for (int i = 0; i < 10000; i++) {
    char *p = malloc(64);
    p[0] = (char)i;
    sink += (uint64_t)p[0];
    free(p);
  }
}

__attribute__((noinline)) void alloc_b(void) {
  for (int i = 0; i < 2500; i++) {
    char *p = calloc(16, 256);
    sink += (uint64_t)p[4095];
    free(p);
  }
}

__attribute__((noinline)) uint64_t grow_c(void) {
  char *p = NULL;
  uint64_t bytes = 0;
  for (int i = 1; i <= 1000; i++) {
    p = realloc(p, (size_t)i * 64);
    p[i * 64 - 1] = 1;
    bytes += (uint64_t)i * 64;
  }
  sink += (uint64_t)p[0];
  free(p);
  return bytes;
}

__attribute__((noinline)) void leak_d(void) {
  for (int i = 0; i < 100; i++) {
    leaks[i] = malloc(1000);
    memset(leaks[i], i, 1000);
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_go;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  while (!go && !stop_requested) pause();
  if (strcmp(mode, "fork") == 0) {
    pid_t child = fork();
    if (child == 0) {
      alloc_a();
      _exit(0);
    }
    waitpid(child, NULL, 0);
  }
  alloc_a();
  alloc_b();
  uint64_t grown = grow_c();
  leak_d();
  printf("done grow_c_bytes=%llu\n", (unsigned long long)grown);
  fflush(stdout);
  if (strcmp(mode, "exit") == 0) return 0;
  while (!stop_requested) pause();
  return 0;
}
