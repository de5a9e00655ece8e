/* faultloop: a page-fault-heavy load for the event-sampling benchmark (events_vs_perf.sh).
 *
 *   faultloop [PAGES] [ROUNDS] [stdin|MILLISECONDS]     defaults: 64 pages, 6000 rounds, stdin
 *
 * Each round mmaps a fresh anonymous private region of PAGES pages (madvise MADV_NOHUGEPAGE, so
 * that neither a huge page nor a multi-size THP folio serves several pages with one fault), writes
 * one byte to every page (the first touch of each is a minor page fault), and munmaps it. So the
 * loop takes PAGES x ROUNDS page faults, plus the few the program takes on its own. The default
 * of 6000 rounds is meant to give a loop of about 1 s bare (an estimate of ~2.5 us per fault with
 * its share of mmap and munmap; not yet measured on the benchmark VM). Build:
 * cc -O2 -o faultloop faultloop.c
 *
 * The program prints "ready <pid>" on stdout (flushed) and waits before starting the loop, so that
 * a tracer can be attached to an already existing pid:
 *   stdin (default): until one byte (or EOF) arrives on stdin;  a number: sleep that many ms.
 * Only the loop is timed (CLOCK_MONOTONIC), printed as "elapsed_s=<seconds>", followed by
 * "faults=<n>" (the loop's first touches: PAGES x ROUNDS, each one fault) and
 * "rusage_faults=<n>" (minor + major faults of the process during the loop, from getrusage: the
 * kernel's own count, which the tools' totals can be checked against) and "checksum=<x>" (read
 * back from the pages, so that the compiler keeps the stores).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long faults_so_far(void)
{
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt + u.ru_majflt;
}

int main(int argc, char **argv)
{
  long pages = argc > 1 ? strtol(argv[1], NULL, 10) : 64;
  long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 6000;
  const char *go = argc > 3 ? argv[3] : "stdin";
  if (pages < 1 || rounds < 1) {
    fprintf(stderr, "usage: faultloop [PAGES] [ROUNDS] [stdin|MILLISECONDS]\n");
    return 2;
  }
  const long page = sysconf(_SC_PAGESIZE);
  const size_t bytes = (size_t)pages * (size_t)page;

  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  if (strcmp(go, "stdin") == 0) {
    char c;
    while (read(0, &c, 1) < 0 && errno == EINTR) {
    }
  } else {
    long ms = strtol(go, NULL, 10);
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) && errno == EINTR) {
    }
  }

  unsigned long sum = 0;
  const long f0 = faults_so_far();
  const double t0 = now_s();
  for (long r = 0; r < rounds; r++) {
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      fprintf(stderr, "faultloop: mmap: %s\n", strerror(errno));
      return 1;
    }
    if (madvise(p, bytes, MADV_NOHUGEPAGE)) {
      fprintf(stderr, "faultloop: madvise: %s\n", strerror(errno));
      return 1;
    }
    for (size_t off = 0; off < bytes; off += (size_t)page)
      p[off] = (char)(r + (long)(off / (size_t)page));
    sum += (unsigned char)p[bytes - (size_t)page];
    if (munmap(p, bytes)) {
      fprintf(stderr, "faultloop: munmap: %s\n", strerror(errno));
      return 1;
    }
  }
  const double t1 = now_s();
  const long f1 = faults_so_far();

  printf("elapsed_s=%.6f\n", t1 - t0);
  printf("faults=%ld\n", pages * rounds);
  printf("rusage_faults=%ld\n", f1 - f0);
  printf("checksum=%lx\n", sum);
  return 0;
}
