/* process_guard.h: what every certline program does first: no core dump and no ptrace
 * attachment, so that no key, pre-write key or passphrase it holds can reach a core file or
 * another process. */
#ifndef CERTLINE_PROCESS_GUARD_H
#define CERTLINE_PROCESS_GUARD_H

/* Sets RLIMIT_CORE to 0 (soft and hard) and marks the process not dumpable (PR_SET_DUMPABLE 0:
 * no core even through a core_pattern pipe, /proc/PID/{environ,mem,...} owned by root, ptrace
 * attachment refused to everyone without CAP_SYS_PTRACE). Call first in main, before any secret
 * is read. Returns 0, or -1 if either could not be set (the program goes on; there is nothing
 * better to do). */
int cl_process_guard(void);

#endif
