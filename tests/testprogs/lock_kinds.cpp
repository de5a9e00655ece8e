// lock_kinds: contention on three kinds of lock, timed by the program itself.
//
//   lock_kinds [SECONDS [pthread]]    (default 3)
//
// Prints "ready <pid>", waits for SIGUSR1 (so a tracer can attach first), then for SECONDS:
//   - 3 threads lock one std::mutex in std_site, holding it ~100 us;
//   - 1 writer takes a std::shared_mutex exclusively in write_site for ~300 us at a time, while
//     2 readers take it shared in read_site (~20 us): the writer blocks the readers;
//   - 2 threads lock one priority-inheritance pthread mutex in pi_site, holding it ~100 us.
// With "pthread", instead: 2 threads each on a recursive mutex (taken twice, nested) in
// recursive_site, an error-checking one in errorcheck_site and an adaptive one in adaptive_site,
// holding it ~100 us.
// Every lock call is timed (CLOCK_MONOTONIC around it); at the end it prints the time spent inside
// the lock calls per site:
//   std_ns=<n> read_ns=<n> write_ns=<n> pi_ns=<n>
//   recursive_ns=<n> errorcheck_ns=<n> adaptive_ns=<n>    (pthread)
// Built -O2 -fomit-frame-pointer.
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace {

volatile sig_atomic_t go;
std::atomic<bool> stop{false};
std::mutex std_mu;
std::shared_mutex rw_mu;
pthread_mutex_t pi_mu, recursive_mu, errorcheck_mu, adaptive_mu;
volatile uint64_t sink;

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void spin_for(uint64_t ns) {
  uint64_t end = now_ns() + ns, x = sink;
  while (now_ns() < end)
    for (int i = 0; i < 200; ++i) x = x * 6364136223846793005ull + 1;
  sink = x;
}

}  // namespace

__attribute__((noinline)) void std_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  std_mu.lock();
  ns += now_ns() - t0;
  spin_for(100 * 1000);
  std_mu.unlock();
}

__attribute__((noinline)) void read_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  rw_mu.lock_shared();
  ns += now_ns() - t0;
  spin_for(20 * 1000);
  rw_mu.unlock_shared();
}

__attribute__((noinline)) void write_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  rw_mu.lock();
  ns += now_ns() - t0;
  spin_for(300 * 1000);
  rw_mu.unlock();
}

__attribute__((noinline)) void pi_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&pi_mu);
  ns += now_ns() - t0;
  spin_for(100 * 1000);
  pthread_mutex_unlock(&pi_mu);
}

__attribute__((noinline)) void recursive_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&recursive_mu);
  ns += now_ns() - t0;
  pthread_mutex_lock(&recursive_mu);  // the owner takes it again: no wait
  spin_for(100 * 1000);
  pthread_mutex_unlock(&recursive_mu);
  pthread_mutex_unlock(&recursive_mu);
}

__attribute__((noinline)) void errorcheck_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  if (pthread_mutex_lock(&errorcheck_mu) != 0) std::abort();
  ns += now_ns() - t0;
  spin_for(100 * 1000);
  pthread_mutex_unlock(&errorcheck_mu);
}

__attribute__((noinline)) void adaptive_site(uint64_t& ns) {
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&adaptive_mu);
  ns += now_ns() - t0;
  spin_for(100 * 1000);
  pthread_mutex_unlock(&adaptive_mu);
}

void init_mutex(pthread_mutex_t* mu, int type, int protocol) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, type);
  pthread_mutexattr_setprotocol(&attr, protocol);
  pthread_mutex_init(mu, &attr);
  pthread_mutexattr_destroy(&attr);
}

/// Runs site in a loop on each thread until stop, with ~20 us of work between calls.
void run_threads(std::vector<std::thread>& threads, uint64_t* ns, int n, void (*site)(uint64_t&)) {
  for (int i = 0; i < n; ++i)
    threads.emplace_back([ns, i, site] {
      while (!stop) {
        site(ns[i]);
        spin_for(20 * 1000);
      }
    });
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3;
  const bool pthread_kinds = argc > 2 && std::string(argv[2]) == "pthread";
  init_mutex(&pi_mu, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT);
  init_mutex(&recursive_mu, PTHREAD_MUTEX_RECURSIVE, PTHREAD_PRIO_NONE);
  init_mutex(&errorcheck_mu, PTHREAD_MUTEX_ERRORCHECK, PTHREAD_PRIO_NONE);
  init_mutex(&adaptive_mu, PTHREAD_MUTEX_ADAPTIVE_NP, PTHREAD_PRIO_NONE);

  struct sigaction sa = {};
  sa.sa_handler = [](int) { go = 1; };
  sigaction(SIGUSR1, &sa, nullptr);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, &old);
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  while (!go) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, nullptr);

  uint64_t std_ns[3] = {}, read_ns[2] = {}, write_ns = 0, pi_ns[2] = {};
  uint64_t recursive_ns[2] = {}, errorcheck_ns[2] = {}, adaptive_ns[2] = {};
  std::vector<std::thread> threads;
  const timespec t = {static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  if (pthread_kinds) {
    run_threads(threads, recursive_ns, 2, recursive_site);
    run_threads(threads, errorcheck_ns, 2, errorcheck_site);
    run_threads(threads, adaptive_ns, 2, adaptive_site);
    nanosleep(&t, nullptr);
    stop = true;
    for (auto& th : threads) th.join();
    std::printf("recursive_ns=%llu errorcheck_ns=%llu adaptive_ns=%llu\n",
                static_cast<unsigned long long>(recursive_ns[0] + recursive_ns[1]),
                static_cast<unsigned long long>(errorcheck_ns[0] + errorcheck_ns[1]),
                static_cast<unsigned long long>(adaptive_ns[0] + adaptive_ns[1]));
    return 0;
  }
  for (auto& ns : std_ns)
    threads.emplace_back([&ns] {
      while (!stop) {
        std_site(ns);
        spin_for(20 * 1000);
      }
    });
  for (auto& ns : read_ns)
    threads.emplace_back([&ns] {
      while (!stop) {
        read_site(ns);
        spin_for(50 * 1000);
      }
    });
  threads.emplace_back([&write_ns] {
    while (!stop) {
      write_site(write_ns);
      spin_for(300 * 1000);
    }
  });
  run_threads(threads, pi_ns, 2, pi_site);
  nanosleep(&t, nullptr);
  stop = true;
  for (auto& th : threads) th.join();
  std::printf("std_ns=%llu read_ns=%llu write_ns=%llu pi_ns=%llu\n",
              static_cast<unsigned long long>(std_ns[0] + std_ns[1] + std_ns[2]),
              static_cast<unsigned long long>(read_ns[0] + read_ns[1]), static_cast<unsigned long long>(write_ns),
              static_cast<unsigned long long>(pi_ns[0] + pi_ns[1]));
  return 0;
}
