"""Run a command while holding an exclusive lock on a file, as util-linux's `flock LOCK CMD`
does (macOS has no `flock` command):

    python scripts/one_at_a_time.py LOCKFILE COMMAND [ARG...]

Commands given the same LOCKFILE run one after another; the exit status is the command's.
The lock is fcntl.flock, in Python's standard library on Linux and macOS. The command
inherits the locked file, so the lock lasts while either process lives, and the system
drops it when both have ended, however they end: no stale lock is ever left to clean up.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[0], "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.call(argv[1:], pass_fds=(lock.fileno(),))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
