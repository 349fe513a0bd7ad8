"""scripts/one_at_a_time.py, the Makefile's portable stand-in for `flock LOCK COMMAND`: the
test lanes' two package installs take turns, and a holder that dies leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPER = [sys.executable, str(ROOT / "scripts" / "one_at_a_time.py")]


def locked(lock: Path, script: str, *args: str, **options) -> subprocess.Popen:
    return subprocess.Popen([*HELPER, str(lock), "sh", "-c", script, "sh", *args], **options)


def wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def test_commands_on_one_lock_take_turns(tmp_path):
    lock, log = tmp_path / "install.lock", tmp_path / "log"
    script = f'echo "start $1" >> {log}; sleep 0.4; echo "end $1" >> {log}'
    first = locked(lock, script, "a")
    wait_for(log, "start a")
    second = locked(lock, script, "b")
    assert first.wait(30) == 0 and second.wait(30) == 0
    assert log.read_text().split("\n") == ["start a", "end a", "start b", "end b", ""]


def test_the_exit_status_is_the_commands(tmp_path):
    assert subprocess.run([*HELPER, str(tmp_path / "lock"), "sh", "-c", "exit 3"]).returncode == 3
    assert subprocess.run([*HELPER, str(tmp_path / "lock"), "true"]).returncode == 0
    usage = subprocess.run(HELPER, capture_output=True, text=True)
    assert usage.returncode == 2 and "LOCKFILE COMMAND" in usage.stderr


def test_the_lock_lasts_while_the_command_runs_and_ends_with_it(tmp_path):
    # The helper is killed outright (no cleanup can run): its command still holds the lock
    # until it ends, as with flock(1); then the next one runs, nothing stale in the way.
    lock, log = tmp_path / "install.lock", tmp_path / "log"
    first = locked(lock, f"echo start >> {log}; sleep 0.5; echo end >> {log}", start_new_session=True)
    wait_for(log, "start")
    first.kill()
    first.wait(30)
    second = subprocess.run([*HELPER, str(lock), "sh", "-c", f"echo next >> {log}"], timeout=30)
    assert second.returncode == 0
    assert log.read_text().split("\n") == ["start", "end", "next", ""]


def test_a_killed_holder_and_command_leave_no_stale_lock(tmp_path):
    lock, log = tmp_path / "install.lock", tmp_path / "log"
    first = locked(lock, f"echo start >> {log}; sleep 60", start_new_session=True)
    wait_for(log, "start")
    os.killpg(first.pid, signal.SIGKILL)   # the helper and its command
    first.wait(30)
    started = time.monotonic()
    assert subprocess.run([*HELPER, str(lock), "true"], timeout=30).returncode == 0
    assert time.monotonic() - started < 10
