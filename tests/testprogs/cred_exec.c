/* cred_exec: a program that becomes privileged mid-trace, for the credential-change tests.
 *   cred_exec PRIVILEGED   prints "ready <pid>", then works in user_spin, user_alloc and
 *                          user_block until SIGUSR1, then execs PRIVILEGED (a set-user-ID-root copy
 *                          of itself, so its comm becomes that file's name) with "--privileged".
 *   --privileged           prints "privileged euid=<n>", then works for 3 s in privileged_spin,
 *                          privileged_alloc (leaking what it allocates) and privileged_block, and exits.
 * Each phase spins, allocates and sleeps, so every measure sees both. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static void on_go(int sig) { (void)sig; go = 1; }
static volatile uint64_t sink;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void spin_for(double seconds) {
  double end = now_s() + seconds;
  while (now_s() < end)
    for (int i = 0; i < 1000; i++) sink += (uint64_t)i * 2654435761u;
}

__attribute__((noinline)) static void nap(long ns) {
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

/* Each does something after its call, so it is no tail call and keeps its frame, and differs from
 * its privileged twin, so identical-code folding cannot merge the two under one address. */
__attribute__((noinline)) void user_spin(void) { spin_for(0.002); sink += 1; }
__attribute__((noinline)) void user_block(void) { nap(2000000); sink += 3; }
__attribute__((noinline)) void user_alloc(int round) {
  for (int i = 0; i < 10; i++) {
    char *p = malloc(64 + (size_t)i);
    p[0] = (char)i;
    sink += (uint64_t)p[0];
    free(p);
  }
  if (round < 100) { /* a few leaks, for --outstanding */
    char *leak = malloc(4000);
    leak[0] = 1;
    sink += (uint64_t)(uintptr_t)leak;
  }
}

__attribute__((noinline)) void privileged_spin(void) { spin_for(0.002); sink += 5; }
__attribute__((noinline)) void privileged_block(void) { nap(2000000); sink += 7; }
__attribute__((noinline)) void privileged_alloc(void) {
  for (int i = 0; i < 10; i++) {
    char *p = malloc(96 + (size_t)i);
    p[0] = (char)i;
    sink += (uint64_t)p[0]; /* leaked: whatever --outstanding would show of it is the privileged program's */
  }
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "--privileged") == 0) {
    printf("privileged euid=%d\n", (int)geteuid());
    double end = now_s() + 3.0;
    while (now_s() < end) {
      privileged_spin();
      privileged_alloc();
      privileged_block();
    }
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: cred_exec PRIVILEGED_COPY\n");
    return 2;
  }
  signal(SIGUSR1, on_go);
  printf("ready %d\n", (int)getpid());
  for (int round = 0; !go; round++) {
    user_spin();
    user_alloc(round);
    user_block();
  }
  execl(argv[1], argv[1], "--privileged", (char *)NULL);
  perror("execl");
  return 1;
}
