"""Run one layer of `make test` under a time limit that names it.

Usage: python scripts/run_layer.py NAME SECONDS COMMAND...
       python scripts/run_layer.py --summary NAME...

The command's output (stdout and stderr together) goes to test-reports/NAME.log and is
printed when the layer ends, followed by one line: ``== make NAME: exit N after T s (C s of
CPU)``, C counting the processes it waited for. A
layer still running after SECONDS is stopped with every process it started (its own
session), and the line says so: ``== make NAME: TIMED OUT after T s (limit SECONDS s); the
output above is what it printed until then``. The exit status is the command's, or 124
after a time-out (as timeout(1), which macOS lacks), and is also written to
test-reports/NAME.status, so that `make test` can run every layer to its end and then say
which failed: ``--summary NAME...`` prints each layer's status and exits 1 when any failed
or did not run.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

REPORTS = Path("test-reports")
GRACE = 15   # seconds between SIGTERM and SIGKILL: pytest writes its summary on SIGTERM


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(name: str, limit: float, command: list[str]) -> int:
    REPORTS.mkdir(exist_ok=True)
    log = REPORTS / f"{name}.log"
    began = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)

        def stop_and_exit(signum, frame):   # make stopped (Ctrl-C, a CI time-out): the layer goes too
            _stop(process)
            sys.exit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, stop_and_exit)
        try:
            status, timed_out = process.wait(timeout=limit), False
        except subprocess.TimeoutExpired:
            _stop(process)
            status, timed_out = 124, True
    seconds = time.monotonic() - began
    sys.stdout.flush()
    with open(log, "rb") as printed:
        sys.stdout.buffer.write(printed.read())
    (REPORTS / f"{name}.status").write_text(f"{status}\n")
    if timed_out:
        print(f"\n== make {name}: TIMED OUT after {seconds:.0f} s (its limit is {limit:g} s); "
              "the output above is what it printed until then", flush=True)
    else:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)   # the processes it waited for, all of them
        print(f"\n== make {name}: exit {status} after {seconds:.0f} s "
              f"({usage.ru_utime + usage.ru_stime:.0f} s of CPU)", flush=True)
    return status


def summary(names: list[str]) -> int:
    """Each layer's exit status from test-reports/NAME.status; 1 if any failed or did not run."""
    failed = []
    for name in names:
        path = REPORTS / f"{name}.status"
        status = path.read_text().strip() if path.exists() else "did not run"
        if status != "0":
            failed.append(f"{name} ({'exit ' + status if status.lstrip('-').isdigit() else status})")
    print("== make test: " + (f"failed: {', '.join(failed)}" if failed else f"all {len(names)} layers passed"))
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--summary"]:
        return summary(argv[1:])
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        limit = float(argv[1])
    except ValueError:
        print(f"run_layer.py: SECONDS must be a number, not {argv[1]!r}", file=sys.stderr)
        return 2
    return run(argv[0], limit, argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
