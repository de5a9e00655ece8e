/* late_threads: starts worker threads only after a delay, so a profile attached before they exist
 * must follow threads created later.
 *
 *   late_threads [DELAY_MS [THREADS [CPU_MS]]]   (default 500 ms, 2 threads, 1500 ms of CPU each)
 *
 * Prints "ready <pid>", then after all workers finish "worker_cpu_ns=<sum over workers>".
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t cpu_ms = 1500;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) uint64_t worker_burn(uint64_t ns) {
  uint64_t start = thread_cpu_ns(), now = start, x = ns;
  while (now - start < ns) {
    for (int i = 0; i < 20000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    now = thread_cpu_ns();
  }
  return x == 42 ? 0 : now - start;
}

static void *worker(void *arg) {
  uint64_t *used = arg;
  *used = worker_burn(cpu_ms * 1000000u);
  return NULL;
}

int main(int argc, char **argv) {
  long delay_ms = argc > 1 ? atol(argv[1]) : 500;
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  if (argc > 3) cpu_ms = (uint64_t)atoll(argv[3]);
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "late_threads: THREADS must be 1..64\n");
    return 2;
  }
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  usleep((useconds_t)delay_ms * 1000);

  pthread_t tids[64];
  uint64_t used[64] = {0};
  for (int i = 0; i < threads; ++i) pthread_create(&tids[i], NULL, worker, &used[i]);
  uint64_t total = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(tids[i], NULL);
    total += used[i];
  }
  printf("worker_cpu_ns=%llu\n", (unsigned long long)total);
  fflush(stdout);
  pause();  /* stay alive until the test ends us, so the profile's end is the test's choice */
  return 0;
}
