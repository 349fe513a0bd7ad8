"""The Dask engine of `make experiments` and `make grade` (course_utils.cluster).

First with cheap fake tasks on the default local cluster (no TensorFlow): every result
stored exactly once and atomically, one progress line each, a killed worker's task run
again elsewhere, a failing task reported after its retries without losing the others, and
Ctrl-C keeping what finished so that a re-run resumes. Then for real, once: a `dask
scheduler` and two `dask worker` processes on 127.0.0.1, a tiny sweep with one worker
killed in the middle, and a class of submissions graded through the same address.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from course_utils import cluster
from course_utils.experiments import cluster_tasks

distributed = pytest.importorskip("distributed")  # requirements.txt pins it; CI fails on a skip
import cloudpickle  # noqa: E402  (installed with distributed)

# The fake tasks below live in this test module, which the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (.*) \((\d+\.\d) s on (tcp://[\d.]+:\d+)\)$")


# --- fake tasks (they run on the workers) ------------------------------------------------------

def mark(folder: str, key: str) -> None:
    """Record one execution of task ``key`` (a file per execution, so none can be lost)."""
    Path(folder, f"ran-{key}-{os.getpid()}-{uuid.uuid4().hex}").touch()


def square_slowly(n: int, seconds: float, folder: str) -> int:
    mark(folder, f"n{n}")
    time.sleep(seconds)
    return n * n


def note_start(key: str, folder: str) -> str:
    """Record when task ``key`` started (a file named by the time), then take a moment."""
    Path(folder, f"start-{time.time_ns()}-{key}").touch()
    time.sleep(0.5)
    return key


def die_once(n: int, folder: str) -> int:
    """Kill the worker process running it the first time; return ``n * n`` the second time."""
    first = not any(Path(folder).glob(f"ran-n{n}-*"))
    mark(folder, f"n{n}")
    if first:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n


def count_shared(n: int, data: np.ndarray, folder: str) -> int:
    """``n`` times the sum of the data sent to the workers, after a moment."""
    mark(folder, f"n{n}")
    time.sleep(0.3)
    return n * int(data.sum())


def always_fails(n: int, folder: str) -> int:
    mark(folder, f"n{n}")
    raise ValueError(f"task {n} fails on purpose")


# --- the client side of a fake job -------------------------------------------------------------

def write_atomically(path: Path, value) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


class Store:
    """Writes each value to ``<key>.json`` in ``folder`` and counts the writes per key."""

    def __init__(self, folder: Path):
        self.folder, self.writes = folder, {}

    def __call__(self, task, value) -> str:
        write_atomically(self.folder / f"{task.key}.json", {"key": task.key, "value": value})
        self.writes[task.key] = self.writes.get(task.key, 0) + 1
        return f"{task.key} = {value}"


def executions(folder: Path, key: str) -> int:
    return len(list(folder.glob(f"ran-{key}-*")))


def check_progress(lines: list[str], count: int) -> list[re.Match]:
    """One well-formed progress line per task, numbered 1..count."""
    matches = [PROGRESS.match(line) for line in lines if line.startswith("[")]
    assert all(matches), lines
    assert [int(m[1]) for m in matches] == list(range(1, count + 1)), lines
    assert {int(m[2]) for m in matches} == {count}
    return matches


@pytest.fixture(scope="module")
def local_client():
    """The default path of `make experiments`: a LocalCluster of 2 single-threaded workers
    (without its Keras preload: these tasks are fake; the real cluster below trains).
    No test kills its workers (a worker restarted by its nanny may not come back on a busy CI
    machine): the test of a killed worker starts a cluster of its own."""
    lines = []
    with cluster.connect(workers=2, log=lines.append, threads=1, preload=()) as client:   # fake tasks: no Keras
        assert lines == ["Local Dask cluster: 2 worker process(es), one task at a time each, 1 thread(s) per task"]
        yield client


def test_the_workers_run_tensorflow_and_blas_on_one_thread(local_client):
    # First in the file: before any task ran, so this reads what the cluster was started with.
    seen = local_client.run(lambda: {k: os.environ.get(k) for k in cluster.ONE_THREAD})
    assert len(seen) == 2
    assert all(env == cluster.ONE_THREAD for env in seen.values()), seen


def test_every_result_is_stored_once_with_one_progress_line_each(local_client, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir(), out.mkdir()
    tasks = [cluster.Task(f"n{n}", square_slowly, (n, 0.05, str(runs))) for n in range(8)]
    lines, store = [], Store(out)
    stored = cluster.run_tasks(local_client, tasks, store, log=lines.append)
    assert sorted(stored) == sorted(t.key for t in tasks)
    assert store.writes == {t.key: 1 for t in tasks}
    for n in range(8):
        assert json.loads((out / f"n{n}.json").read_text()) == {"key": f"n{n}", "value": n * n}
    assert sorted(p.name for p in out.iterdir()) == sorted(f"n{n}.json" for n in range(8))  # no temporary left
    matches = check_progress(lines, 8)
    assert sorted(m[3] for m in matches) == sorted(f"n{n} = {n * n}" for n in range(8))
    assert len({m[5] for m in matches}) == 2, "both workers should have taken tasks"


def test_tasks_start_in_the_order_given(local_client, tmp_path):
    # The sweep gives each seed's slowest runs first. Keys shaped like its own: Dask groups
    # tasks by key prefix and, given them all at once, starts small groups before a big one.
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir(), out.mkdir()
    keys = [f"big-seed{n}" for n in range(5)] + ["solo-a", "other-b", "third-c"]
    tasks = [cluster.Task(key, note_start, (key, str(runs))) for key in keys]
    cluster.run_tasks(local_client, tasks, Store(out), log=lambda line: None)
    started = [p.name.split("-", 2)[2] for p in sorted(runs.iterdir(), key=lambda p: int(p.name.split("-")[1]))]
    # Two workers: two at a time, in the order given (within a pair either may start first).
    assert [keys.index(key) // 2 for key in started] == [0, 0, 1, 1, 2, 2, 3, 3], started


def test_a_killed_worker_s_task_runs_again_elsewhere_and_is_stored_once(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir(), out.mkdir()
    tasks = [cluster.Task("n0", die_once, (0, str(runs)))]
    tasks += [cluster.Task(f"n{n}", square_slowly, (n, 0.3, str(runs))) for n in range(1, 6)]
    lines, store = [], Store(out)
    with cluster.connect(workers=2, log=lambda line: None, threads=1, preload=()) as client:   # its own: a worker dies
        cluster.run_tasks(client, tasks, store, log=lines.append)
    assert executions(runs, "n0") == 2, "the task that killed its worker must have run a second time"
    assert store.writes == {t.key: 1 for t in tasks}
    assert json.loads((out / "n0.json").read_text())["value"] == 0
    check_progress(lines, 6)


def test_a_failing_task_is_retried_then_reported_and_the_others_are_stored(local_client, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir(), out.mkdir()
    tasks = [cluster.Task("n0", always_fails, (0, str(runs)))]
    tasks += [cluster.Task(f"n{n}", square_slowly, (n, 0.05, str(runs))) for n in range(1, 4)]
    lines, store = [], Store(out)
    with pytest.raises(cluster.TasksFailed) as failed:
        cluster.run_tasks(local_client, tasks, store, log=lines.append)
    assert list(failed.value.failures) == ["n0"]
    assert "ValueError: task 0 fails on purpose" in str(failed.value)
    assert executions(runs, "n0") == 2, "a task that raised must run once more (RETRIES = 1), then be reported"
    assert store.writes == {"n1": 1, "n2": 1, "n3": 1}
    failed_lines = [line for line in lines if "FAILED" in line]
    assert len(failed_lines) == 1 and len(lines) == 4, lines
    assert re.fullmatch(r"\[[1-4]/4\] n0 FAILED \(ValueError: task 0 fails on purpose\)", failed_lines[0])


def test_shared_data_lost_with_a_worker_are_sent_again_and_their_tasks_run_again(local_client, tmp_path):
    """Dask may forget scattered data when a worker dies, even data sent to every worker
    (dask/distributed#3149): here the scheduler is made to forget them after the first result,
    while the next tasks are running or waiting for them."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir(), out.mkdir()
    shared = np.arange(10)   # sums to 45
    tasks = [cluster.Task(f"n{n}", count_shared, (n, cluster.SHARED, str(runs))) for n in range(6)]
    lines, write = [], Store(out)

    def store(task, value):
        if not write.writes:   # the first result: the data vanish from the cluster
            sent = [f for f in local_client.futures if str(f).startswith("ndarray-")]
            assert len(sent) == 1, local_client.futures
            local_client.cancel([distributed.Future(sent[0], local_client)], force=True)
        return write(task, value)

    cluster.run_tasks(local_client, tasks, store, log=lines.append, shared=shared)
    assert {key: json.loads((out / f"{key}.json").read_text())["value"] for key in write.writes} \
        == {f"n{n}": 45 * n for n in range(6)}
    assert write.writes == {t.key: 1 for t in tasks}
    resent = [line for line in lines if "sending them again" in line]
    assert resent, "the data must have been lost, and sent again"
    check_progress(lines, 6)


def test_an_error_while_storing_cancels_the_tasks_not_finished(local_client, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    tasks = [cluster.Task(f"n{n}", square_slowly, (n, 1.0, str(runs))) for n in range(8)]

    def store(task, value):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cluster.run_tasks(local_client, tasks, store, log=lambda line: None)
    time.sleep(1.5)   # no task may start after the error (each sleeps 1 s)
    assert len(list(runs.iterdir())) <= 4, "tasks went on running after the client gave up"
    waiting = local_client.run_on_scheduler(lambda dask_scheduler: [
        key for key, state in dask_scheduler.tasks.items() if state.state in ("processing", "queued", "waiting")])
    assert waiting == []


def test_duplicate_keys_are_refused(local_client):
    tasks = [cluster.Task("same", pow, (2, 2)), cluster.Task("same", pow, (3, 2))]
    with pytest.raises(ValueError, match="unique keys"):
        cluster.run_tasks(local_client, tasks, lambda task, value: "")


def test_a_task_taking_shared_data_without_any_is_refused(local_client):
    with pytest.raises(ValueError, match="no shared data"):
        cluster.run_tasks(local_client, [cluster.Task("n0", count_shared, (0, cluster.SHARED, "."))],
                          lambda task, value: "")


def test_a_worker_that_lacks_a_module_or_tool_is_named(local_client):
    with pytest.raises(cluster.WorkersNotReady) as error:
        cluster.check_workers(local_client, modules=("course_utils", "no_such_module_here"),
                              tools=("no-such-sandbox-tool",))
    message = str(error.value)
    for worker in local_client.scheduler_info()["workers"]:
        assert f"{worker} (host {socket.gethostname()}) cannot import no_such_module_here" in message
        assert f"{worker} (host {socket.gethostname()}) has no no-such-sandbox-tool" in message
    reports = cluster.check_workers(local_client)
    assert len(reports) == 2 and all(r["missing"] == [] for r in reports.values())


def test_a_worker_prepares_mnist_once_for_all_its_tasks():
    rng = np.random.default_rng(0)
    raw = ((rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), rng.integers(0, 10, 20, dtype=np.uint8)),
           (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), rng.integers(0, 10, 5, dtype=np.uint8)))
    first = cluster_tasks._prepared_mnist(raw)
    assert cluster_tasks._prepared_mnist(raw) is first
    (x, y), _ = first
    assert x.shape == (20, 28, 28, 1) and y.shape == (20, 10) and not x.flags.writeable
    np.testing.assert_array_equal(x[..., 0] * 255, raw[0][0])
    other = ((raw[0][0][:10], raw[0][1][:10]), raw[1])
    assert cluster_tasks._prepared_mnist(other)[0][0].shape == (10, 28, 28, 1), "other data: prepared again"


