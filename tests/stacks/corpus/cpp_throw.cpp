// cpp_throw: C++ without frame pointers with exceptions in flight: a throw three frames down is
// caught in a loop, so samples land in the throw path (libstdc++, libgcc_s's unwinder) as well as
// in the work. Each round also allocates (operator new -> malloc) and sleeps briefly (off-CPU).
// Runs until killed; prints "ready <pid>".
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace corpus {

volatile uint64_t sink;

struct Rejected : std::runtime_error {
  explicit Rejected(uint64_t v) : std::runtime_error("rejected " + std::to_string(v)) {}
};

__attribute__((noinline)) uint64_t crunch(uint64_t x, int rounds) {
  for (int i = 0; i < rounds; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

__attribute__((noinline)) void validate(uint64_t x) {
  x = crunch(x, 30000);
  sink = x;
  if ((x & 1) == 0) throw Rejected(x);
}

__attribute__((noinline)) void parse_record(uint64_t x) {
  std::vector<std::unique_ptr<std::string>> fields;  // destroyed during unwinding (a cleanup pad)
  for (int i = 0; i < 4; ++i) fields.push_back(std::make_unique<std::string>(40 + i, 'x'));
  validate(x + fields.size());
}

__attribute__((noinline)) void handle_batch(uint64_t x) { parse_record(x * 3 + 1); }

__attribute__((noinline)) void pause_briefly() {
  struct timespec ts = {0, 200 * 1000};
  nanosleep(&ts, nullptr);
}

__attribute__((noinline)) void serve() {
  uint64_t x = 1, rejected = 0;
  for (uint64_t round = 0;; ++round) {
    try {
      handle_batch(x);
    } catch (const Rejected&) {
      ++rejected;
    }
    x = crunch(x + round, 100);
    if (round % 8 == 0) pause_briefly();
    sink = rejected;
  }
}

}  // namespace corpus

int main() {
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  corpus::serve();
}
