"""`make test`'s layers run under scripts/run_layer.py: a layer that hangs is stopped at its
limit, with every process it started, and the log names it and shows what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import ROOT

RUN_LAYER = [sys.executable, str(ROOT / "scripts" / "run_layer.py")]


def test_a_hanging_layer_is_stopped_named_and_its_output_kept(tmp_path):
    pid_file = tmp_path / "child.pid"
    # A layer whose child (like a Jupyter kernel) hangs too: both must be gone afterwards.
    script = f"sleep 600 & echo $! > {pid_file}; echo printed before the hang; wait"
    began = time.monotonic()
    run = subprocess.run(RUN_LAYER + ["test-hangs", "2", "sh", "-c", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 124 and time.monotonic() - began < 30
    assert "printed before the hang" in run.stdout
    assert "== make test-hangs: TIMED OUT after 2 s (its limit is 2 s)" in run.stdout
    assert "printed before the hang" in (tmp_path / "test-reports" / "test-hangs.log").read_text()
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child}") or "Z" in open(f"/proc/{child}/stat").read().split()[2]


def test_a_layer_that_ends_keeps_its_status_and_says_its_time(tmp_path):
    run = subprocess.run(RUN_LAYER + ["test-fails", "60", "sh", "-c", "echo some output; exit 3"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    assert run.stdout.startswith("some output") and "== make test-fails: exit 3 after 0 s (" in run.stdout


def test_the_summary_names_each_layer_that_failed_or_did_not_run(tmp_path):
    for name, command in (("test-good", "true"), ("test-bad", "exit 3")):
        subprocess.run(RUN_LAYER + [name, "60", "sh", "-c", command], cwd=tmp_path, capture_output=True, timeout=60)
    good = subprocess.run(RUN_LAYER + ["--summary", "test-good"], cwd=tmp_path, capture_output=True, text=True)
    assert good.returncode == 0 and "all 1 layers passed" in good.stdout
    run = subprocess.run(RUN_LAYER + ["--summary", "test-good", "test-bad", "test-missing"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "failed: test-bad (exit 3), test-missing (did not run)" in run.stdout


def test_a_layer_stopped_from_outside_takes_its_processes_with_it(tmp_path):
    pid_file = tmp_path / "child.pid"
    layer = subprocess.Popen(RUN_LAYER + ["test-stopped", "600", "sh", "-c", f"sleep 600 & echo $! > {pid_file}; wait"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    layer.terminate()   # as make does when it is stopped
    layer.wait(timeout=60)
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child}") or "Z" in open(f"/proc/{child}/stat").read().split()[2]
