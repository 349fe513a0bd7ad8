"""Run the course's long jobs as tasks on a Dask cluster: this machine by default, or many.

The architecture sweep (``make experiments``) and grading a class (``make grade``) are lists
of independent tasks (course_utils.experiments.cluster_tasks, course_utils.grading.cluster_tasks). :func:`connect` gives a ``dask.distributed`` client: with no address,
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
    package); ``args`` are plain data, or :data:`SHARED` for the data ``run_tasks`` sends once
    to every worker.
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
            processes: bool = True, preload: tuple[str, ...] = ("keras",)) -> Iterator:
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
    preload : tuple of str
        Modules each local worker process imports as it starts (with ``processes``):
        Keras for the training tasks; none for tasks that need no TensorFlow (it costs each
        worker about 8 s of CPU).
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
                cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, preload=list(preload),
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


class _Shared:
    def __repr__(self) -> str:
        return "cluster.SHARED"


# In a Task's args: the ``shared`` data given to run_tasks, sent once to every worker.
SHARED = _Shared()


class _SharedData:
    """``data`` scattered to every worker, scattered again after a worker's death lost it.

    Dask does not keep scattered data alive when a worker holding it dies, even with
    ``broadcast=True`` (dask/distributed#3149): the scheduler may forget the key, and the tasks
    that need it come back cancelled ("lost dependencies", "already forgotten")."""

    def __init__(self, client, data):
        self.client, self.data, self.future, self.sends = client, data, None, 0

    def args(self, task: Task) -> tuple[tuple, int]:
        """``task.args`` with SHARED replaced by the data's future, and the number of the send
        it uses (0: it uses none)."""
        if not any(a is SHARED for a in task.args):
            return task.args, 0
        if self.future is None:
            # hash=False: a fresh key each send (one the client still knew would not be sent again)
            self.future = self.client.scatter([self.data], broadcast=True, hash=False)[0]
            self.sends += 1
        return tuple(self.future if a is SHARED else a for a in task.args), self.sends

    def lost(self, send: int) -> bool:
        """Whether a task that used ``send`` and came back cancelled lost its data; the data
        are then sent again with the next task (once for all the tasks of one send)."""
        if send == self.sends:
            self.release()
        return send != 0

    def release(self) -> None:
        if self.future is not None:
            self.future.release()
            self.future = None


def run_tasks(client, tasks: list[Task], store: Callable[[Task, object], str], log=print,
              retries: int = RETRIES, shared=None) -> list[str]:
    """Run ``tasks`` on the cluster, started in their order; call ``store(task, value)`` here
    as each one finishes. A task is submitted when a worker thread is free for it, so the
    scheduler never holds more than the workers can start.

    Each finished task is stored once, in the order they finish, and a progress line
    ``[i/n] <what store returned> (<seconds> s on <worker>)`` is logged. A task whose
    worker dies is run again on another (``ALLOWED_FAILURES`` times on the local cluster;
    an existing scheduler's ``distributed.scheduler.allowed-failures``, 3 by default); one
    that raises is run again ``retries`` times, then reported. ``shared`` (data every task
    needs, such as MNIST) is sent once to every worker and stands for :data:`SHARED` in the
    tasks' args; when a worker's death loses it, it is sent again and the tasks that needed
    it run again (``ALLOWED_FAILURES`` times each). On any exit (Ctrl-C included) the tasks not finished
    are cancelled; what was stored stays stored. Returns the keys stored.

    Raises
    ------
    TasksFailed
        After every other task was stored, if some failed for good.
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    keys = [task.key for task in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError(f"tasks: expected unique keys, got duplicates {sorted({k for k in keys if keys.count(k) > 1})}")
    if shared is None and any(a is SHARED for task in tasks for a in task.args):
        raise ValueError("tasks: some take cluster.SHARED, but run_tasks was given no shared data")
    data = _SharedData(client, shared)
    waiting, in_flight, finished, losses = list(reversed(tasks)), {}, as_completed(), {}

    def top_up() -> None:
        """Submit the next tasks, in order, until every worker thread has one. Submitting
        them all at once would leave the order to Dask's heuristics, which start a small
        group of tasks (keys of the same prefix) before a large one's queue."""
        slots = max(1, sum(client.nthreads().values()))   # a worker that joins gets the next one
        while waiting and len(in_flight) < slots:
            task = waiting.pop()
            args, send = data.args(task)
            # a fresh Dask key per submission: never the leftovers of an interrupted run
            future = client.submit(_timed, task.function, *args, key=f"{task.key}-{uuid.uuid4().hex[:8]}",
                                   pure=False, retries=retries)
            in_flight[future] = task, send
            finished.add(future)

    stored, failures = [], {}
    try:
        top_up()
        for future in finished:
            task, send = in_flight.pop(future)
            try:
                outcome = future.result()
            except FutureCancelledError as error:
                if data.lost(send) and losses.get(task.key, 0) < ALLOWED_FAILURES:
                    losses[task.key] = losses.get(task.key, 0) + 1
                    log(f"{task.key} was cancelled ({error.reason}): the data sent to the workers were lost; "
                        f"sending them again and running it again")
                    waiting.append(task)
                    top_up()
                    continue
                failures[task.key] = f"{type(error).__name__}: {error}"
            except Exception as error:  # the task's own exception, or KilledWorker after ALLOWED_FAILURES
                failures[task.key] = f"{type(error).__name__}: {error}"
            top_up()   # the next task starts before this one's result is stored
            if task.key in failures:
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
        data.release()
    if failures:
        raise TasksFailed(failures)
    return stored
