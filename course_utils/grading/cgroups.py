"""One control group per sandbox: memory, process and CPU limits on the sandbox as a whole.

The per-process limits of ``prlimit`` multiply: 4 GiB of address space for each of 256
processes is far more memory than a grading machine has, and no per-process limit stops a
submission's background processes from taking every core from its neighbours. A control
group counts everything the sandbox starts, together:

- cgroup v1 (the ``memory``, ``pids`` and ``cpu`` hierarchies, writable by root):
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``: no swap to escape to),
  ``pids.max``, ``cpu.cfs_quota_us`` per ``cpu.cfs_period_us``;
- cgroup v2 (a group whose ``cgroup.subtree_control`` delegates the three controllers, as
  root or in a delegated subtree): ``memory.max``, ``memory.swap.max``, ``pids.max``, ``cpu.max``.

Each group is made inside the grader's own group (so the limits of a container or a
``systemd`` slice still hold above it), joined by the sandbox's first process before it
starts anything (:func:`join_command`), emptied (every process killed) and removed when its
grading ends. Where no controller can be used, :class:`Unavailable` says why.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
PERIOD_US = 100_000
PREFIX = "course-grading-"
# The sandbox's first process writes its pid into each group, then becomes the sandbox.
_JOIN = 'pid=$$; while [ "$1" != -- ]; do echo "$pid" > "$1" || exit 125; shift; done; shift; exec "$@"'


class Unavailable(Exception):
    """No control group with the memory, pids and cpu controllers can be made here."""


def _mounts() -> dict[str, tuple[Path, str]]:
    """Controller (``""`` for cgroup v2) -> (mount point, root of the mount in its hierarchy)."""
    found = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields, _, tail = line.partition(" - ")
        fields, tail = fields.split(), tail.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2":
            found.setdefault("", (point, root))
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in CONTROLLERS:
                    found.setdefault(option, (point, root))
    return found


def _own_groups() -> dict[str, str]:
    """Controller (``""`` for cgroup v2) -> this process's group in that hierarchy."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _folder(mount: tuple[Path, str], group: str) -> Path:
    point, root = mount
    relative = os.path.relpath(group, root) if group.startswith(root) else group.lstrip("/")
    return point / ("" if relative == "." else relative)


def _parents() -> tuple[str, dict[str, Path]]:
    """("v1", {controller: the grader's group folder}) or ("v2", {"": folder}), else Unavailable."""
    mounts, own = _mounts(), _own_groups()
    if all(c in mounts and c in own for c in CONTROLLERS):
        return "v1", {c: _folder(mounts[c], own[c]) for c in CONTROLLERS}
    if "" in mounts and "" in own:
        parent = _folder(mounts[""], own[""])
        try:
            available = (parent / "cgroup.controllers").read_text().split()
        except OSError:
            available = []
        missing = [c for c in CONTROLLERS if c not in available]
        if not missing:
            return "v2", {"": parent}
        raise Unavailable(f"cgroup v2 at {parent} offers no {', '.join(missing)} controller "
                          "(run the grader in a delegated group, e.g. systemd-run --scope -p Delegate=yes)")
    raise Unavailable("no cgroup hierarchy with the memory, pids and cpu controllers is mounted")


class Group:
    """One sandbox's control group (one folder per hierarchy in v1, one in v2)."""

    def __init__(self, version: str, folders: list[Path]):
        self.version, self.folders = version, folders

    @property
    def procs_files(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def join_command(self, command: list[str]) -> list[str]:
        """``command``, started by a shell that first moves itself into this group."""
        return ["/bin/sh", "-c", _JOIN, "join-cgroup", *self.procs_files, "--", *command]

    def pids(self) -> set[int]:
        found = set()
        for name in self.procs_files:
            try:
                found |= {int(pid) for pid in Path(name).read_text().split()}
            except OSError:
                pass
        return found

    def kill(self, wait_s: float = 5.0) -> None:
        """Kill every process in the group (a detached grandchild included); wait until none is left."""
        deadline = time.monotonic() + wait_s
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self) -> str | None:
        """Kill what is left and remove the group; None, or why a folder could not be removed."""
        self.kill()
        problems = []
        for folder in reversed(self.folders):
            for attempt in range(100):      # busy for a moment while the last process leaves
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if attempt == 99:
                        problems.append(f"{folder}: {error.strerror}")
                    time.sleep(0.02)
        return "; ".join(problems) or None


def _remove_stale(parent: Path) -> None:
    """Remove the empty groups that a grader which died without cleaning up left here."""
    for folder in parent.glob(f"{PREFIX}*"):
        try:
            os.kill(int(folder.name[len(PREFIX):].split("-")[0]), 0)
        except ProcessLookupError:
            try:
                folder.rmdir()       # fails, harmlessly, while a process is still inside
            except OSError:
                pass
        except (ValueError, PermissionError):
            pass


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def create(memory_mb: int, processes: int, cpus: float) -> Group:
    """A new group with these limits, inside the grader's own; Unavailable if none can be made."""
    version, parents = _parents()
    for parent in parents.values():
        _remove_stale(parent)
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    group = Group(version, [])
    memory, quota = memory_mb * 2**20, max(1000, int(cpus * PERIOD_US))
    step = None
    try:
        if version == "v1":
            for controller in CONTROLLERS:
                step = parents[controller] / name
                step.mkdir()
                group.folders.append(step)
            memory_folder, pids_folder, cpu_folder = group.folders
            for step, value in ((memory_folder / "memory.limit_in_bytes", memory),
                                (memory_folder / "memory.memsw.limit_in_bytes", memory),
                                (pids_folder / "pids.max", processes),
                                (cpu_folder / "cpu.cfs_period_us", PERIOD_US),
                                (cpu_folder / "cpu.cfs_quota_us", quota)):
                if step.name != "memory.memsw.limit_in_bytes" or step.exists():  # no swap accounting: no swap
                    _write(step, value)
        else:
            parent = parents[""]
            step = parent / "cgroup.subtree_control"
            enabled = step.read_text().split()
            missing = [c for c in CONTROLLERS if c not in enabled]
            if missing:
                _write(step, " ".join(f"+{c}" for c in missing))
            step = parent / name
            step.mkdir()
            group.folders.append(step)
            for step, value in ((step / "memory.max", memory), (step / "memory.swap.max", 0),
                                (step / "pids.max", processes), (step / "cpu.max", f"{quota} {PERIOD_US}")):
                if step.name != "memory.swap.max" or step.exists():
                    _write(step, value)
    except OSError as error:
        group.remove()
        why = error.strerror or type(error).__name__
        hint = " (the limits on the whole sandbox need root, or a delegated cgroup v2 group)" if isinstance(
            error, PermissionError) else ""
        raise Unavailable(f"cgroup {version}: cannot set up {step}: {why}{hint}") from None
    return group


def probe(memory_mb: int, processes: int, cpus: float) -> tuple[str | None, str | None]:
    """(the cgroup version, None) if a group with these limits can be made here, else (None, why)."""
    try:
        group = create(memory_mb, processes, cpus)
    except Unavailable as why:
        return None, str(why)
    group.remove()
    return group.version, None
