/* Constants shared by every measure's BPF program and the daemon: fixed-width only. */
#ifndef SCORCH_H
#define SCORCH_H

#define SCORCH_COMM_LEN 16
/* Filter key pid meaning "every process". */
#define SCORCH_PID_ANY 0xffffffffu
/* Stack id when no stack was taken (a kernel thread has no user stack). */
#define SCORCH_NO_STACK (-1)

/* Frames kept of a stack (user or kernel). */
#ifndef SCORCH_MAX_STACK_DEPTH
#define SCORCH_MAX_STACK_DEPTH 127
#endif

/* FNV-1a over 64-bit words: how stacks are hashed into their maps' keys. */
#define SCORCH_FNV_OFFSET 14695981039346656037ull
#define SCORCH_FNV_PRIME  1099511628211ull

#endif
