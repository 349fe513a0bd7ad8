"""How long grading a class takes: 40 students handing in the solved chapters 1-5.

Usage: python benchmarks/grading_class.py [--per-chapter 8] [--repeats 1] [--jobs 2] [--no-serial] [--all-cells]

Builds the class of issue #27 ("Speed") from the chapters themselves: each student hands in
the code cells of one of chapters 1 to 5 as the book has them (solutions included), 8
students per chapter, each notebook recording its chapter as the student edition does, so
it is scored on that chapter's exercises. Then times the instructor's command,
`scripts/grade.py`, with the sandbox, in a fresh process each time: --jobs 2 against a plain
serial run (--jobs 1), alternated, and prints the wall times, their medians, the ratio of
the medians, the median seconds per notebook of each chapter (from the grader's progress
lines) and the machine's load average, since other work on the machine slows every figure.
With --all-cells the grader runs every code cell instead of the statements the exercises
need (course_utils.grading.cell_slice): the way it graded before, minutes per chapter.
Fails if any notebook is not graded in full marks.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from blas_environment import announce, unset_build_overrides

REMOVED = unset_build_overrides()   # before NumPy loads; grade.py's processes inherit it

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("01_convolution", "02_stride", "03_channels", "04_pooling", "05_backprop")
PROGRESS = re.compile(r"^\[\d+/\d+\] (\S+?)/\S+: .*\((\d+(?:\.\d+)?) s on ")

import nbformat  # noqa: E402


def write_class(folder: Path, per_chapter: int) -> int:
    """One folder per chapter, ``per_chapter`` copies of its code cells each; the count."""
    for chapter in CHAPTERS:
        book = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        notebook = nbformat.v4.new_notebook(metadata={"course": {"chapter": chapter, "language": "en"}})
        notebook.cells = [nbformat.v4.new_code_cell(cell.source) for cell in book.cells if cell.cell_type == "code"]
        (folder / chapter).mkdir(parents=True)
        for number in range(per_chapter):
            nbformat.write(notebook, folder / chapter / f"student{number:02d}.ipynb")
    return per_chapter * len(CHAPTERS)


def grade(folder: Path, jobs: int, extra: list[str]) -> tuple[float, list[dict], dict[str, list[float]]]:
    """Wall seconds of one grading, its rows, and the seconds of each notebook by chapter."""
    out = folder.parent / f"grades-{jobs}.csv"
    began = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(folder), "--out", str(out),
                           "--jobs", str(jobs), "--fresh", *extra], capture_output=True, text=True)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        sys.exit(f"grade.py failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    per_chapter = defaultdict(list)
    for line in done.stdout.splitlines():
        if match := PROGRESS.match(line):
            per_chapter[match[1]].append(float(match[2]))
    return seconds, list(csv.DictReader(open(out))), per_chapter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-chapter", type=int, default=8, help="students per chapter (default 8)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each --jobs, alternated (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="the parallel run's --jobs (default 2)")
    parser.add_argument("--no-serial", action="store_true", help="time only the parallel run")
    parser.add_argument("--all-cells", action="store_true", help="grade with every code cell run (grade.py --all-cells)")
    args = parser.parse_args()
    announce(REMOVED)
    jobs_list = (args.jobs,) if args.no_serial else (args.jobs, 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        count = write_class(folder, args.per_chapter)
        print(f"{count} notebooks: chapters {', '.join(CHAPTERS)}, {args.per_chapter} each")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        failed = False
        times, notebooks = {jobs: [] for jobs in jobs_list}, {jobs: defaultdict(list) for jobs in jobs_list}
        for _ in range(args.repeats):          # alternated, so that a change of load hits both
            for jobs in jobs_list:
                elapsed, rows, per_chapter = grade(folder, jobs, ["--all-cells"] if args.all_cells else [])
                short = [row["student"] for row in rows if row["total"] != row["out_of"] or row["status"] != "ok"]
                if short or len(rows) != count:
                    failed = True
                    print(f"--jobs {jobs}: NOT every notebook got full marks: " + "; ".join(
                        f"{row['student']} {row['total']}/{row['out_of']} ({row['status']})"
                        for row in rows if row["student"] in short))
                times[jobs].append(elapsed)
                for chapter, seconds in per_chapter.items():
                    notebooks[jobs][chapter] += seconds
                print(f"--jobs {jobs}: {elapsed:.1f} s, {count - len(short)} of {count} in full marks "
                      f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        for jobs in jobs_list:
            print(f"--jobs {jobs}: {', '.join(f'{t:.1f}' for t in times[jobs])} s "
                  f"(median {statistics.median(times[jobs]):.1f}); median s per notebook: " +
                  ", ".join(f"{chapter[:2]} {statistics.median(values):.1f}"
                            for chapter, values in sorted(notebooks[jobs].items())))
        if not args.no_serial:
            print(f"ratio of medians, --jobs 1 / --jobs {args.jobs}: "
                  f"{statistics.median(times[1]) / statistics.median(times[args.jobs]):.2f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
