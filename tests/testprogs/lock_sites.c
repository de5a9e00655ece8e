/* lock_sites: known lock contention, timed by the program itself.
 *
 *   lock_sites [SECONDS]    (default: until SIGTERM/SIGINT)
 *
 * Prints "ready <pid>", waits for SIGUSR1 (so a tracer can attach first), then runs the threads
 * below for SECONDS and prints its figures.
 *
 * Three threads (named site_a-0..2) contend on mutex A in site_a, each holding it ~100 us in
 * hold_a; two threads (site_b-0, site_b-1) contend on mutex B in site_b (held ~200 us in hold_b);
 * one thread waits on a condition variable that main signals every 10 ms (a wait that is not lock
 * contention). Only site_a threads ever hold A, only site_b threads B. Every pthread_mutex_lock
 * call is timed (CLOCK_MONOTONIC around it), and at the end the program prints, per site, the
 * time its threads spent inside pthread_mutex_lock and how many calls had to wait:
 *   site_a_ns=<n> site_a_calls=<n> site_b_ns=<n> site_b_calls=<n> cond_wait_ns=<n>
 * Built -O2 -fomit-frame-pointer.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested, go;
static pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER, mutex_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static volatile uint64_t sink;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}
static void on_go(int sig) {
  (void)sig;
  go = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Busy for about ns of wall time while holding a lock. */
static void spin_for(uint64_t ns) {
  uint64_t end = now_ns() + ns, x = sink;
  while (now_ns() < end)
    for (int i = 0; i < 200; ++i) x = x * 6364136223846793005ull + 1;
  sink = x;
}

struct site_stats {
  uint64_t ns, calls, held_ns;
};

/* Holds the lock ~100 us, releases it, and counts how long it held it (so the unlock is a call
 * from hold_a, not a tail call that leaves hold_a's frame). */
__attribute__((noinline)) void hold_a(struct site_stats* s) {
  uint64_t t0 = now_ns();
  spin_for(100 * 1000);
  pthread_mutex_unlock(&mutex_a);
  s->held_ns += now_ns() - t0;
}

__attribute__((noinline)) void hold_b(struct site_stats* s) {
  uint64_t t0 = now_ns();
  spin_for(200 * 1000);
  pthread_mutex_unlock(&mutex_b);
  s->held_ns += now_ns() - t0;
}

/* The lock call, timed: the whole time spent inside pthread_mutex_lock. */
__attribute__((noinline)) void site_a(struct site_stats* s) {
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&mutex_a);
  s->ns += now_ns() - t0;
  s->calls++;
  hold_a(s);
}

__attribute__((noinline)) void site_b(struct site_stats* s) {
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&mutex_b);
  s->ns += now_ns() - t0;
  s->calls++;
  hold_b(s);
}

struct worker_arg {
  int site;
  struct site_stats stats;
};

static int started[2];

__attribute__((noinline)) void* worker(void* p) {
  struct worker_arg* a = p;
  char name[16];
  snprintf(name, sizeof(name), "site_%c-%d", a->site == 0 ? 'a' : 'b',
           __atomic_fetch_add(&started[a->site], 1, __ATOMIC_RELAXED));
  pthread_setname_np(pthread_self(), name);
  while (!stop_requested) {
    if (a->site == 0)
      site_a(&a->stats);
    else
      site_b(&a->stats);
    spin_for(20 * 1000); /* a little work outside the lock */
  }
  return NULL;
}

static uint64_t cond_wait_ns;
static int signals;

__attribute__((noinline)) void* cond_waiter(void* p) {
  (void)p;
  pthread_mutex_lock(&cond_mutex);
  int seen = 0;
  while (!stop_requested) {
    uint64_t t0 = now_ns();
    while (signals == seen && !stop_requested) pthread_cond_wait(&cond, &cond_mutex);
    cond_wait_ns += now_ns() - t0;
    seen = signals;
  }
  pthread_mutex_unlock(&cond_mutex);
  return NULL;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_go;
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old);
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  while (!go && !stop_requested) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, NULL);

  struct worker_arg args[5] = {{0, {0, 0, 0}}, {0, {0, 0, 0}}, {0, {0, 0, 0}}, {1, {0, 0, 0}}, {1, {0, 0, 0}}};
  pthread_t threads[6];
  for (int i = 0; i < 5; ++i) pthread_create(&threads[i], NULL, worker, &args[i]);
  pthread_create(&threads[5], NULL, cond_waiter, NULL);

  uint64_t start = now_ns();
  while (!stop_requested) {
    struct timespec tick = {0, 10 * 1000 * 1000};
    nanosleep(&tick, NULL);
    pthread_mutex_lock(&cond_mutex);
    signals++;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&cond_mutex);
    if (seconds > 0 && (double)(now_ns() - start) / 1e9 >= seconds) stop_requested = 1;
  }
  pthread_mutex_lock(&cond_mutex);
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&cond_mutex);
  for (int i = 0; i < 6; ++i) pthread_join(threads[i], NULL);

  struct site_stats a = {0, 0, 0}, b = {0, 0, 0};
  for (int i = 0; i < 5; ++i) {
    struct site_stats* t = args[i].site == 0 ? &a : &b;
    t->ns += args[i].stats.ns;
    t->calls += args[i].stats.calls;
  }
  printf("site_a_ns=%llu site_a_calls=%llu site_b_ns=%llu site_b_calls=%llu cond_wait_ns=%llu\n",
         (unsigned long long)a.ns, (unsigned long long)a.calls, (unsigned long long)b.ns, (unsigned long long)b.calls,
         (unsigned long long)cond_wait_ns);
  return 0;
}
