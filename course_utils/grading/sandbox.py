"""Start the grading worker in an operating-system sandbox (bubblewrap), one per submission.

What the sandboxed worker sees and may do:

- the file system: only the system folders (``/usr``, the ``/lib`` links), the Python
  installation, its virtual environment and site-packages folders, the ``course_utils``
  package, and MNIST when ``MNIST_PATH`` names it, all read-only; a private, size-limited
  ``/tmp`` holding only the submitted notebook. No other submission, no grades file, no home folder, no ``/etc``
  beyond the loader cache and ``passwd``;
- the network: a new, empty network namespace (a connection to 127.0.0.1 is refused);
- ``/dev``: read-only, with the usual devices and a small, private ``/dev/shm``;
- processes: a new process namespace, so when the worker's grading ends (or the grader
  dies) every process it started is killed with it. As root, an unprivileged user of its
  own (a uid from 62000 on, no capabilities) that no other sandbox on this machine holds at
  the same time (a lock file per uid in ``/run``, so several grading processes, say Dask
  workers, never share one); without root, the grader's own uid in a user namespace;
- limits on the whole sandbox, when a control group can be made (:mod:`course_utils.grading.cgroups`,
  as root or in a delegated cgroup v2 group): memory, processes and threads, CPU share;
- limits on each process (``prlimit``): address space, processes, CPU time, file size.

:func:`limits_report` says which of these hold on this machine, and why the others do not.

Without bubblewrap, :func:`worker_command` can run the worker unsandboxed with the same
limits (``sandboxed=False``), for a trusted self-check only.
"""

from __future__ import annotations

import dataclasses
import fcntl
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import course_utils
from course_utils.cluster import ONE_THREAD
from course_utils.grading import cgroups

INSTALL_HINT = ("the grader runs every submission in a bubblewrap sandbox, and `bwrap` was not found. "
                "Install it (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
                "bubblewrap`) or, only for notebooks you trust, pass --no-sandbox")
FIRST_UID = 62000     # each sandbox runs as a user of its own, so that limits and signals
UIDS = 1000           # of one submission never touch another's
UID_LOCKS = Path("/run/course-grading-uids")   # one lock file per uid in use (root only)
_next_uid = itertools.count()   # where this process starts looking for a free uid


@dataclasses.dataclass
class Limits:
    """Resource limits of one worker (and everything it starts)."""

    memory_mb: int = 4096        # memory of the whole sandbox (cgroup), address space of each process
    processes: int = 256         # processes and threads of the sandbox (cgroup) and of its user
    cpus: float = 1.0            # CPU share of the whole sandbox (cgroup)
    cpu_s: int = 900             # CPU seconds of each process
    file_mb: int = 64            # largest file it may write
    tmp_mb: int = 64             # size of its private /tmp (sandbox only)
    shm_mb: int = 16             # size of its private /dev/shm (sandbox only)


