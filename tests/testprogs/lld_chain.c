/* lld_chain: a known chain of calls without frame pointers, linked by LLD (clang -fuse-ld=lld), whose
 * executable segment has p_vaddr != p_offset. Built as C and, from the same file, as C++.
 *
 *   main -> lld_driver -> lld_outer -> lld_spin_leaf     spin:   on CPU in a frameless leaf
 *                                   -> lld_sleep          sleep:  blocked in glibc's nanosleep
 *                                   -> lld_alloc          malloc: malloc(48) and free, in batches
 *
 *   lld_chain spin|sleep|malloc [SECONDS]     prints "ready <pid>", runs until SIGTERM or SECONDS,
 *                                             then prints "calls=<n>" (sleeps or mallocs made)
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static volatile uint64_t sink;
static uint64_t calls;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

enum mode { kSpin, kSleep, kMalloc };

__attribute__((noinline)) uint64_t lld_spin_leaf(uint64_t x, int rounds) {
  for (int i = 0; i < rounds; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) void lld_sleep(void) {
  struct timespec d = {0, 2 * 1000 * 1000};
  nanosleep(&d, NULL);
  ++calls;
}

/* Each block escapes through a volatile pointer, or the compiler (clang does) drops the pair. */
static char *volatile block;

__attribute__((noinline)) void lld_alloc(void) {
  for (int i = 0; i < 200; ++i) {
    block = (char *)malloc(48);
    block[0] = (char)i;
    sink += (uint64_t)block[0];
    free(block);
    ++calls;
  }
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

__attribute__((noinline)) uint64_t lld_outer(enum mode mode, double seconds) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t x = sink;
  while (!stop_requested) {
    if (mode == kSpin) {
      x = lld_spin_leaf(x, 200000);
    } else if (mode == kSleep) {
      lld_sleep();
    } else {
      lld_alloc();
      struct timespec d = {0, 200 * 1000}; /* so the allocations are not all the program does */
      nanosleep(&d, NULL);
    }
    if (seconds > 0 && seconds_since(&t0) >= seconds) break;
  }
  return x;
}

/* The volatile store after each call keeps it a call, not a jump: every frame stays on the stack. */
__attribute__((noinline)) void lld_driver(enum mode mode, double seconds) { sink = lld_outer(mode, seconds) + 1; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: lld_chain spin|sleep|malloc [SECONDS]\n");
    return 2;
  }
  enum mode mode = kSpin;
  if (strcmp(argv[1], "sleep") == 0) {
    mode = kSleep;
  } else if (strcmp(argv[1], "malloc") == 0) {
    mode = kMalloc;
  } else if (strcmp(argv[1], "spin") != 0) {
    fprintf(stderr, "lld_chain: unknown mode %s\n", argv[1]);
    return 2;
  }
  double seconds = argc > 2 ? atof(argv[2]) : 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  lld_driver(mode, seconds);
  printf("calls=%llu\n", (unsigned long long)calls);
  return 0;
}
