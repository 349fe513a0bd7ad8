"""How long grading takes: one honest submission, and ten with --jobs 1 against --jobs 2.

Usage: python benchmarks/grading.py [--students 10] [--repeats 3]

Writes honest submissions (the answers of tests/grading_corpus/corpus.py, scored on the
exercises they answer) into a temporary folder and times the instructor's
command, `scripts/grade.py`, each in a fresh process (TensorFlow's import for the col2im
checker included), with the sandbox. Prints the wall times, the ratio, and the machine's
load average, since other work on the machine slows every figure down.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from blas_environment import announce, unset_build_overrides

REMOVED = unset_build_overrides()   # before NumPy loads; grade.py's processes inherit it

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import nbformat  # noqa: E402

from grading_corpus.corpus import EXPECTED, SUBMISSIONS  # noqa: E402

LABELS = ",".join(EXPECTED["honest.ipynb"]["scores"])  # the exercises the honest answers cover


def write_honest(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for number in range(count):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in SUBMISSIONS["honest.ipynb"]]
        nbformat.write(notebook, folder / f"student{number:02d}.ipynb")


def grade(folder: Path, jobs: int) -> tuple[float, list[dict]]:
    out = folder.parent / f"grades-{folder.name}-{jobs}.csv"
    began = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(folder), "--out", str(out),
                    "--jobs", str(jobs), "--exercises", LABELS], check=True, capture_output=True, text=True)
    seconds = time.monotonic() - began
    return seconds, list(csv.DictReader(open(out)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    announce(REMOVED)
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "one", Path(tmp) / "many"
        write_honest(one, 1)
        write_honest(many, args.students)
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        seconds, rows = grade(one, 1)
        print(f"one honest submission, every exercise: {seconds:.1f} s, "
              f"total {rows[0]['total']}/{rows[0]['out_of']} ({rows[0]['status']})")
        times = {1: [], 2: []}
        for _ in range(args.repeats):          # alternated, so that a change of load hits both
            for jobs in (1, 2):
                elapsed, rows = grade(many, jobs)
                assert all(row["total"] == row["out_of"] for row in rows), rows
                times[jobs].append(elapsed)
        serial, parallel = statistics.median(times[1]), statistics.median(times[2])
        print(f"{args.students} submissions, {args.repeats} alternated runs each: --jobs 1 "
              f"{', '.join(f'{t:.1f}' for t in times[1])} s (median {serial:.1f}); --jobs 2 "
              f"{', '.join(f'{t:.1f}' for t in times[2])} s (median {parallel:.1f}); "
              f"ratio of medians {serial / parallel:.2f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