def test_the_sweep_gives_its_runs_in_training_order(monkeypatch, tmp_path):
    from course_utils.experiments import sweep

    given = []
    monkeypatch.setattr(cluster_tasks, "check_workers", lambda client: {"worker": {"mnist": "/mnist.npz"}})
    monkeypatch.setattr(cluster_tasks, "run_tasks", lambda client, tasks, store, log, **_: given.extend(t.key for t in tasks))
    cluster_tasks.run_sweep(None, tmp_path, ["depth-1", "kernel-5", "source"], (0, 1), log=lambda line: None)
    # Seed by seed, the most multiply-adds first (kernel 5, then the source, then one conv layer).
    assert given == ["kernel-5-seed0", "source-seed0", "depth-1-seed0", "kernel-5-seed1", "source-seed1", "depth-1-seed1"]


def test_the_local_cluster_is_sized_to_the_cores_and_the_memory():
    gib = 2**30
    assert cluster.local_size(None, None, cores=2, memory=24 * gib) == (2, 1)    # a worker per core
    assert cluster.local_size(None, None, cores=16, memory=16 * gib) == (8, 1)   # 2 GiB each at least
    assert cluster.local_size(None, None, cores=4, memory=1 * gib) == (1, 1)
    assert cluster.local_size(3, None, cores=16, memory=4 * gib) == (3, 5)       # asked for: as asked
    assert cluster.local_size(None, 2, cores=8, memory=64 * gib) == (4, 2)
    assert cluster.local_size(None, None, processes=False, cores=16, memory=gib) == (16, 1)   # grading: threads


