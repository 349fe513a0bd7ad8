"""Run the course's long jobs as tasks on a Dask cluster: this machine by default, or many.

The architecture sweep (``make experiments``) and grading a class (``make grade``) are lists
of independent tasks. :func:`connect` gives a ``dask.distributed`` client: with no address,
a ``LocalCluster`` started in this process (worker processes sharing out the cores);
with ``scheduler="tcp://HOST:PORT"`` (or ``$DASK_SCHEDULER_ADDRESS``), an existing cluster.
:func:`run_tasks` submits the tasks and hands each result, as it arrives, to a ``store``
function that runs here, in the client: workers return plain data and never write the
results, so they need no shared file system, and every result is stored once, even when a
worker dies and Dask runs its task again elsewhere. :func:`check_workers` first asks every
worker whether it can run the tasks at all and names the workers that cannot.

>>> from course_utils import cluster
>>> tasks = [cluster.Task(f"square-{n}", pow, (n, 2)) for n in range(3)]
>>> with cluster.connect(workers=1, log=lambda line: None) as client:   # doctest: +SKIP
...     cluster.run_tasks(client, tasks, lambda task, value: f"{task.key} = {value}")
"""

from __future__ import annotations

import dataclasses
import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# A worker process runs one task at a time, and its TensorFlow and BLAS thread pools stay
# within its share of the cores (remote workers: one thread, see _timed).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
# Threads per training task on the local cluster: one single-threaded worker per core. One
# epoch of the source model on 2 cores took 18.0 s on 2 threads and 30.5 s on 1, so two runs
# side by side beat one run on both cores. benchmarks/cluster_sweep.py, six of the sweep's runs:
# 1.09 times the serial loop's throughput (median of 16 rounds; one worker on 2 threads: 1.02).
TASK_THREADS = 1
# A worker training the sweep's runs held 1.0 GB (resident, measured); twice that each.
MEMORY_PER_WORKER = 2 * 2**30
RETRIES = 1            # a task that raised is run once more (a worker short of memory, a flaky disk)
ALLOWED_FAILURES = 3   # a task whose worker died is run again on another worker up to this often
WORKER_WAIT_S = 60.0   # how long to wait for the first worker of an existing cluster

# Checked on every worker by check_workers(). The source is compiled into a function of no
# module, so Dask ships it by value: it runs on a worker that cannot import course_utils.
_PROBE_SOURCE = '''
def probe(modules, tools):
    import importlib, os, shutil, socket, sys
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:
            missing.append(f"{name} ({type(error).__name__}: {error})")
    mnist = os.environ.get("MNIST_PATH") or ""
    return {"host": socket.gethostname(), "python": sys.version.split()[0], "cores": os.cpu_count(),
            "missing": missing, "tools_missing": [t for t in tools if shutil.which(t) is None],
            "mnist": mnist if mnist and os.path.isfile(mnist) else None}
'''


def _probe_function():
    namespace = {"__name__": "course_utils_cluster_probe"}   # a module no worker has: sent by value
    exec(compile(_PROBE_SOURCE, "<course_utils.cluster probe>", "exec"), namespace)
    return namespace["probe"]


@dataclasses.dataclass(frozen=True)
class Task:
    """One unit of work: ``function(*args)`` on some worker; ``key`` names it in progress lines.

    ``function`` must be importable on the workers (a module-level function of an installed
    package); ``args`` are plain data or Dask futures (data scattered once to the workers).
    """

    key: str
    function: Callable
    args: tuple = ()


class WorkersNotReady(RuntimeError):
    """A worker of the cluster cannot run the tasks (a package or a tool is missing)."""


