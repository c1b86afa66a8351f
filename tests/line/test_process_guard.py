#!/usr/bin/python3
"""test_process_guard.py: no certline program can leave a core dump or be attached to (issue 15).

Each of the four programs is started as an unprivileged user with `ulimit -c unlimited` (and
AddressSanitizer told not to lower it, nor to catch SIGSEGV), its configuration a FIFO so that it
waits right after its start. Then, for each:
- /proc/PID/limits shows a core file size of 0 (soft and hard);
- it is not dumpable: its /proc/PID/environ belongs to root, not to the user it runs as;
- ptrace(PTRACE_ATTACH) from another process of the same user is refused;
- SIGSEGV kills it without a core: no "core dumped" in its wait status and no core file in its
  working folder.

Usage: test_process_guard.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
(must run as root, to start the programs as another user; otherwise SKIPPED).
"""
import ctypes
import os
import pwd
import resource
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                                "sim"))
from certline_procs import Failure, check  # noqa: E402

PTRACE_ATTACH = 16
PTRACE_DETACH = 17


def unprivileged():
    for name in ("nobody", "daemon"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    return 65534, 65534


def start(binary, fifo, work, uid, gid):
    """Forks binary -c FIFO as uid/gid in work with RLIMIT_CORE unlimited; returns its pid."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":disable_coredump=0:handle_segv=0:detect_leaks=0").lstrip(":")
    env["UBSAN_OPTIONS"] = (env.get("UBSAN_OPTIONS", "") + ":handle_segv=0").lstrip(":")
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(work)
            resource.setrlimit(resource.RLIMIT_CORE,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.execve(binary, [binary, "-c", fifo, "-n"], env)
        finally:
            os._exit(127)
    return pid


def core_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    raise Failure("no core limit in /proc/%d/limits" % pid)


def attach_refused(pid, uid, gid):
    """ptrace(PTRACE_ATTACH, pid) from a child running as uid/gid: True if refused."""
    child = os.fork()
    if child == 0:
        code = 2
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                    ctypes.c_void_p]
            if libc.ptrace(PTRACE_ATTACH, pid, None, None) == -1:
                code = 0 if ctypes.get_errno() == 1 else 3  # EPERM
            else:
                time.sleep(0.2)
                libc.ptrace(PTRACE_DETACH, pid, None, None)
                code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def guarded(name, binary, work, uid, gid):
    folder = os.path.join(work, name)
    os.mkdir(folder)
    os.chmod(folder, 0o777)
    fifo = os.path.join(folder, "config.json")
    os.mkfifo(fifo, 0o666)
    pid = start(binary, fifo, folder, uid, gid)
    try:
        # Waiting to open its configuration: started, the guard done before that.
        deadline = time.time() + 30
        while True:
            with open("/proc/%d/wchan" % pid) as f:
                wchan = f.read()
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
            if "\nUid:\t%d" % uid in status and ("partner" in wchan or "fifo" in wchan):
                break
            check(time.time() < deadline, "%s never waited on its configuration (%r)"
                  % (name, wchan))
            time.sleep(0.05)
        check(core_limit(pid) == ["0", "0"],
              "%s: core file size %r, not 0" % (name, core_limit(pid)))
        owner = os.stat("/proc/%d/environ" % pid).st_uid
        check(owner == 0, "%s is dumpable: /proc/PID/environ belongs to uid %d" % (name, owner))
        check(attach_refused(pid, uid, gid), "%s: ptrace attach not refused" % name)
        os.kill(pid, signal.SIGSEGV)
        _, status = os.waitpid(pid, 0)
        pid = None
        check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV,
              "%s did not die of SIGSEGV: status %#x" % (name, status))
        check(not os.WCOREDUMP(status), "%s dumped core" % name)
        cores = [f for f in os.listdir(folder) if f.startswith("core")]
        check(not cores, "%s left %r" % (name, cores))
        print("%s: core limit 0, not dumpable, ptrace refused, no core on SIGSEGV" % name)
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    if os.geteuid() != 0:
        print("SKIPPED: test_process_guard needs root to start the programs as another user")
        return 0
    programs = dict(zip(("ca-server", "comm-terminal", "factory-terminal", "device-agent"),
                        sys.argv[1:5]))
    uid, gid = unprivileged()
    work = tempfile.mkdtemp(prefix="certline-guard-")
    os.chmod(work, 0o755)
    try:
        for name, binary in programs.items():
            guarded(name, os.path.abspath(binary), work, uid, gid)
        print("test_process_guard: all checks passed")
        return 0
    except (Failure, OSError) as exc:
        print("test_process_guard: FAILED: %s" % exc)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