def test_bad_addresses_and_worker_counts_are_refused():
    with pytest.raises(ValueError, match="scheduler: expected an address like tcp://HOST:8786, got 'localhost'"):
        cluster.scheduler_address("localhost")
    with pytest.raises(ValueError, match="workers: expected at least 1, got 0"):
        with cluster.connect(workers=0):
            pass
    assert cluster.option_problems("localhost", 0, "--jobs") == [
        "--jobs must be at least 1, got 0",
        "--scheduler: expected an address like tcp://HOST:8786, got 'localhost'"]
    assert cluster.option_problems("tcp://10.0.0.5:8786", 2, "--workers") == []


# A client in a process of its own, run with Ctrl-C: what finished stays, the rest is re-run.
INTERRUPTED_JOB = textwrap.dedent("""
    import json, os, signal, sys, time
    from pathlib import Path
    from course_utils import cluster

    # Ctrl-C as in a terminal: a test run started in the background by a shell inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def work(n, seconds):
        time.sleep(seconds)
        return n * n

    def store(task, value):
        path = OUT / f"{task.key}.json"
        tmp = path.with_name(".tmp-" + path.name)
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
        with open(OUT.parent / "stored.log", "a") as log:
            log.write(task.key + "\\n")
        return f"{task.key} = {value}"

    OUT = Path(sys.argv[2])
    # On the first run the later tasks are slow, so Ctrl-C lands while they run, however
    # long the test takes to read the third progress line on a busy machine.
    slow = 3.0 if sys.argv[3] == "first" else 0.4
    tasks = [cluster.Task(f"n{n}", work, (n, 0.4 if n < 4 else slow)) for n in range(12)]
    todo = [t for t in tasks if not (OUT / f"{t.key}.json").exists()]
    print(f"{len(tasks) - len(todo)} stored; {len(todo)} to run", flush=True)
    try:
        with cluster.connect(sys.argv[1], log=lambda line: None) as client:
            cluster.run_tasks(client, todo, store, log=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
""")


