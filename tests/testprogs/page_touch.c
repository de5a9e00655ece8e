/* page_touch: first-touches a known number of fresh anonymous pages when told to, so a page-fault
 * sampler has a count to be held to.
 *
 *   page_touch [PAGES]   (default 2000) prints "ready <pid>", waits for SIGUSR1, maps PAGES pages
 *   (no huge pages: one fault per page), writes one byte to each, prints
 *   "touched=<PAGES> minflt=<minor faults of the process meanwhile, getrusage>", then waits for
 *   the test to end it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

__attribute__((noinline)) void touch_pages(volatile char *p, long pages, long page_size) {
  for (long i = 0; i < pages; ++i) p[i * page_size] = 1;
}

int main(int argc, char **argv) {
  long pages = argc > 1 ? atol(argv[1]) : 2000;
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages < 1) {
    fprintf(stderr, "page_touch: PAGES must be at least 1\n");
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);  // taken by sigwait, never delivered
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);

  long before = minor_faults();
  char *p = mmap(NULL, (size_t)(pages * page_size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("page_touch: mmap");
    return 1;
  }
  madvise(p, (size_t)(pages * page_size), MADV_NOHUGEPAGE);
  touch_pages(p, pages, page_size);
  long after = minor_faults();
  printf("touched=%ld minflt=%ld\n", pages, after - before);
  fflush(stdout);
  pause();
  return 0;
}