class TasksFailed(RuntimeError):
    """Some tasks failed even after their retries; the others were stored."""

    def __init__(self, failures: dict[str, str]):
        self.failures = failures
        lines = "\n".join(f"  {key}: {why}" for key, why in failures.items())
        super().__init__(f"{len(failures)} task(s) failed; the others are stored, and running the same "
                         f"command again retries only these:\n{lines}")


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The address given, else ``$DASK_SCHEDULER_ADDRESS``, else None (a local cluster)."""
    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address is not None and "://" not in address and ":" not in address:
        raise ValueError(f"scheduler: expected an address like tcp://HOST:8786, got {address!r}")
    return address


def option_problems(scheduler: str | None, workers: int | None, workers_option: str) -> list[str]:
    """What is wrong with a command's ``--scheduler`` and its count of local workers (named
    ``workers_option``, such as ``--jobs``): the messages, or an empty list."""
    problems = [] if workers is None or workers >= 1 else [f"{workers_option} must be at least 1, got {workers}"]
    try:
        scheduler_address(scheduler)
    except ValueError as error:
        problems.append(f"--{error}")
    return problems


def local_size(workers: int | None, threads: int | None, processes: bool = True, cores: int | None = None,
               memory: int | None = None) -> tuple[int, int]:
    """(worker processes or task slots, threads per task) of a local cluster; see :func:`connect`.

    Unless ``workers`` is given, a training worker per ``MEMORY_PER_WORKER`` of the
    memory at most: Dask gives each worker an equal share of the memory it may use (its
    ``MEMORY_LIMIT``: the machine's, or less under a container's or ulimit's cap) and
    restarts one that outgrows it, again and again.
    """
    from distributed.system import MEMORY_LIMIT

    cores = cores or os.cpu_count() or 1
    if threads is None:
        threads = max(1, cores // workers) if workers else min(TASK_THREADS, cores)
    count = workers or max(1, cores // threads)
    if processes and workers is None:
        count = max(1, min(count, (memory or MEMORY_LIMIT) // MEMORY_PER_WORKER))
    return count, threads


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, log=print, threads: int | None = None,
            processes: bool = True) -> Iterator:
    """A ``distributed.Client`` for the tasks; the local cluster is closed on leaving.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running ``dask scheduler``. Default: ``$DASK_SCHEDULER_ADDRESS``,
        else a ``LocalCluster`` started here.
    workers : int, optional
        Tasks the local cluster runs at once (default: one per core); ignored with a scheduler.
    threads : int, optional
        TensorFlow and BLAS threads of each local worker process. Default: the cores shared
        out among ``workers``; with neither given, ``TASK_THREADS`` (one) per worker, so
        one worker per core (measured best on 2 cores, ``benchmarks/cluster_sweep.py``),
        or fewer where the memory is short (:func:`local_size`).
    processes : bool
        True (training): one worker process per task slot, each running one task at a time
        on ``threads`` threads. False (grading,
        where each task waits on a sandbox of its own): one worker in this process with
        ``workers`` threads, which starts in a moment.
    """
    import dask
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    cluster = None
    if address is None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers: expected at least 1, got {workers}")
        count, threads = local_size(workers, threads, processes=processes)
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            if processes:
                # Each worker imports Keras (and TensorFlow) as it starts, not in its first task:
                # with connect_while, while this process imports them too.
                cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, preload=["keras"],
                                       dashboard_address=None, env={name: str(threads) for name in ONE_THREAD})
            else:
                cluster = LocalCluster(n_workers=1, threads_per_worker=count, processes=False,
                                       dashboard_address=None)
        client = Client(cluster)
        log(f"Local Dask cluster: {count} worker process(es), one task at a time each, {threads} thread(s) per task"
            if processes else f"Local Dask cluster: {count} task(s) at a time in this process")
    else:
        try:
            client = Client(address, timeout=30)
        except OSError as error:
            raise ConnectionError(f"scheduler: no Dask scheduler answered at {address} ({error}); "
                                  f"start one with `dask scheduler` or leave the option out") from None
        log(f"Dask scheduler {address}")
    try:
        if address is not None:
            _wait_for_workers(client, address)
        yield client
    finally:
        client.close()
        if cluster is not None:
            _close_quietly(cluster)


@contextlib.contextmanager
def connect_while(work: Callable, scheduler: str | None = None, workers: int | None = None, log=print,
                  threads: int | None = None) -> Iterator:
    """:func:`connect`, started in a second thread while this one runs ``work()``; yields
    ``(client, work's result)``. A local cluster's workers then start while this process
    imports what it needs (TensorFlow, a few seconds), instead of after it: on 2 cores the
    two overlap. Errors of either are raised here; the cluster is closed on leaving."""
    from concurrent.futures import ThreadPoolExecutor

    import distributed  # noqa: F401  (imported here first: the two threads import different modules)

    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(stack.enter_context, connect(scheduler, workers, log, threads))
            try:
                value = work()
            finally:
                client = starting.result()
        yield client, value


def _close_quietly(cluster) -> None:
    """Close the local cluster; a worker slow to exit on a busy machine is killed without a warning."""
    import logging

    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    nanny.setLevel(logging.ERROR)
    try:
        cluster.close()
    finally:
        nanny.setLevel(level)


def _wait_for_workers(client, address: str) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise WorkersNotReady(f"no worker joined the scheduler at {address} within {WORKER_WAIT_S:.0f} s; "
                              f"start some with `dask worker {address} --nthreads 1`") from None


def check_workers(client, modules=("course_utils",), tools=()) -> dict[str, dict]:
    """Ask every worker whether it can import ``modules`` and finds ``tools``; their reports.

    Raises :class:`WorkersNotReady` naming each worker that cannot, and why.
    """
    reports = client.run(_probe_function(), tuple(modules), tuple(tools), on_error="return")
    problems = []
    for worker, report in sorted(reports.items()):
        if isinstance(report, BaseException):
            problems.append(f"{worker}: the check itself failed ({type(report).__name__}: {report})")
            continue
        if report["missing"]:
            problems.append(f"{worker} (host {report['host']}) cannot import {'; '.join(report['missing'])}: "
                            f"install the course there (`pip install -e .` of this repository)")
        if report["tools_missing"]:
            problems.append(f"{worker} (host {report['host']}) has no {', '.join(report['tools_missing'])} "
                            f"on its PATH (Debian: `apt-get install bubblewrap util-linux`)")
    if problems:
        raise WorkersNotReady("these Dask workers cannot run the tasks:\n  " + "\n  ".join(problems))
    return reports


def _timed(function, *args):
    """Runs on a worker: the task's value, the worker's address and the seconds it took.

    In a worker process of its own (not the client's, as with ``processes=False``), sets
    ``ONE_THREAD`` where the worker's environment does not say otherwise, before the task
    first imports TensorFlow (workers started by ``dask worker`` elsewhere included).
    """
    from distributed import get_worker

    address = get_worker().address
    if not address.startswith("inproc://"):
        for name, value in ONE_THREAD.items():
            os.environ.setdefault(name, value)
    began = time.perf_counter()
    value = function(*args)
    return {"value": value, "worker": address, "seconds": time.perf_counter() - began}


def run_tasks(client, tasks: list[Task], store: Callable[[Task, object], str], log=print,
              retries: int = RETRIES) -> list[str]:
    """Run ``tasks`` on the cluster, started in their order; call ``store(task, value)`` here
    as each one finishes. A task is submitted when a worker thread is free for it, so the
    scheduler never holds more than the workers can start.

    Each finished task is stored once, in the order they finish, and a progress line
    ``[i/n] <what store returned> (<seconds> s on <worker>)`` is logged. A task whose
    worker dies is run again on another (``ALLOWED_FAILURES`` times on the local cluster;
    an existing scheduler's ``distributed.scheduler.allowed-failures``, 3 by default); one
    that raises is run again ``retries`` times, then reported. On any exit (Ctrl-C included) the tasks not finished
    are cancelled; what was stored stays stored. Returns the keys stored.

    Raises
    ------
    TasksFailed
        After every other task was stored, if some failed for good.
    """
    from distributed import as_completed

    keys = [task.key for task in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError(f"tasks: expected unique keys, got duplicates {sorted({k for k in keys if keys.count(k) > 1})}")
    run = uuid.uuid4().hex[:8]   # a fresh Dask key per call: never the leftovers of an interrupted run
    waiting, in_flight, finished = list(reversed(tasks)), {}, as_completed()

    def top_up() -> None:
        """Submit the next tasks, in order, until every worker thread has one. Submitting
        them all at once would leave the order to Dask's heuristics, which start a small
        group of tasks (keys of the same prefix) before a large one's queue."""
        slots = max(1, sum(client.nthreads().values()))   # a worker that joins gets the next one
        while waiting and len(in_flight) < slots:
            task = waiting.pop()
            future = client.submit(_timed, task.function, *task.args, key=f"{task.key}-{run}", pure=False,
                                   retries=retries)
            in_flight[future] = task
            finished.add(future)

    stored, failures = [], {}
    try:
        top_up()
        for future in finished:
            task = in_flight.pop(future)
            top_up()   # the next task starts before this one's result is stored
            try:
                outcome = future.result()
            except Exception as error:  # the task's own exception, or KilledWorker after ALLOWED_FAILURES
                failures[task.key] = f"{type(error).__name__}: {error}"
                log(f"[{len(stored) + len(failures)}/{len(tasks)}] {task.key} FAILED ({failures[task.key]})")
                continue
            line = store(task, outcome["value"])
            stored.append(task.key)
            log(f"[{len(stored) + len(failures)}/{len(tasks)}] {line} "
                f"({outcome['seconds']:.1f} s on {outcome['worker']})")
            future.release()
    finally:
        if in_flight:
            client.cancel(list(in_flight))
    if failures:
        raise TasksFailed(failures)
    return stored


# --- the architecture sweep ------------------------------------------------------------------

def load_raw_mnist(data=None):
    """The raw MNIST arrays: ``data`` when given (scattered by the client), else this machine's."""
    if data is not None:
        return data
    from course_utils.data import load_mnist
    return load_mnist()


def sweep_task(name: str, seed: int, schedule: dict, data=None) -> dict:
    """Runs on a worker: train sweep variant ``name`` with ``seed``; its result record.

    ``data`` is the raw ``((x_train, y_train), (x_test, y_test))`` of ``load_mnist``, or None
    to read it on the worker (``$MNIST_PATH`` there).
    """
    from course_utils import sweep

    return sweep.train_variant(sweep.VARIANTS[name], seed, _prepared_mnist(data), sweep.Schedule(**schedule))


_PREPARED = {}   # this worker's prepared MNIST, kept for its next tasks (one entry)


def _prepared_mnist(data=None):
    """Scaled images and one-hot labels of ``data`` (or of this machine's MNIST), prepared
    once per worker process: reading and scaling take a second or two, which the serial
    loop paid once per sweep and a worker would otherwise pay once per task."""
    from course_utils.data import one_hot, scale_images

    if data is None:
        path = os.environ.get("MNIST_PATH")
        key = ("file", path, os.stat(path).st_mtime_ns) if path and os.path.exists(path) else ("keras",)
    else:   # the scattered data stay alive in the entry, so their id is not reused
        key = ("sent", id(data))
    entry = _PREPARED.get("mnist")
    if entry is None or entry[0] != key:
        (x_train, y_train), (x_test, y_test) = load_raw_mnist(data)
        prepared = (scale_images(x_train), one_hot(y_train)), (scale_images(x_test), one_hot(y_test))
        for array in (a for pair in prepared for a in pair):
            array.setflags(write=False)   # shared by the tasks: none may change it for the next
        _PREPARED["mnist"] = entry = (key, data, prepared)
    return entry[2]


def _sweep_line(result: dict) -> str:
    import statistics
    return (f"{result['variant']} seed {result['seed']}: validation accuracy {result['val_accuracy']:.4f}, "
            f"{result['parameters']:,} parameters, "
            f"{statistics.median(result['epoch_seconds']):.1f} s/epoch")


def _share_mnist(client, data, log):
    """``data`` (raw MNIST), or this machine's when some worker has no ``$MNIST_PATH``, sent
    once to every worker; returns its Dask future, or None when every worker reads its own."""
    reports = check_workers(client)
    if data is None and any(report["mnist"] is None for report in reports.values()):
        data = load_raw_mnist()
        log(f"MNIST sent once to the {len(reports)} worker(s) (not every worker has MNIST_PATH)")
    return client.scatter([data], broadcast=True)[0] if data is not None else None


def selection_task(stage: str, name: str, seed: int, data=None) -> dict:
    """Runs on a worker: one run of chapter 10's protocol, ``stage`` "finalists" (trained and
    tested once, :func:`course_utils.selection.train_finalist`) or "plateau" (trained until its
    training accuracy stops rising, :func:`course_utils.selection.train_to_plateau`)."""
    from course_utils import selection

    train = {"finalists": selection.train_finalist, "plateau": selection.train_to_plateau}[stage]
    return train(name, seed, _prepared_mnist(data))


def run_selection(client, stage: str, pairs: list[tuple[str, int]], results_dir: Path, data=None,
                  log=print) -> list[Path]:
    """Run the (variant, seed) ``pairs`` of ``stage`` not stored yet in ``results_dir``, each
    stored as it finishes (one JSON file per run, written here). Returns the paths written."""
    from course_utils import selection, sweep

    todo = [(n, s) for n, s in pairs if selection.read(selection.result_path(results_dir, n, s)) is None]
    log(f"{stage}: {len(pairs) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    if not todo:
        return []
    shared = _share_mnist(client, data, log)
    tasks = [Task(f"{stage}-{n}-seed{s}", selection_task, (stage, n, s, shared))
             for n, s in sorted(todo, key=lambda pair: (-sweep.multiply_adds(pair[0]), pair[1]))]
    return _run_storing(client, tasks, shared, lambda r: selection.result_path(results_dir, r["variant"], r["seed"]),
                        _selection_line, log)


def training_well_task(name: str, seed: int, data=None) -> dict:
    """Runs on a worker: one run of the chapter "Training well" (course_utils.training_well)."""
    from course_utils import training_well

    return training_well.train_run(name, seed, _prepared_mnist(data))


def run_training_well(client, pairs: list[tuple[str, int]], results_dir: Path, data=None, log=print) -> list[Path]:
    """Run the (run, seed) ``pairs`` of "Training well" not stored yet in ``results_dir``, in
    their order, each stored as it finishes. Returns the paths written."""
    from course_utils import training_well as tw

    todo = [(n, s) for n, s in pairs if tw.read(tw.result_path(results_dir, n, s)) is None]
    log(f"training-well: {len(pairs) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    if not todo:
        return []
    shared = _share_mnist(client, data, log)
    tasks = [Task(f"training-well-{n}-seed{s}", training_well_task, (n, s, shared)) for n, s in todo]
    return _run_storing(client, tasks, shared, lambda r: tw.result_path(results_dir, r["run"], r["seed"]),
                        _training_well_line, log)


def _training_well_line(record: dict) -> str:
    final = record["final"]
    return (f"{record['run']} seed {record['seed']}: {final['epochs_trained']} epochs, validation loss "
            f"{final['val_loss']:.4f}, accuracy {final['val_accuracy']:.4f}")


def _selection_line(record: dict) -> str:
    history = record["history"]
    if "test_accuracy" in record:
        return (f"{record['variant']} seed {record['seed']}: validation {record['val_accuracy']:.4f}, "
                f"test {record['test_accuracy']:.4f}")
    return (f"{record['variant']} seed {record['seed']}: {len(history['accuracy'])} epochs, training accuracy "
            f"{history['accuracy'][-1]:.4f}, validation {history['val_accuracy'][-1]:.4f}")


def _run_storing(client, tasks: list[Task], shared, path_of: Callable, line_of: Callable, log) -> list[Path]:
    """Run ``tasks``; write each value here, as it arrives, to ``path_of(value)`` (atomically);
    release ``shared`` (the scattered MNIST) at the end. Returns the paths written."""
    from course_utils import sweep

    written = []

    def store(task, value):
        path = path_of(value)
        sweep.write_result(path, value)
        written.append(path)
        return line_of(value)

    try:
        run_tasks(client, tasks, store, log)
    finally:
        if shared is not None:
            shared.release()
    return written


def sweep_todo(results_dir: Path, names=None, seeds=None, schedule=None) -> tuple[list, list]:
    """The sweep's planned (variant, seed) pairs, and those of them not stored yet in ``results_dir``."""
    from course_utils import sweep

    schedule = schedule or sweep.SCHEDULE
    planned = sweep.planned_runs(names, seeds)
    return planned, [(name, seed) for name, seed in planned if not sweep.is_done(
        sweep.result_path(results_dir, name, seed), sweep.VARIANTS[name], seed, schedule)]


def run_sweep(client, results_dir: Path, names=None, seeds=None, schedule=None, data=None,
              log=print) -> list[Path]:
    """:func:`course_utils.sweep.run_sweep` on the cluster: same files, same skipping of stored runs.

    ``data`` (raw MNIST as ``load_mnist`` returns it) is sent once to every worker when
    given, or when some worker has no ``$MNIST_PATH``; otherwise each worker reads its own.
    Returns the paths written in this call.
    """
    from course_utils import sweep

    schedule = schedule or sweep.SCHEDULE
    planned, todo = sweep_todo(results_dir, names, seeds, schedule)
    log(f"{len(planned) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    if not todo:
        return []
    shared = _share_mnist(client, data, log)
    plain = dataclasses.asdict(schedule)
    tasks = [Task(f"{name}-seed{seed}", sweep_task, (name, seed, plain, shared))
             for name, seed in sweep.training_order(todo)]
    return _run_storing(client, tasks, shared, lambda r: sweep.result_path(results_dir, r["variant"], r["seed"]),
                        _sweep_line, log)


# --- grading a class --------------------------------------------------------------------------

SANDBOX_TOOLS = ("bwrap", "setpriv", "prlimit")


def grade_task(student: str, notebook: bytes, chapters: dict, options, requested=None) -> dict:
    """Runs on a worker: grade one submission sent as bytes; its grade as plain data.

    The notebook is written under its relative name ``student`` into a fresh folder of the
    worker (so the chapter it came from is still read off its name), graded there by
    :func:`course_utils.grading.grade_submission` in a sandbox of its own, and removed.
    """
    import tempfile
    from pathlib import PurePosixPath

    from course_utils import grading

    with tempfile.TemporaryDirectory(prefix="course-grading-") as folder:
        path = Path(folder).joinpath(*PurePosixPath(student).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(notebook)
        try:
            grade = grading.grade_submission(path, Path(folder), chapters, options, requested)
        except Exception as error:  # a bug of the grader's: this row says so, the others go on
            grade = grading.SubmissionGrade(student, f"grader error ({type(error).__name__}: {error})", {}, [])
    return dataclasses.asdict(grade)


def _given(value):
    return value


def _warm_up(labels) -> None:
    """Runs on every worker: start importing what the checkers of ``labels`` need (TensorFlow)."""
    from course_utils import grading

    grading.warm_up(labels)


def _grade_of(value: dict):
    from course_utils import grading

    verdicts = {label: grading.Verdict(**verdict) for label, verdict in value["verdicts"].items()}
    return grading.SubmissionGrade(**{**value, "verdicts": verdicts})


def _ready_to_grade(client, options, requested, log=print) -> None:
    """Every worker has the course, the sandbox (if used) and starts importing the checkers' needs;
    logs which limits hold on the workers (one line if they all agree, else one per worker)."""
    from course_utils.checks import EXERCISES
    from course_utils.grading import sandbox

    check_workers(client, tools=SANDBOX_TOOLS if options.sandboxed else ())
    if options.sandboxed:   # the grader's own check, on every worker (user namespaces, for one)
        unusable = {w: why for w, why in client.run(sandbox.sandbox_available).items() if why}
        if unusable:
            raise WorkersNotReady("these Dask workers cannot run the sandbox:\n  " + "\n  ".join(
                f"{worker}: {why}" for worker, why in sorted(unusable.items())))
    reports = client.run(sandbox.limits_report, options.limits, options.sandboxed, options.privileged,
                         options.submission_timeout)
    if len(set(reports.values())) == 1:
        log(f"limits: {next(iter(reports.values()))}")
    else:
        for worker, report in sorted(reports.items()):
            log(f"limits on {worker}: {report}")
    client.run(_warm_up, list(requested or EXERCISES))


def grade_submissions(client, paths: list[Path], root: Path, chapters: dict, options, requested=None,
                      log=print, kept=None) -> list:
    """Grade every notebook of ``paths`` (under ``root``) on the cluster; their grades, in order.

    Each worker receives the notebook's bytes and returns its grade as plain data, so no
    worker needs the submissions folder. A notebook that cannot be read here, or that is
    too large, is graded here (its row says why; nothing of it runs anywhere). A submission whose task
    failed for good (say, it killed Dask workers again and again) gets a row that says so.
    With ``kept`` (a :class:`course_utils.grading.store.GradeStore`), each grade is stored the
    moment it arrives, and a submission whose stored grade is still valid is not run again.
    """
    from course_utils import grading
    from course_utils.grading.store import grade_key

    grades, tasks, keys = {}, [], {}
    for path in paths:
        student = path.relative_to(root).as_posix()
        try:   # a plain file below root, never through a link (the grader runs outside the sandbox)
            notebook = grading.read_submission_bytes(path, root)
        except (OSError, ValueError):   # graded here (nothing runs); a task only for its progress line
            grade = grading.grade_submission(path, root, chapters, options, requested)
            tasks.append(Task(student, _given, (dataclasses.asdict(grade),)))
            continue
        if kept is not None:
            keys[student] = grade_key(student, notebook, chapters, options, requested)
            stored = kept.get(student, keys[student])
            if stored is not None:
                grades[student] = _grade_of(stored)
                continue
        tasks.append(Task(student, grade_task, (student, notebook, chapters, options, requested)))
    if grades:
        log(f"{len(grades)} submission(s) graded before, unchanged: their stored grades are used")
    if any(task.function is grade_task for task in tasks):
        _ready_to_grade(client, options, requested, log)

    def store(task, value):
        grade = grades[task.key] = _grade_of(value)
        if task.key in keys and not grade.status.startswith("grader error"):   # a grader's bug: try again
            kept.put(task.key, keys[task.key], value)
        return f"{grade.student}: {grade.total}/{len(grade.verdicts)} ({grade.status})"

    try:
        run_tasks(client, tasks, store, log)
    except TasksFailed as failed:
        for student, why in failed.failures.items():
            grades[student] = grading.SubmissionGrade(student, f"not graded: {why}"[:300], {}, [])
    return [grades[path.relative_to(root).as_posix()] for path in paths]