def run_job(script: Path, address: str, out: Path, interrupt_after: int | None):
    process = subprocess.Popen([sys.executable, str(script), address, str(out),
                                "first" if interrupt_after else "again"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines, progress = [], 0
    watchdog = threading.Timer(90, process.kill)   # bounded, even if the job hangs without a word
    watchdog.start()
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            progress += line.startswith("[")
            if line.startswith("[") and progress == interrupt_after:   # Ctrl-C, once
                process.send_signal(signal.SIGINT)
        return process.wait(timeout=60), lines, process.stderr.read()
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()


def test_ctrl_c_keeps_finished_results_and_a_rerun_resumes(local_client, tmp_path):
    script, out = tmp_path / "job.py", tmp_path / "out"
    script.write_text(INTERRUPTED_JOB)
    out.mkdir()
    address = local_client.scheduler.address
    code, lines, stderr = run_job(script, address, out, interrupt_after=3)
    assert code == 130, (lines, stderr)
    assert lines[0] == "0 stored; 12 to run" and lines[-1] == "interrupted", lines
    first = sorted(p.name for p in out.iterdir())
    assert 3 <= len(first) < 12, first
    assert all(not name.startswith(".tmp") for name in first)
    code, lines, stderr = run_job(script, address, out, interrupt_after=None)
    assert code == 0, (lines, stderr)
    assert lines[0] == f"{len(first)} stored; {12 - len(first)} to run"
    check_progress(lines[1:], 12 - len(first))
    stored = (tmp_path / "stored.log").read_text().split()
    assert sorted(stored) == sorted(f"n{n}" for n in range(12)), "each result stored exactly once"
    for n in range(12):
        assert json.loads((out / f"n{n}.json").read_text()) == n * n


# --- for real: `dask scheduler` and two `dask worker` processes on 127.0.0.1 --------------------

VARIANTS, SEEDS = ("depth-1", "filters-8"), (0, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalProcesses:
    """A scheduler and workers started as an instructor would, each in a process group of its own."""

    def __init__(self, log_folder: Path):
        self.log_folder, self.processes = log_folder, {}
        self.env = {k: v for k, v in os.environ.items() if k != "MNIST_PATH"}  # workers get MNIST from the client
        self.env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        self.address = f"tcp://127.0.0.1:{free_port()}"

    def start(self, name: str, command: str, *args: str, env: dict | None = None) -> None:
        dask = Path(sys.executable).with_name("dask")   # the command an instructor types
        program = [str(dask), command] if dask.exists() else [sys.executable, "-m", f"distributed.cli.dask_{command}"]
        with open(self.log_folder / f"{name}.log", "w") as log:
            self.processes[name] = subprocess.Popen(
                program + list(args), cwd=self.log_folder, env=env or self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def start_scheduler(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self.start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", port,
                   "--no-dashboard", "--idle-timeout", "300")   # it ends by itself if ever left behind

    def start_worker(self, name: str, env: dict | None = None) -> None:
        self.start(name, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                   "--nworkers", "1", "--name", name, "--no-dashboard", "--death-timeout", "30", env=env)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        try:
            os.killpg(process.pid, signal.SIGKILL)   # the nanny and the worker it started
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def owner_of(self, pid: int) -> str:
        """Which of our processes started ``pid`` (the worker runs in a child of `dask worker`)."""
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return next(name for name, p in self.processes.items() if p.pid in (pid, parent))


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory, mnist):
    """Everything the real-cluster tests read, done once: a tiny sweep with a worker killed."""
    from course_utils.experiments import sweep

    folder = tmp_path_factory.mktemp("real-cluster")
    processes = LocalProcesses(folder)
    (x_train, y_train), (x_test, y_test) = mnist
    data = (x_train[:400], y_train[:400]), (x_test[:300], y_test[:300])
    schedule = sweep.Schedule(epochs=1, batch_size=100, train_images=300, validation_images=100)
    found = {"lines": [], "killed": None, "in_flight": None, "folder": folder, "schedule": schedule,
             "address": processes.address}
    began = time.monotonic()
    try:
        processes.start_scheduler()
        processes.start_worker("worker-a")
        processes.start_worker("worker-b")
        with cluster.connect(processes.address, log=found["lines"].append) as client:
            client.wait_for_workers(2, timeout=180)
            pids = client.run(os.getpid)
            names = {address: processes.owner_of(pid) for address, pid in pids.items()}

            def log(line):
                found["lines"].append(line)
                match = PROGRESS.match(line)
                if match and found["killed"] is None:   # the first result: kill the other worker mid-task
                    victim = next(a for a in names if a != match[5])
                    found["in_flight"] = list(client.processing(workers=[victim])[victim])
                    processes.kill(names[victim])
                    found["killed"], found["survivor"] = victim, match[5]

            found["written"] = cluster_tasks.run_sweep(client, folder / "sweep", VARIANTS, SEEDS, schedule, data, log=log)
            found["sweep_seconds"] = time.monotonic() - began
            found["rerun"] = []
            found["rewritten"] = cluster_tasks.run_sweep(client, folder / "sweep", VARIANTS, SEEDS, schedule, data,
                                                   log=found["rerun"].append)
            found["grading"] = grade_through(processes.address, folder)
            # A worker whose `import course_utils` fails (a shadowing package first on its path).
            shadow = folder / "shadow" / "course_utils"
            shadow.mkdir(parents=True)
            (shadow / "__init__.py").write_text("raise ImportError('this worker has no course package')\n")
            processes.start_worker("worker-broken", env={**processes.env, "PYTHONPATH": str(shadow.parent)})
            client.wait_for_workers(2, timeout=180)
            broken = [a for a, pid in client.run(os.getpid).items() if processes.owner_of(pid) == "worker-broken"]
            with pytest.raises(cluster.WorkersNotReady) as not_ready:
                cluster.check_workers(client)
            found["broken"], found["not_ready"] = broken, str(not_ready.value)
        yield found
    finally:
        processes.stop_all()
        print(f"real cluster: {time.monotonic() - began:.1f} s; logs in {folder}")


GRADED_EXERCISES = "ex-output-size,ex-param-count"


def write_notebook(path: Path, cells) -> None:
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(cells, bytes):
        path.write_bytes(cells)
        return
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)


def grade_through(address: str, folder: Path) -> dict:
    """`make grade` on the cluster: four submissions, graded by scripts/grade.py --scheduler."""
    from course_utils.grading import sandbox

    sys.path.insert(0, str(ROOT / "tests"))
    from grading_corpus.corpus import HONEST

    if sandbox.sandbox_available():
        return {"skipped": sandbox.sandbox_available()}
    submissions, out = folder / "submissions", folder / "grades"
    out.mkdir()
    write_notebook(submissions / "ann" / "homework.ipynb", [HONEST["my_output_size"], HONEST["my_param_count"]])
    write_notebook(submissions / "bob" / "homework.ipynb",
                   [HONEST["my_output_size"], "def my_param_count(H, K, M):\n    return H * H * K * M"])
    write_notebook(submissions / "cem.ipynb", ["x = 1"])
    write_notebook(submissions / "dan.ipynb", b"{not a notebook")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(submissions), "--scheduler",
                          address, "--exercises", GRADED_EXERCISES, "--out", str(out / "grades.csv")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    rows = {}
    if run.returncode == 0:
        with open(out / "grades.csv", newline="") as file:
            rows = {row["student"]: row for row in csv.DictReader(file)}
    return {"run": run, "rows": rows}


def test_the_sweep_survives_a_killed_worker_with_every_result_once(real_cluster):
    from course_utils.experiments import sweep

    folder, schedule = real_cluster["folder"] / "sweep", real_cluster["schedule"]
    expected = {f"{name}-seed{seed}.json" for name in VARIANTS for seed in SEEDS}
    assert {p.name for p in folder.iterdir()} == expected   # nothing else: no temporary, no duplicate
    assert sorted(p.name for p in real_cluster["written"]) == sorted(expected)
    for name in VARIANTS:
        for seed in SEEDS:
            result = sweep.read_result(folder / f"{name}-seed{seed}.json")
            assert sweep.is_done(folder / f"{name}-seed{seed}.json", sweep.VARIANTS[name], seed, schedule)
            assert 0.0 <= result["val_accuracy"] <= 1.0 and "test_accuracy" not in result
            assert result["environment"]["threads"] == 1   # `dask worker` with no thread setting: one
    lines = [line for line in real_cluster["lines"] if line.startswith("[")]
    matches = check_progress(lines, 4)
    assert sorted(m[3].split(":")[0] for m in matches) == sorted(f"{n} seed {s}" for n in VARIANTS for s in SEEDS)


def test_the_killed_worker_s_task_was_finished_by_the_other(real_cluster):
    killed, in_flight = real_cluster["killed"], real_cluster["in_flight"]
    assert killed is not None and in_flight, "a worker must have been killed while it ran a task"
    matches = [PROGRESS.match(line) for line in real_cluster["lines"] if line.startswith("[")]
    assert all(m[5] != killed for m in matches[1:]), "no result may come from the killed worker"
    finished_by = {m[3].split(":")[0].replace(" seed ", "-seed"): m[5] for m in matches}
    for key in in_flight:
        assert finished_by[key.rsplit("-", 1)[0]] == real_cluster["survivor"]


def test_a_rerun_of_the_sweep_trains_nothing(real_cluster):
    assert real_cluster["rewritten"] == []
    assert real_cluster["rerun"] == [f"4 runs already stored in {real_cluster['folder'] / 'sweep'}; 0 to train"]


def test_a_class_is_graded_through_the_address(real_cluster):
    grading = real_cluster["grading"]
    if "skipped" in grading:
        pytest.skip(f"no sandbox to grade in: {grading['skipped']}")
    run, rows = grading["run"], grading["rows"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Dask scheduler {real_cluster['address']}" in run.stdout
    progress = [line for line in run.stdout.splitlines() if line.startswith("[")]
    check_progress(progress, 4)
    expected = {"ann/homework.ipynb": ("2", "1", "1"), "bob/homework.ipynb": ("1", "1", "0"),
                "cem.ipynb": ("0", "0", "0"), "dan.ipynb": ("0", "0", "0")}
    assert {student: (row["total"], row["ex-output-size"], row["ex-param-count"]) for student, row in rows.items()} \
        == expected
    assert rows["dan.ipynb"]["status"].startswith("unreadable")
    assert all(rows[s]["status"] == "ok" for s in ("ann/homework.ipynb", "bob/homework.ipynb", "cem.ipynb"))


def test_a_worker_without_the_course_package_is_named(real_cluster):
    assert len(real_cluster["broken"]) == 1
    worker = real_cluster["broken"][0]
    assert f"{worker} (host {socket.gethostname()}) cannot import course_utils (ImportError: this worker has no " \
           f"course package)" in real_cluster["not_ready"]
    assert real_cluster["not_ready"].count("cannot import") == 1, "only the broken worker may be named"
