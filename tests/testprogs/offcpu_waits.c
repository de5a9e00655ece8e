/* offcpu_waits: known blocked time per function, for the off-CPU measure.
 *   thread A: sleep_a()  nanosleep(10 ms), SLEEPS times
 *   thread B: wait_b()   read() on a pipe that a feeder thread writes every 50 ms
 *   thread C: sleep_c()  nanosleep(3 ms) and poll_c() poll(no fds, 3 ms) in turn: one thread
 *             blocking in two places, so a stack remembered from one block is never reused for
 *             the other
 * Each function measures its own time blocked (CLOCK_MONOTONIC around the glibc call).
 *
 *   offcpu_waits [DELAY_MS] [RUN_MS]
 * prints "ready <pid>", waits DELAY_MS (so a profiler can attach), runs both threads for RUN_MS,
 * prints "sleep_a_ns=.. sleep_a_calls=.. wait_b_ns=.. wait_b_calls=..", then waits for SIGTERM.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int pipe_fds[2];
static volatile int running = 1;
static uint64_t run_ns;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

struct tally {
  uint64_t ns;
  uint64_t calls;
};
static struct tally a_tally, b_tally, c_sleep_tally, c_poll_tally;

__attribute__((noinline)) void sleep_a(struct tally *t) {
  struct timespec d = {0, 10 * 1000 * 1000};
  uint64_t t0 = now_ns();
  nanosleep(&d, NULL);
  t->ns += now_ns() - t0;
  t->calls++;
}

__attribute__((noinline)) int wait_b(struct tally *t) {
  char c;
  uint64_t t0 = now_ns();
  ssize_t n = read(pipe_fds[0], &c, 1);
  t->ns += now_ns() - t0;
  t->calls++;
  return n == 1 && c == 'x';
}

static void *thread_a(void *arg) {
  (void)arg;
  uint64_t end = now_ns() + run_ns;
  while (now_ns() < end) sleep_a(&a_tally);
  return NULL;
}

static void *thread_b(void *arg) {
  (void)arg;
  while (wait_b(&b_tally)) {
  }
  return NULL;
}

__attribute__((noinline)) void sleep_c(struct tally *t) {
  struct timespec d = {0, 3 * 1000 * 1000};
  uint64_t t0 = now_ns();
  nanosleep(&d, NULL);
  t->ns += now_ns() - t0;
  t->calls++;
}

__attribute__((noinline)) void poll_c(struct tally *t) {
  uint64_t t0 = now_ns();
  poll(NULL, 0, 3);
  t->ns += now_ns() - t0;
  t->calls++;
}

static void *thread_c(void *arg) {
  (void)arg;
  uint64_t end = now_ns() + run_ns;
  while (now_ns() < end) {
    sleep_c(&c_sleep_tally);
    poll_c(&c_poll_tally);
  }
  return NULL;
}

static void *feeder(void *arg) {
  (void)arg;
  uint64_t end = now_ns() + run_ns;
  struct timespec d = {0, 50 * 1000 * 1000};
  while (now_ns() < end) {
    nanosleep(&d, NULL);
    if (write(pipe_fds[1], "x", 1) != 1) break;
  }
  if (write(pipe_fds[1], "q", 1) != 1) return NULL; /* wait_b returns 0: thread B ends */
  return NULL;
}

int main(int argc, char **argv) {
  int delay_ms = argc > 1 ? atoi(argv[1]) : 700;
  int run_ms = argc > 2 ? atoi(argv[2]) : 3000;
  run_ns = (uint64_t)run_ms * 1000000ull;
  if (pipe(pipe_fds) != 0) return 1;
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  usleep((useconds_t)delay_ms * 1000);

  pthread_t a, b, c, f;
  pthread_create(&a, NULL, thread_a, NULL);
  pthread_create(&c, NULL, thread_c, NULL);
  pthread_create(&b, NULL, thread_b, NULL);
  pthread_create(&f, NULL, feeder, NULL);
  pthread_join(a, NULL);
  pthread_join(c, NULL);
  pthread_join(f, NULL);
  pthread_join(b, NULL);
  printf("sleep_a_ns=%llu sleep_a_calls=%llu wait_b_ns=%llu wait_b_calls=%llu sleep_c_ns=%llu poll_c_ns=%llu\n",
         (unsigned long long)a_tally.ns, (unsigned long long)a_tally.calls, (unsigned long long)b_tally.ns,
         (unsigned long long)b_tally.calls, (unsigned long long)c_sleep_tally.ns, (unsigned long long)c_poll_tally.ns);
  fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sig;
  sigwait(&set, &sig);
  return 0;
}
