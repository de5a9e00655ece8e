// jit_loop: runs code from anonymous executable memory, as a JIT does, so that scorchd names it
// from the process's perf map (/tmp/perf-PID.map). Which perf map it leaves is the argument:
//   jit_loop write NAME    a perf map of its own naming the code NAME (the control)
//   jit_loop link TARGET   /tmp/perf-PID.map is a symlink to TARGET
//   jit_loop fifo          /tmp/perf-PID.map is a FIFO nobody writes to
//   jit_loop sparse NAME   a perf map naming the code NAME, then extended (sparse) to 1 GiB
// The code sits at JIT_ADDRESS, fixed so that a perf map can be written before the program runs.
// Prints "ready" when the code runs, then spins in it until killed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define JIT_ADDRESS 0x3f0000000000ul  // clear of PIE, heap, libraries, ASan's shadow and heap
#define JIT_SIZE 0x1000ul

// mov $1000000, %ecx; 1: dec %ecx; jnz 1b; ret
static const unsigned char kCode[] = {0xb9, 0x40, 0x42, 0x0f, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0xc3};

static int write_map(const char* path, const char* name) {
  FILE* f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "%lx %lx %s\n", JIT_ADDRESS, JIT_SIZE, name);
  return fclose(f);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: jit_loop write NAME | link TARGET | fifo | sparse NAME\n");
    return 2;
  }
  void* code = mmap((void*)JIT_ADDRESS, JIT_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (void*)JIT_ADDRESS) {
    perror("jit_loop: mmap");
    return 1;
  }
  memcpy(code, kCode, sizeof(kCode));

  char path[64];
  snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
  unlink(path);
  int rc = 0;
  if (strcmp(argv[1], "write") == 0 && argc == 3) {
    rc = write_map(path, argv[2]);
  } else if (strcmp(argv[1], "link") == 0 && argc == 3) {
    rc = symlink(argv[2], path);
  } else if (strcmp(argv[1], "fifo") == 0) {
    rc = mkfifo(path, 0644);
  } else if (strcmp(argv[1], "sparse") == 0 && argc == 3) {
    rc = write_map(path, argv[2]);
    if (rc == 0) rc = truncate(path, 1l << 30);
  } else {
    fprintf(stderr, "jit_loop: unknown mode '%s'\n", argv[1]);
    return 2;
  }
  if (rc != 0) {
    perror("jit_loop: making the perf map");
    return 1;
  }
  void (*spin)(void) = (void (*)(void))code;
  spin();
  printf("ready %s\n", path);
  fflush(stdout);
  for (;;) spin();
}
