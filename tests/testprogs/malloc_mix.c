/* malloc_mix: allocations in known proportions, for the sampled and duty-cycle malloc modes.
 *
 *   malloc_mix bytes    prints "ready <pid>", waits for SIGUSR1, then allocates (and frees) 1 GiB:
 *                       mix_a half of it in 64 KiB blocks, mix_b 30% in 16 KiB blocks, mix_c 20% in
 *                       4 KiB blocks, interleaved; prints "done a=<bytes> b=<bytes> c=<bytes>
 *                       calls_a=<n> calls_b=<n> calls_c=<n>" and waits for SIGTERM
 *   malloc_mix steady   prints "ready <pid>" and loops until SIGTERM: each round does some work
 *                       (about 30 us of hashing) and calls steady_a (3 x malloc/free of 32 bytes),
 *                       steady_b (2 x) and steady_c (1 x); on SIGUSR1 it prints
 *                       "t_ns=<CLOCK_MONOTONIC> rounds=<n>"
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go, stop_requested, report;
static void on_usr1(int sig) { (void)sig; go = 1; report = 1; }
static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static volatile uint64_t sink;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void use(char *p, size_t n) {
  p[0] = 1;
  p[n - 1] = 2;
  sink += (uint64_t)p[0] + (uint64_t)p[n - 1];
  free(p);
}

__attribute__((noinline)) void mix_a(void) { use(malloc(65536), 65536); }
__attribute__((noinline)) void mix_b(void) { use(malloc(16384), 16384); }
__attribute__((noinline)) void mix_c(void) { use(malloc(4096), 4096); }

__attribute__((noinline)) void steady_a(void) {
  for (int i = 0; i < 3; i++) use(malloc(32), 32);
}
__attribute__((noinline)) void steady_b(void) {
  for (int i = 0; i < 2; i++) use(malloc(32), 32);
}
__attribute__((noinline)) void steady_c(void) { use(malloc(32), 32); }

__attribute__((noinline)) uint64_t work(uint64_t x) {
  for (int i = 0; i < 18000; i++) x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ull + (uint64_t)i;
  return x;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int steady = argc > 1 && strcmp(argv[1], "steady") == 0;
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  if (steady) {
    uint64_t rounds = 0, x = 1;
    report = 0;
    while (!stop_requested) {
      x = work(x);
      steady_a();
      steady_b();
      steady_c();
      rounds++;
      if (report) {
        report = 0;
        printf("t_ns=%llu rounds=%llu\n", (unsigned long long)now_ns(), (unsigned long long)rounds);
        fflush(stdout);
      }
    }
    sink += x;
    return 0;
  }
  while (!go && !stop_requested) pause();
  /* 1 GiB: a 8192 x 64 KiB, b 19660 x 16 KiB, c 52428 x 4 KiB, interleaved in rounds of 10:
   * per round 1 a, 2.4 b, 6.4 c on average. */
  const uint64_t calls_a = 8192, calls_b = 19660, calls_c = 52428;
  uint64_t done_a = 0, done_b = 0, done_c = 0;
  while (done_a < calls_a || done_b < calls_b || done_c < calls_c) {
    if (done_a < calls_a) { mix_a(); done_a++; }
    for (int i = 0; i < 3 && done_b * calls_a < (done_a + 1) * calls_b && done_b < calls_b; i++) { mix_b(); done_b++; }
    for (int i = 0; i < 7 && done_c * calls_a < (done_a + 1) * calls_c && done_c < calls_c; i++) { mix_c(); done_c++; }
    if (done_a == calls_a) {
      while (done_b < calls_b) { mix_b(); done_b++; }
      while (done_c < calls_c) { mix_c(); done_c++; }
    }
  }
  printf("done a=%llu b=%llu c=%llu calls_a=%llu calls_b=%llu calls_c=%llu\n", (unsigned long long)(done_a * 65536),
         (unsigned long long)(done_b * 16384), (unsigned long long)(done_c * 4096), (unsigned long long)done_a,
         (unsigned long long)done_b, (unsigned long long)done_c);
  fflush(stdout);
  while (!stop_requested) pause();
  return 0;
}
