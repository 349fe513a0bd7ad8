"""Run the architecture sweep of chapter 10 (`make experiments`), resuming where it stopped.

Usage: python scripts/run_experiments.py [--only NAME ...] [--seeds 0 1 2] [--results DIR] [--list]
                                         [--scheduler tcp://HOST:PORT] [--workers N]
       python scripts/run_experiments.py --promote [--results DIR]
       python scripts/run_experiments.py --finalists | --plateau   (chapter 10's protocol, after the sweep)
       python scripts/run_experiments.py --training-well            (the runs of "Training well")

Every (variant, seed) run is stored as soon as it finishes in
experiments/sweep/<variant>-seed<k>.json (--results; a folder of the checkout, outside the
installed package); runs already stored there are skipped, so an interrupted sweep
(Ctrl-C, a closed laptop) continues with the next command. Chapter 10 reads the committed
results in course_utils/reference/sweep; --promote copies the finished runs there (in a
development checkout), after which `make notebooks` re-executes the chapter on them. Without
--seeds each variant gets its planned seeds (three, or five for the variants the chapter
compares most closely; --list shows them): 55 runs, one to two minutes each on 2 CPU cores
(on one core of a worker about 1.7 times as long, two at a time: about 1.1 times the runs
per hour, README "Scaling out").

The runs are Dask tasks (course_utils.cluster), seed by seed, the variants with the most
multiply-adds per image first: by default on a local cluster (one single-threaded worker
process per core, at most one per 2 GiB of memory, as measured best on 2 cores); with
--scheduler (or $DASK_SCHEDULER_ADDRESS) on the workers of a running `dask scheduler`.
This process writes every result file. The local cluster starts while this process imports
TensorFlow and reads what is stored, so it starts even when nothing is left to train.

--finalists applies chapter 10's selection rule (course_utils.experiments.selection) to the committed
sweep's validation accuracy, then trains every finalist with seeds the sweep never used and
tests it once, into experiments/finalists; --plateau trains the global-average-pooling heads
until their training accuracy levels off, into experiments/plateau; --training-well runs
the learning-rate, overfitting and depth experiments of "Training well"
(course_utils.experiments.training_well) into experiments/training_well. --promote copies
these too into course_utils/reference/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from course_utils import cluster   # no TensorFlow yet: see `planned_sweep`
from course_utils.experiments import cluster_tasks

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "sweep"
STAGES = {"finalists": RESULTS.parent / "finalists", "plateau": RESULTS.parent / "plateau",
          "training-well": RESULTS.parent / "training_well"}
PLATEAU_RUNS = [("head-gap", 0), ("small_cnn-head-gap", 0)]


class UnknownVariant(ValueError):
    pass


def planned_sweep(args):
    """Import the sweep (and with it TensorFlow) and say what is to be trained. Runs while
    the local cluster starts (``cluster.connect_while``)."""
    from course_utils.experiments import sweep

    unknown = [n for n in args.only or [] if n not in sweep.VARIANTS]
    if unknown:
        raise UnknownVariant(f"unknown variant(s) {unknown}; see --list")
    print(f"Schedule: {sweep.SCHEDULE}", flush=True)
    return cluster_tasks.sweep_todo(args.results, args.only, args.seeds)


def run_selection_stage(stage: str, args) -> int:
    """Chapter 10's protocol after the sweep: the finalists, or the heads trained to a plateau."""
    log = lambda line: print(line, flush=True)  # noqa: E731

    def plan():
        from course_utils.experiments import selection, sweep

        if stage == "plateau":
            return PLATEAU_RUNS
        if stage == "training-well":
            from course_utils.experiments import training_well

            return training_well.planned_runs()
        chosen = selection.choose(sweep.load_results())
        log(f"rule (on validation accuracy, seeds {selection.SELECTION_SEEDS}): best {chosen['best']}, "
            f"threshold {chosen['threshold']:.4f}, within it {chosen['within']}, choice {chosen['choice']}")
        names = selection.finalists(sweep.load_results())
        log(f"finalists: {names}, seeds {selection.FINALIST_SEEDS}")
        return [(n, s) for n in names for s in selection.FINALIST_SEEDS]

    try:
        with cluster.connect_while(plan, args.scheduler, args.workers, log=log) as (client, pairs):
            if stage == "training-well":
                cluster_tasks.run_training_well(client, pairs, STAGES[stage], log=log)
            else:
                cluster_tasks.run_selection(client, stage, pairs, STAGES[stage], log=log)
    except KeyboardInterrupt:
        print("\nInterrupted: finished runs are stored; run the same command again to continue.", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="variants to run (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="seeds for every variant named (default: each variant's planned seeds)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of result files (default: experiments/sweep of this checkout)")
    parser.add_argument("--list", action="store_true", help="list the variants and stop")
    parser.add_argument("--promote", action="store_true",
                        help="copy the finished runs in --results into course_utils/reference/sweep (the "
                             "committed results chapter 10 reads) and stop")
    parser.add_argument("--finalists", action="store_true",
                        help="chapter 10's finalists: chosen by the rule on validation accuracy, trained afresh, tested once")
    parser.add_argument("--plateau", action="store_true",
                        help="train the global-average-pooling heads until their training accuracy levels off")
    parser.add_argument("--training-well", action="store_true",
                        help="the runs of the chapter 'Training well' (learning rates, overfitting, depth)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="a running Dask scheduler (default: $DASK_SCHEDULER_ADDRESS, else a local cluster)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the local cluster, the cores shared out among them "
                             "(default: one single-threaded worker per core)")
    args = parser.parse_args(argv)
    for problem in cluster.option_problems(args.scheduler, args.workers, "--workers"):
        parser.error(problem)
    if args.list:
        from course_utils.experiments import sweep

        for v in sweep.VARIANTS.values():
            seeds = " ".join(str(s) for s in sweep.planned_seeds(v.name))
            print(f"{v.name:28} {v.factor}: {v.value}  (seeds {seeds})")
        return 0
    if args.promote:
        from course_utils.experiments import sweep

        try:
            copied = sweep.promote(args.results)
        except PermissionError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{len(copied)} finished runs copied from {args.results} into {sweep.RESULTS_DIR}")
        from course_utils.experiments import selection
        from course_utils.atomic_files import write_atomic

        from course_utils.experiments import training_well

        for stage, target, read in (("finalists", selection.RESULTS_DIR, selection.read),
                                    ("plateau", selection.PLATEAU_DIR, selection.read),
                                    ("training-well", training_well.RESULTS_DIR, training_well.read)):
            stored = [p for p in sorted(STAGES[stage].glob("*-seed*.json")) if read(p)]
            target.mkdir(exist_ok=True)
            for path in stored:
                write_atomic(target / path.name, path.read_bytes())
            print(f"{len(stored)} {stage} runs copied into {target}")
        return 0
    if args.finalists or args.plateau or args.training_well:
        stage = "finalists" if args.finalists else "plateau" if args.plateau else "training-well"
        return run_selection_stage(stage, args)
    from course_utils.data import MnistDataError

    start = time.perf_counter()
    log = lambda line: print(line, flush=True)  # noqa: E731
    try:
        with cluster.connect_while(lambda: planned_sweep(args), args.scheduler, args.workers,
                                   log=log) as (client, (planned, todo)):
            if not todo:
                print(f"{len(planned)} runs already stored in {args.results}; 0 to train")
                return 0
            cluster_tasks.run_sweep(client, args.results, args.only, args.seeds, log=log)
    except KeyboardInterrupt:
        print("\nInterrupted: finished runs are stored; run the same command again to continue.",
              file=sys.stderr)
        return 130
    except UnknownVariant as error:
        parser.error(str(error))
    except (MnistDataError, ConnectionError, cluster.WorkersNotReady, cluster.TasksFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Sweep complete in {time.perf_counter() - start:.0f} s; results in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
