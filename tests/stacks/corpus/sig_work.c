/* sig_work: a SIGPROF handler that does work, so samples land in frames above the kernel's
 * signal frame (handler_work <- on_prof <- __restore_rt <- main_work <- ...). No frame pointers.
 * Runs until killed; prints "ready <pid>". */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static volatile uint64_t sink;

__attribute__((noinline)) uint64_t handler_work(uint64_t x) {
  for (int i = 0; i < 300000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) static void on_prof(int sig) { sink += handler_work((uint64_t)sig + sink); }

__attribute__((noinline)) uint64_t main_work(uint64_t x) {
  for (int i = 0; i < 100000; ++i) x = x * 2862933555777941757ull + 3037000493ull;
  return x;
}

__attribute__((noinline)) void main_loop(void) {
  for (uint64_t x = 1;; x = main_work(x)) sink ^= x;
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_prof;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPROF, &sa, NULL);
  struct itimerval every = {{0, 2000}, {0, 2000}};  /* 2 ms of CPU time */
  setitimer(ITIMER_PROF, &every, NULL);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  main_loop();
  return 0;
}
