"""The sweep on the local Dask cluster against the serial loop it replaced: same runs, taking turns.

Usage: python benchmarks/cluster_sweep.py [--variants depth-1 filters-8 ...] [--seeds 0 1]
                                          [--train-images 4000] [--epochs 1] [--rounds 2]
                                          [--one-worker]

Each round trains the same (variant, seed) runs, into fresh temporary folders, twice:

- serially, as ``make experiments`` did before: ``sweep.run_sweep`` in this process, where
  TensorFlow spreads each run over every core;
- on a local cluster of one single-threaded worker process per core (started here and
  timed), with ``cluster.run_sweep``.

With ``--one-worker`` a third side runs one worker whose TensorFlow uses every core (on 2
cores, what ``make experiments`` starts: ``cluster.TASK_THREADS``). The order alternates between
rounds. Prints each side's seconds per round, the medians and the throughput ratio
cluster / serial (goal: at least 1.0), then how the cluster's time divides: start-up (the
cluster, each worker's first TensorFlow import), the runs, and the overhead per task.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time

from reader_machine import announce, unset_build_overrides

REMOVED = unset_build_overrides()   # before NumPy loads; the cluster's workers inherit it

from course_utils import cluster, sweep  # noqa: E402
from course_utils.data import load_mnist, one_hot, scale_images  # noqa: E402

LINE = re.compile(r"\((\d+\.\d) s on (\S+)\)$")
CORES = os.cpu_count() or 1


def serial(names, seeds, schedule, raw) -> dict:
    """The loop that `make experiments` ran before: one run after the other, here."""
    (x_train, y_train), (x_test, y_test) = raw
    began = time.perf_counter()
    data = (scale_images(x_train), one_hot(y_train)), (scale_images(x_test), one_hot(y_test))
    with tempfile.TemporaryDirectory() as folder:
        sweep.run_sweep(data, folder, names, seeds, schedule, log=lambda line: None)
    return {"seconds": time.perf_counter() - began}


def on_cluster(names, seeds, schedule, raw, workers, threads) -> dict:
    """`make experiments` now: a local cluster started, the runs as tasks, the results written here.

    The serial side runs first, so this process's TensorFlow has chosen its threads before
    the cluster's nannies set OMP_NUM_THREADS here (Dask's pre-spawn environment)."""
    lines = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        with cluster.connect(workers=workers, log=lambda line: None, threads=threads) as client:
            started = time.perf_counter()
            # As `make experiments`: workers read $MNIST_PATH where set, else get the data once.
            cluster.run_sweep(client, folder, names, seeds, schedule, None if os.environ.get("MNIST_PATH") else raw,
                              log=lines.append)
            ran = time.perf_counter()
    tasks = [float(m[1]) for m in (LINE.search(line) for line in lines) if m]
    return {"seconds": time.perf_counter() - began, "start": started - began, "runs": ran - started,
            "task_seconds": tasks, "workers": workers}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["source", "depth-1", "filters-8", "kernel-5"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--validation-images", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one-worker", action="store_true",
                        help="also time one worker whose TensorFlow uses every core")
    args = parser.parse_args()
    announce(REMOVED)
    schedule = sweep.Schedule(epochs=args.epochs, train_images=args.train_images,
                              validation_images=args.validation_images)
    raw = load_mnist()
    runs = len(args.variants) * len(args.seeds)
    print(f"{runs} runs per side and round ({', '.join(args.variants)} x seeds {args.seeds}); {schedule}; "
          f"{CORES} cores; full 10,000-image test set evaluated in every run")
    sides = {"serial": lambda: serial(args.variants, args.seeds, schedule, raw),
             f"cluster {CORES}x1": lambda: on_cluster(args.variants, args.seeds, schedule, raw, CORES, 1)}
    if args.one_worker:
        sides[f"cluster 1x{CORES}"] = lambda: on_cluster(args.variants, args.seeds, schedule, raw, 1, CORES)
    found = {side: [] for side in sides}
    for round_ in range(args.rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for side in order:
            found[side].append(sides[side]())
            print(f"round {round_ + 1} {side:12} {found[side][-1]['seconds']:7.1f} s", flush=True)
    medians = {side: statistics.median(r["seconds"] for r in results) for side, results in found.items()}
    print()
    for side, seconds in medians.items():
        print(f"{side:14} median {seconds:7.1f} s  {runs / seconds * 60:5.2f} runs/min")
    for side in list(sides)[1:]:
        phase = statistics.median(r["runs"] for r in found[side])
        print(f"throughput ratio {side} / serial: {medians['serial'] / medians[side]:.2f} (goal >= 1.0); "
              f"start-up left out: {medians['serial'] / phase:.2f}")
    division(found[f"cluster {CORES}x1"], runs)


def division(results: list[dict], runs: int) -> None:
    """How the local cluster's wall time divides (medians over the rounds)."""
    start = statistics.median(r["start"] for r in results)
    phase = statistics.median(r["runs"] for r in results)
    task = statistics.median(s for r in results for s in r["task_seconds"])
    workers = results[0]["workers"]
    busy = statistics.median(sum(r["task_seconds"]) for r in results)
    overhead = (phase * workers - busy) / runs
    print(f"cluster {workers}x1: start-up {start:.1f} s (workers started; TensorFlow is imported by each "
          f"worker's first task, inside the runs), runs phase {phase:.1f} s for {runs} runs: median task "
          f"{task:.1f} s on a worker, {busy:.1f} s of tasks in all; idle or overhead per run "
          f"{overhead:.1f} s of a worker (first import, scheduling, results, the last runs' stragglers)")


if __name__ == "__main__":
    main()
