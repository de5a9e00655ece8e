/* pingpong: a context-switch storm for the off-CPU benchmark (offcpu_vs_peers.sh).
 *
 *   pingpong [ROUND_TRIPS] [GO]     ROUND_TRIPS default 200000
 *
 * Two processes (fork) bounce one byte over two pipes ROUND_TRIPS times with plain glibc read and
 * write; each side blocks in read() on every round trip, so every round trip is at least two
 * switch-outs plus two wake-ups. Build: cc -O2 -o pingpong pingpong.c
 *
 * After the fork the parent prints "ready <parent pid> <child pid>" on stdout (flushed), then
 * waits before starting the loop, so that a tracer can be attached to an already existing pid:
 *   GO = "stdin" (default): wait until one byte (or EOF) arrives on stdin;
 *   GO = a number: sleep that many milliseconds (e.g. 300).
 * The loop's wall time (CLOCK_MONOTONIC, first write to last read, excluding fork, the wait and
 * the child's exit) is printed as "elapsed_s=<seconds>" on stdout, after the child has exited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
  fprintf(stderr, "pingpong: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void xread(int fd, char *c)
{
  for (;;) {
    ssize_t n = read(fd, c, 1);
    if (n == 1)
      return;
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      fprintf(stderr, "pingpong: unexpected EOF\n");
      exit(1);
    }
    die("read");
  }
}

static void xwrite(int fd, char c)
{
  for (;;) {
    ssize_t n = write(fd, &c, 1);
    if (n == 1)
      return;
    if (n < 0 && errno == EINTR)
      continue;
    die("write");
  }
}

int main(int argc, char **argv)
{
  long trips = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
  const char *go = argc > 2 ? argv[2] : "stdin";
  if (trips <= 0) {
    fprintf(stderr, "usage: pingpong [ROUND_TRIPS] [stdin|MILLISECONDS]\n");
    return 2;
  }

  int to_child[2], to_parent[2];
  if (pipe(to_child) || pipe(to_parent))
    die("pipe");

  pid_t child = fork();
  if (child < 0)
    die("fork");
  if (child == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    char c;
    for (long i = 0; i < trips; i++) {
      xread(to_child[0], &c);
      xwrite(to_parent[1], c);
    }
    _exit(0);
  }
  close(to_child[0]);
  close(to_parent[1]);

  printf("ready %d %d\n", (int)getpid(), (int)child);
  fflush(stdout);
  if (strcmp(go, "stdin") == 0) {
    char c;
    ssize_t n;
    do
      n = read(0, &c, 1);
    while (n < 0 && errno == EINTR);
  } else {
    long ms = strtol(go, NULL, 10);
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) && errno == EINTR) {
    }
  }

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  char c = 'x';
  for (long i = 0; i < trips; i++) {
    xwrite(to_child[1], c);
    xread(to_parent[0], &c);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);

  int status;
  if (waitpid(child, &status, 0) < 0)
    die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "pingpong: child failed (status %d)\n", status);
    return 1;
  }
  printf("elapsed_s=%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