def sandbox_available() -> str | None:
    """None if bubblewrap and setpriv are usable here, else why not (with how to fix it)."""
    for tool in ("bwrap", "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return INSTALL_HINT if tool == "bwrap" else f"`{tool}` (util-linux) was not found"
    if os.geteuid() != 0:
        try:
            probe = subprocess.run(["bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"],
                                   capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap did not run ({error})"
        if probe.returncode != 0:
            return ("bubblewrap cannot create a user namespace for an unprivileged user here "
                    f"({probe.stderr.strip()[:200]}). Enable unprivileged user namespaces (Debian: "
                    "sysctl kernel.unprivileged_userns_clone=1; Ubuntu 24.04: an AppArmor profile that "
                    "allows bwrap), or grade as root in a virtual machine or container")
    return None


def _read_only_binds() -> list[str]:
    python_home = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                   Path(sys.executable).resolve().parents[1]}
    site_folders = {Path(entry).resolve() for entry in sys.path   # a virtual environment's, a .pth file's
                    if Path(entry).name in ("site-packages", "dist-packages") and Path(entry).is_dir()}
    package = Path(course_utils.__file__).resolve().parent
    wanted = [Path("/usr"), *sorted(python_home | site_folders), package]
    # Each folder once (not one inside another), and only what the grader itself can read:
    # bubblewrap refuses to start on a folder it cannot open.
    paths = [str(path) for path in wanted if os.access(path, os.R_OK | os.X_OK)
             and not any(other != path and other in path.parents for other in wanted)]
    args, made = [], set()
    for path in dict.fromkeys(paths):
        for parent in reversed(Path(path).parents[:-1]):   # readable by the sandbox's user
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    for link in ("lib", "lib64", "bin", "sbin"):
        if Path(f"/{link}").is_symlink():
            args += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif Path(f"/{link}").is_dir():
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    for path in ("/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/localtime"):
        args += ["--ro-bind-try", path, path]
    mnist = os.environ.get("MNIST_PATH", "")
    if mnist and Path(mnist).is_file():
        args += ["--perms", "0755", "--dir", "/data", "--ro-bind", str(Path(mnist).resolve()), "/data/mnist.npz"]
    return args


def _is_root(privileged: bool | None) -> bool:
    return os.geteuid() == 0 if privileged is None else privileged


def worker_command(limits: Limits, sandboxed: bool = True, privileged: bool | None = None,
                   uid: int = FIRST_UID) -> tuple[list[str], dict]:
    """The command line and environment that start one grading worker.

    As root (``privileged``, by default when the grader runs as root), the worker runs as
    the user ``uid`` (``setpriv``; :func:`start` takes one no other sandbox holds);
    otherwise bubblewrap creates a user namespace, which needs unprivileged user namespaces
    to be enabled (see :func:`sandbox_available`).
    """
    python = [str(Path(sys.executable)), "-I", "-m", "course_utils.grading.worker"]
    # One thread per pool, TensorFlow's included: the sandbox has one CPU (Limits.cpus). With
    # TensorFlow's default pools, chapter 4's notebook used 28.0 CPU s; with one thread, 24.7
    # (the worker process's CPU time, one pair of runs on a loaded 2-core machine, 2026-12-03).
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2", **ONE_THREAD,
           "PYTHONDONTWRITEBYTECODE": "1", "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    if not sandboxed:
        env |= {"HOME": os.environ.get("HOME", "/tmp"), "MNIST_PATH": os.environ.get("MNIST_PATH", "")}
        return python, env
    env |= {"HOME": "/tmp/submission", "MPLCONFIGDIR": "/tmp/matplotlib", "KERAS_HOME": "/tmp/keras"}
    if os.environ.get("MNIST_PATH") and Path(os.environ["MNIST_PATH"]).is_file():
        env["MNIST_PATH"] = "/data/mnist.npz"
    # The private /tmp comes first: a course checked out under /tmp (as CI may do) is then
    # bound read-only on top of it instead of being hidden by it.
    command = ["bwrap", "--size", str(limits.tmp_mb * 2**20), "--perms", "1777", "--tmpfs", "/tmp",
               *_read_only_binds(), "--dev", "/dev", "--size", str(limits.shm_mb * 2**20), "--perms", "1777",
               "--tmpfs", "/dev/shm", "--remount-ro", "/dev", "--proc", "/proc",
               "--perms", "1777", "--dir", "/tmp/submission", "--chdir", "/tmp/submission",
               "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    if not _is_root(privileged):
        return command[:1] + ["--unshare-user"] + command[1:] + python, {}
    command += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return command + python, {}


def _tasks_of_this_user() -> int:
    """Processes and threads of the grader's user, which its process limit also counts."""
    uid, tasks = str(os.getuid()), 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            tasks += int(fields.get("Threads", "1").strip() or 1)
    return tasks


def _limit_prefix(limits: Limits, privileged: bool | None = None) -> list[str]:
    """``prlimit`` options: limits that the worker and everything it starts inherit. Without
    root the process limit counts the grader's user's other tasks too, so it is raised by them."""
    processes = limits.processes if _is_root(privileged) else limits.processes + _tasks_of_this_user()
    return ["prlimit", f"--as={limits.memory_mb * 2**20}", f"--nproc={processes}",
            f"--cpu={limits.cpu_s}", f"--fsize={limits.file_mb * 2**20}", "--core=0", "--"]


def _take_uid() -> tuple[int, int]:
    """A sandbox uid that no other grading process on this machine holds, and the open lock
    file that holds it (closed by :func:`stop`). Uids that name a user are skipped."""
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    info = UID_LOCKS.lstat()
    if not UID_LOCKS.is_dir() or UID_LOCKS.is_symlink() or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{UID_LOCKS} must be a folder of this user's, mode 0700")
    users = {entry.pw_uid for entry in pwd.getpwall()}
    first = next(_next_uid)
    for step in range(UIDS):
        uid = FIRST_UID + (first + step) % UIDS
        if uid in users:
            continue
        fd = os.open(UID_LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:     # another sandbox has it now
            os.close(fd)
            continue
        return uid, fd
    raise RuntimeError(f"all {UIDS} sandbox uids from {FIRST_UID} are in use")


def limits_report(limits: Limits, sandboxed: bool = True, privileged: bool | None = None,
                  budget_s: float | None = None) -> str:
    """Which limits hold for each submission graded here, and which do not and why: one
    line for the grader's output (run on every Dask worker, as machines differ)."""
    version, why = cgroups.probe(limits.memory_mb, limits.processes, limits.cpus)
    parts = []
    if version:
        parts.append(f"each sandbox as a whole (cgroup {version}): memory {limits.memory_mb} MB, "
                     f"{limits.processes} processes and threads, {limits.cpus:g} CPU")
    else:
        parts.append(f"NOT in force: the memory, process and CPU limits on each sandbox as a whole ({why})")
    parts.append(f"each process: address space {limits.memory_mb} MB, {limits.cpu_s} CPU seconds, "
                 f"files up to {limits.file_mb} MB" + ("" if _is_root(privileged) else
                                                          ", processes counted with all of your user's"))
    if sandboxed:
        parts.append(f"/tmp {limits.tmp_mb} MB, /dev/shm {limits.shm_mb} MB, /dev read-only, no network")
        parts.append(f"a user of its own (uid {FIRST_UID} to {FIRST_UID + UIDS - 1})" if _is_root(privileged)
                     else "NOT in force: a user of its own per sandbox (needs root); a user namespace instead")
    if budget_s is not None:
        parts.append(f"each submission at most {budget_s:g} s in all (restarts and hints included)")
    return "; ".join(parts)


def start(limits: Limits, sandboxed: bool = True, privileged: bool | None = None) -> subprocess.Popen:
    """Start a worker in its own session (and control group, where one can be made: which
    limits hold is said once, by :func:`limits_report`); talk to it through ``stdin`` and ``stdout``."""
    uid, lock = _take_uid() if sandboxed and _is_root(privileged) else (FIRST_UID, None)
    command, env = worker_command(limits, sandboxed, privileged, uid)
    command = _limit_prefix(limits, privileged) + command
    try:
        group = cgroups.create(limits.memory_mb, limits.processes, limits.cpus)
        command = group.join_command(command)
    except cgroups.Unavailable:
        group = None
    folder = None if sandboxed else tempfile.mkdtemp(prefix="grading-")  # a fresh working folder
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=env, start_new_session=True, cwd=folder)
    except BaseException:
        _release(group, lock, folder)
        raise
    process.working_folder, process.cgroup, process.uid_lock = folder, group, lock
    return process


def _release(group, lock, folder) -> None:
    if group is not None:
        group.remove()
    if lock is not None:
        os.close(lock)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen) -> None:
    """Kill the worker and every process of its session and control group; wait for it."""
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    _release(getattr(process, "cgroup", None), getattr(process, "uid_lock", None),
             getattr(process, "working_folder", None))
