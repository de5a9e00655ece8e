/* The credential watch shared by every measure's program (types shared with C++, fixed width). */
#ifndef SCORCH_CREDS_H
#define SCORCH_CREDS_H

/* A process traced on behalf of a user other than root, with the credentials it had when the
 * daemon checked that user's right to trace it. A program that finds the current credentials
 * different (a set-user-ID or set-group-ID exec, setresuid, a file-capability exec) records
 * nothing more of it and sets `changed`; the daemon then stops that user's tracing of it. */
#define SCORCH_CRED_WATCH_MAX 4096

/* In struct cred's order, so the program reads the six ids in one copy. */
enum scorch_cred_id {
  SCORCH_CRED_UID,
  SCORCH_CRED_GID,
  SCORCH_CRED_SUID,
  SCORCH_CRED_SGID,
  SCORCH_CRED_EUID,
  SCORCH_CRED_EGID,
  SCORCH_CRED_IDS
};

struct scorch_cred_watch {
  __u32 ids[SCORCH_CRED_IDS]; /* as seen from the initial user namespace */
  __u32 changed;              /* set by a program: 1 + the id that differed, SCORCH_CRED_IDS + 1 for the
                               * permitted capabilities, SCORCH_CRED_IDS + 2 when unreadable */
  __u32 pad;
  __u64 cap_permitted; /* kernel_cap_t, 64 bits */
};

#endif
