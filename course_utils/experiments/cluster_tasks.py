"""The experiments' runs as Dask tasks (course_utils.cluster runs them): the architecture
sweep and the selection protocol of chapter 10, and the runs of chapter 7.

Each task trains one run on a worker and returns its record as plain data; the client
writes it (one JSON file per run) the moment it arrives, so a stopped run resumes and a run
is never stored twice. A worker prepares MNIST once for all its tasks. The experiments'
modules (and with them TensorFlow) are imported inside the functions, so that a command
can list and plan runs while the cluster starts.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from course_utils.cluster import SHARED, Task, check_workers, run_tasks

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
    from course_utils.experiments import sweep

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
    """``data`` (raw MNIST), or this machine's when some worker has no ``$MNIST_PATH``, for
    run_tasks to send once to every worker; None when every worker reads its own."""
    reports = check_workers(client)
    if data is None and any(report["mnist"] is None for report in reports.values()):
        data = load_raw_mnist()
        log(f"MNIST sent once to the {len(reports)} worker(s) (not every worker has MNIST_PATH)")
    return data


def _mnist_arg(shared):
    """What a task takes for its ``data``: the data run_tasks sends, or None (its own MNIST)."""
    return SHARED if shared is not None else None


def selection_task(stage: str, name: str, seed: int, data=None) -> dict:
    """Runs on a worker: one run of chapter 10's protocol, ``stage`` "finalists" (trained and
    tested once, :func:`course_utils.experiments.selection.train_finalist`) or "plateau" (trained until its
    training accuracy stops rising, :func:`course_utils.experiments.selection.train_to_plateau`)."""
    from course_utils.experiments import selection

    train = {"finalists": selection.train_finalist, "plateau": selection.train_to_plateau}[stage]
    return train(name, seed, _prepared_mnist(data))


def run_selection(client, stage: str, pairs: list[tuple[str, int]], results_dir: Path, data=None,
                  log=print) -> list[Path]:
    """Run the (variant, seed) ``pairs`` of ``stage`` not stored yet in ``results_dir``, each
    stored as it finishes (one JSON file per run, written here). Returns the paths written."""
    from course_utils.experiments import selection, sweep

    todo = [(n, s) for n, s in pairs if selection.read(selection.result_path(results_dir, n, s)) is None]
    log(f"{stage}: {len(pairs) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    if not todo:
        return []
    shared = _share_mnist(client, data, log)
    tasks = [Task(f"{stage}-{n}-seed{s}", selection_task, (stage, n, s, _mnist_arg(shared)))
             for n, s in sorted(todo, key=lambda pair: (-sweep.multiply_adds(pair[0]), pair[1]))]
    return _run_storing(client, tasks, shared, lambda r: selection.result_path(results_dir, r["variant"], r["seed"]),
                        _selection_line, log)


def training_well_task(name: str, seed: int, data=None) -> dict:
    """Runs on a worker: one run of the chapter "Training well" (course_utils.experiments.training_well)."""
    from course_utils.experiments import training_well

    return training_well.train_run(name, seed, _prepared_mnist(data))


def run_training_well(client, pairs: list[tuple[str, int]], results_dir: Path, data=None, log=print) -> list[Path]:
    """Run the (run, seed) ``pairs`` of "Training well" not stored yet in ``results_dir``, in
    their order, each stored as it finishes. Returns the paths written."""
    from course_utils.experiments import training_well as tw

    todo = [(n, s) for n, s in pairs if tw.read(tw.result_path(results_dir, n, s)) is None]
    log(f"training-well: {len(pairs) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    if not todo:
        return []
    shared = _share_mnist(client, data, log)
    tasks = [Task(f"training-well-{n}-seed{s}", training_well_task, (n, s, _mnist_arg(shared))) for n, s in todo]
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
    """Run ``tasks`` (``shared``: the MNIST sent to the workers, or None); write each value
    here, as it arrives, to ``path_of(value)`` (atomically). Returns the paths written."""
    from course_utils.experiments import sweep

    written = []

    def store(task, value):
        path = path_of(value)
        sweep.write_result(path, value)
        written.append(path)
        return line_of(value)

    run_tasks(client, tasks, store, log, shared=shared)
    return written


def sweep_todo(results_dir: Path, names=None, seeds=None, schedule=None) -> tuple[list, list]:
    """The sweep's planned (variant, seed) pairs, and those of them not stored yet in ``results_dir``."""
    from course_utils.experiments import sweep

    schedule = schedule or sweep.SCHEDULE
    planned = sweep.planned_runs(names, seeds)
    return planned, [(name, seed) for name, seed in planned if not sweep.is_done(
        sweep.result_path(results_dir, name, seed), sweep.VARIANTS[name], seed, schedule)]


def run_sweep(client, results_dir: Path, names=None, seeds=None, schedule=None, data=None,
              log=print) -> list[Path]:
    """:func:`course_utils.experiments.sweep.run_sweep` on the cluster: same files, same skipping of stored runs.

    ``data`` (raw MNIST as ``load_mnist`` returns it) is sent once to every worker when
    given, or when some worker has no ``$MNIST_PATH``; otherwise each worker reads its own.
    Returns the paths written in this call.
    """
    from course_utils.experiments import sweep

    schedule = schedule or sweep.SCHEDULE
    planned, todo = sweep_todo(results_dir, names, seeds, schedule)
    log(f"{len(planned) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    if not todo:
        return []
    shared = _share_mnist(client, data, log)
    plain = dataclasses.asdict(schedule)
    tasks = [Task(f"{name}-seed{seed}", sweep_task, (name, seed, plain, _mnist_arg(shared)))
             for name, seed in sweep.training_order(todo)]
    return _run_storing(client, tasks, shared, lambda r: sweep.result_path(results_dir, r["variant"], r["seed"]),
                        _sweep_line, log)
