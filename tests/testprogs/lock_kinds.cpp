// lock_kinds: contention on three kinds of lock, timed by the program itself.
//
//   lock_kinds [SECONDS]    (default 3)
//
// Prints "ready <pid>", waits for SIGUSR1 (so a tracer can attach first), then for SECONDS:
//   - 3 threads lock one std::mutex in std_site, holding it ~100 us;
//   - 1 writer takes a std::shared_mutex exclusively in write_site for ~300 us at a time, while
//     2 readers take it shared in read_site (~20 us): the writer blocks the readers;
//   - 2 threads lock one priority-inheritance pthread mutex in pi_site, holding it ~100 us.
// Every lock call is timed (CLOCK_MONOTONIC around it); at the end it prints the time spent inside
// the lock calls per site:
//   std_ns=<n> read_ns=<n> write_ns=<n> pi_ns=<n>
// Built -O2 -fomit-frame-pointer.
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace {

volatile sig_atomic_t go;
std::atomic<bool> stop{false};
std::mutex std_mu;
std::shared_mutex rw_mu;
pthread_mutex_t pi_mu;
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

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
  pthread_mutex_init(&pi_mu, &attr);

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
  std::vector<std::thread> threads;
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
  for (auto& ns : pi_ns)
    threads.emplace_back([&ns] {
      while (!stop) {
        pi_site(ns);
        spin_for(20 * 1000);
      }
    });
  timespec t = {static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  nanosleep(&t, nullptr);
  stop = true;
  for (auto& th : threads) th.join();
  std::printf("std_ns=%llu read_ns=%llu write_ns=%llu pi_ns=%llu\n",
              static_cast<unsigned long long>(std_ns[0] + std_ns[1] + std_ns[2]),
              static_cast<unsigned long long>(read_ns[0] + read_ns[1]), static_cast<unsigned long long>(write_ns),
              static_cast<unsigned long long>(pi_ns[0] + pi_ns[1]));
  return 0;
}
