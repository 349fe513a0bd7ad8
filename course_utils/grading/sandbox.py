"""Start the grading worker in an operating-system sandbox (bubblewrap), one per submission.

What the sandboxed worker sees and may do:

- the file system: only the system folders (``/usr``, the ``/lib`` links), the Python
  installation and virtual environment, the ``course_utils`` package, and MNIST when
  ``MNIST_PATH`` names it, all read-only; a private, size-limited ``/tmp`` holding only the
  submitted notebook. No other submission, no grades file, no home folder, no ``/etc``
  beyond the loader cache and ``passwd``;
- the network: a new, empty network namespace (a connection to 127.0.0.1 is refused);
- processes: a new process namespace, so when the worker's grading ends (or the grader
  dies) every process it started is killed with it; an unprivileged user of its own (a uid
  from 62000 on, no capabilities), so the process limit counts its processes only;
- limits (``prlimit``): address space, processes, CPU time, file size.

Without bubblewrap, :func:`worker_command` can run the worker unsandboxed with the same
limits (``sandboxed=False``), for a trusted self-check only.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import course_utils

INSTALL_HINT = ("the grader runs every submission in a bubblewrap sandbox, and `bwrap` was not found. "
                "Install it (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
                "bubblewrap`) or, only for notebooks you trust, pass --no-sandbox")
FIRST_UID = 62000     # each sandbox runs as a user of its own, so that limits and signals
UIDS = 1000           # of one submission never touch another's
_next_uid = itertools.count()


@dataclasses.dataclass
class Limits:
    """Resource limits of one worker (and everything it starts)."""

    memory_mb: int = 4096        # address space of each process
    processes: int = 256         # processes and threads of the sandbox user
    cpu_s: int = 900             # CPU seconds of each process
    file_mb: int = 64            # largest file it may write
    tmp_mb: int = 64             # size of its private /tmp (sandbox only)


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
    package = Path(course_utils.__file__).resolve().parent
    paths = ["/usr", *sorted(map(str, python_home)), str(package)]
    args, made = [], set()
    for path in paths:
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


def worker_command(limits: Limits, sandboxed: bool = True, privileged: bool | None = None
                   ) -> tuple[list[str], dict]:
    """The command line and environment that start one grading worker.

    As root (``privileged``, by default when the grader runs as root), the worker runs as a
    user of its own (``setpriv``); otherwise bubblewrap creates a user namespace, which
    needs unprivileged user namespaces to be enabled (see :func:`sandbox_available`).
    """
    python = [str(Path(sys.executable)), "-I", "-m", "course_utils.grading.worker"]
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    if not sandboxed:
        env |= {"HOME": os.environ.get("HOME", "/tmp"), "MNIST_PATH": os.environ.get("MNIST_PATH", "")}
        return python, env
    env |= {"HOME": "/tmp/submission", "MPLCONFIGDIR": "/tmp/matplotlib", "KERAS_HOME": "/tmp/keras"}
    if os.environ.get("MNIST_PATH") and Path(os.environ["MNIST_PATH"]).is_file():
        env["MNIST_PATH"] = "/data/mnist.npz"
    # The private /tmp comes first: a course checked out under /tmp (as CI may do) is then
    # bound read-only on top of it instead of being hidden by it.
    command = ["bwrap", "--size", str(limits.tmp_mb * 2**20), "--perms", "1777", "--tmpfs", "/tmp",
               *_read_only_binds(), "--dev", "/dev", "--proc", "/proc",
               "--perms", "1777", "--dir", "/tmp/submission", "--chdir", "/tmp/submission",
               "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    if not _is_root(privileged):
        return command[:1] + ["--unshare-user"] + command[1:] + python, {}
    uid = FIRST_UID + next(_next_uid) % UIDS
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


def start(limits: Limits, sandboxed: bool = True, privileged: bool | None = None) -> subprocess.Popen:
    """Start a worker in its own session; talk to it through ``stdin`` and ``stdout``."""
    command, env = worker_command(limits, sandboxed, privileged)
    folder = None if sandboxed else tempfile.mkdtemp(prefix="grading-")  # a fresh working folder
    process = subprocess.Popen(_limit_prefix(limits, privileged) + command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env, start_new_session=True, cwd=folder)
    process.working_folder = folder
    return process


def stop(process: subprocess.Popen) -> None:
    """Kill the worker and every process of its session; wait for it."""
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
    if getattr(process, "working_folder", None):
        shutil.rmtree(process.working_folder, ignore_errors=True)
