"""The sweep on the local Dask cluster against the serial loop it replaced: same runs, taking turns.

Usage: python benchmarks/cluster_sweep.py [--variants depth-1 filters-8 ...] [--seeds 0 1]
                                          [--train-images 30000] [--epochs 1] [--rounds 2]
                                          [--one-worker] [--no-single-threaded]

Each round trains the same (variant, seed) runs, into fresh temporary folders, once per
side, and every side runs in a fresh Python process, timed from its start to its exit, as
a user's command is (imports, reading MNIST, starting the cluster and the runs included).
By default the runs are six of the sweep's variants (``MIX``), seed 0, for one epoch of the
sweep's 30,000 images (the sweep trains three), about two minutes per side on 2 cores:

- serially, as ``make experiments`` did before: ``sweep.run_sweep`` in that process, where
  TensorFlow spreads each run over every core;
- on a local cluster of one single-threaded worker process per core, with
  ``cluster_tasks.run_sweep``.

With ``--one-worker`` a third side runs one worker whose TensorFlow uses every core. The
order of the sides alternates between rounds. Prints each side's seconds per round, the
medians and the throughput ratio cluster / serial (goal: at least 1.0), by the medians and
by the median of the rounds' own ratios, then how the
cluster's time divides: the process's start (Python, imports, MNIST), the cluster's
start, the runs, and the overhead per task.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from blas_environment import announce, unset_build_overrides

REMOVED = unset_build_overrides()   # before NumPy loads; the cluster's workers inherit it

from course_utils import cluster  # noqa: E402  (the sweep, with TensorFlow, is imported per side)
from course_utils.experiments import cluster_tasks  # noqa: E402

# Six of the sweep's variants, its fastest to some of its slowest (committed median seconds
# per epoch: 7.6 to 43 on 2 cores), so the ratio is not that of one model or two.
MIX = ["source", "depth-1", "filters-8", "kernel-5", "downsampling-strided", "head-gap"]
LINE = re.compile(r"\((\d+\.\d) s on (\S+)\)$")
CORES = os.cpu_count() or 1


def serial(args) -> dict:
    """The loop that `make experiments` ran before: one run after the other, in this process."""
    began = time.perf_counter()
    from course_utils.experiments import sweep
    from course_utils.data import load_mnist, one_hot, scale_images

    (x_train, y_train), (x_test, y_test) = load_mnist()
    data = (scale_images(x_train), one_hot(y_train)), (scale_images(x_test), one_hot(y_test))
    with tempfile.TemporaryDirectory() as folder:
        sweep.run_sweep(data, folder, args.variants, args.seeds, schedule_of(args), log=lambda line: None)
    return {"in_process": time.perf_counter() - began}


def on_cluster(args, workers, threads) -> dict:
    """`make experiments` now: the local cluster starts while this process imports the sweep
    (``cluster.connect_while``, as scripts/run_experiments.py), then the runs are tasks."""
    lines = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        with cluster.connect_while(lambda: schedule_of(args), workers=workers, log=lambda line: None,
                                   threads=threads) as (client, schedule):
            started = time.perf_counter()
            # As `make experiments`: workers read $MNIST_PATH where set, else get the data once.
            cluster_tasks.run_sweep(client, folder, args.variants, args.seeds, schedule, log=lines.append)
            ran = time.perf_counter()
    tasks = [float(m[1]) for m in (LINE.search(line) for line in lines) if m]
    return {"in_process": time.perf_counter() - began, "start": started - began, "runs": ran - started,
            "task_seconds": tasks, "workers": workers}


def schedule_of(args):
    from course_utils.experiments import sweep

    return sweep.Schedule(epochs=args.epochs, train_images=args.train_images,
                          validation_images=args.validation_images)


def one_side(args) -> dict:
    """Run one side here (a fresh process started by `timed_side`)."""
    if args.side == "serial":
        return serial(args)
    workers, threads = (int(n) for n in args.side.split("x"))
    return on_cluster(args, workers, threads)


def timed_side(side: str, argv: list[str]) -> dict:
    """Run ``side`` in a fresh Python process; its wall time from start to exit, and its report."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *argv, "--side", side], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"side {side} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**report, "seconds": seconds, "process_start": seconds - report["in_process"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=MIX)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--train-images", type=int, default=30_000)
    parser.add_argument("--validation-images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one-worker", action="store_true",
                        help="also time one worker whose TensorFlow uses every core")
    parser.add_argument("--no-single-threaded", action="store_true",
                        help="leave out the side of one single-threaded worker per core")
    parser.add_argument("--side", help=argparse.SUPPRESS)   # internal: run one side in this process
    args, argv = parser.parse_args(), sys.argv[1:]
    if args.side:
        print(json.dumps(one_side(args)))
        return
    schedule = schedule_of(args)
    announce(REMOVED)
    runs = len(args.variants) * len(args.seeds)
    print(f"{runs} runs per side and round ({', '.join(args.variants)} x seeds {args.seeds}); {schedule}; "
          f"{CORES} cores; full 10,000-image test set evaluated in every run; each side a fresh process")
    sides = ["serial"] + ([] if args.no_single_threaded else [f"{CORES}x1"]) + ([f"1x{CORES}"] if args.one_worker else [])
    found = {side: [] for side in sides}
    for round_ in range(args.rounds):
        for side in (sides if round_ % 2 == 0 else list(reversed(sides))):
            found[side].append(timed_side(side, argv))
            print(f"round {round_ + 1} {label(side):12} {found[side][-1]['seconds']:7.1f} s", flush=True)
    medians = {side: statistics.median(r["seconds"] for r in results) for side, results in found.items()}
    print()
    for side, seconds in medians.items():
        print(f"{label(side):14} median {seconds:7.1f} s  {runs / seconds * 60:5.2f} runs/min")
    for side in sides[1:]:
        # Each round's sides ran next to each other: the ratio within a round is less exposed to
        # the machine's slow spells (serial alone has varied by a quarter between rounds).
        paired = [s["seconds"] / c["seconds"] for s, c in zip(found["serial"], found[side])]
        print(f"throughput ratio {label(side)} / serial: {medians['serial'] / medians[side]:.2f} by the medians, "
              f"{statistics.median(paired):.2f} by the median of the rounds' ratios "
              f"({', '.join(f'{r:.2f}' for r in paired)}) (goal >= 1.0)")
    for side in sides[1:]:
        division(label(side), found[side], runs)


def label(side: str) -> str:
    return side if side == "serial" else f"cluster {side}"


def division(name: str, results: list[dict], runs: int) -> None:
    """How a cluster side's wall time divides (medians over the rounds)."""
    median = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
    task = statistics.median(s for r in results for s in r["task_seconds"])
    workers = results[0]["workers"]
    busy = statistics.median(sum(r["task_seconds"]) for r in results)
    overhead = (median("runs") * workers - busy) / runs
    print(f"{name}: {median('seconds'):.1f} s = process start {median('process_start'):.1f} s (Python, imports) + "
          f"cluster start, overlapping the sweep's import, {median('start'):.1f} s + runs {median('runs'):.1f} s for {runs} runs (median task "
          f"{task:.1f} s on a worker, {busy:.1f} s of tasks in all; idle or overhead per run {overhead:.1f} s of "
          f"a worker: its first TensorFlow import and MNIST, scheduling, the last runs' stragglers) + closing")


if __name__ == "__main__":
    main()
