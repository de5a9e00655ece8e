/* mmap_storm: threads of one process contend on its mmap_lock (a kernel rwsem), for the kernel
 * side of the locks measure.
 *
 *   mmap_storm [THREADS [SECONDS]]    (default 4 threads, 3 s)
 *
 * Prints "ready <pid>", waits for SIGUSR1, then each thread maps 256 KiB, touches it and unmaps
 * it in a loop (mmap and munmap take the mmap_lock for writing); at the end it prints
 * "maps=<n>", the mappings made and unmapped.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static volatile int stop;
static void on_go(int sig) {
  (void)sig;
  go = 1;
}

__attribute__((noinline)) void* map_loop(void* p) {
  uint64_t* maps = p;
  const size_t size = 256 * 1024;
  long page = sysconf(_SC_PAGESIZE);
  while (!stop) {
    char* m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      perror("mmap_storm: mmap");
      exit(1);
    }
    for (size_t off = 0; off < size; off += (size_t)page) m[off] = 1;
    munmap(m, size);
    ++*maps;
  }
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  double seconds = argc > 2 ? atof(argv[2]) : 3;
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "mmap_storm: THREADS must be 1..64\n");
    return 2;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_go;
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, &old);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  while (!go) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, NULL);

  pthread_t tids[64];
  uint64_t maps[64] = {0};
  for (int i = 0; i < threads; ++i) pthread_create(&tids[i], NULL, map_loop, &maps[i]);
  struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&t, NULL);
  stop = 1;
  uint64_t total = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(tids[i], NULL);
    total += maps[i];
  }
  printf("maps=%llu\n", (unsigned long long)total);
  return 0;
}
