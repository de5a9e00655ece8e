// What the unwind loader pays per file at attach to key its table: the build id read from the
// notes alone, against loading the whole symbol table as it did before. Interleaved rounds,
// medians and the spread.
//   scorch_bench_build_id FILE [ROUNDS]   (e.g. /usr/bin/node; ROUNDS default 9)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "symbolize/elf_symbols.h"

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds one way of getting file's build id took, or -1 when it failed.
double time_one(const char* file, bool notes_only, std::string* id) {
  int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const auto t0 = Clock::now();
  bool ok = false;
  if (notes_only) {
    auto r = scorch::read_build_id_fd(fd, file);
    ok = static_cast<bool>(r);
    if (ok) *id = *r;
  } else {
    auto r = scorch::ElfSymbols::load_fd(fd, file);
    ok = static_cast<bool>(r);
    if (ok) *id = (*r)->build_id();
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  ::close(fd);
  return ok ? ms : -1;
}

void report(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("| %s | %.3f ms | %.3f-%.3f ms |\n", what, ms[ms.size() / 2], ms.front(), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s FILE [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc == 3 ? std::atoi(argv[2]) : 9;
  if (rounds < 1) {
    std::fprintf(stderr, "scorch: failed to parse ROUNDS: '%s' is not a positive number\n", argv[2]);
    return 2;
  }
  std::vector<double> full, notes;
  std::string full_id, notes_id;
  for (int i = 0; i < rounds; ++i) {
    full.push_back(time_one(argv[1], false, &full_id));
    notes.push_back(time_one(argv[1], true, &notes_id));
    if (full.back() < 0 || notes.back() < 0) {
      std::fprintf(stderr, "scorch: failed to read the build id of %s\n", argv[1]);
      return 1;
    }
  }
  if (full_id != notes_id) {
    std::fprintf(stderr, "scorch: failed to agree on the build id of %s: %s vs %s\n", argv[1], full_id.c_str(),
                 notes_id.c_str());
    return 1;
  }
  std::printf("%s, build id %s, %d interleaved rounds\n| way | median | min-max |\n|---|---|---|\n", argv[1],
              notes_id.c_str(), rounds);
  report("whole symbol table (ElfSymbols::load_fd)", full);
  report("notes only (read_build_id_fd)", notes);
  return 0;
}
