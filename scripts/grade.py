"""Grade a folder of submitted notebooks, each in its own sandbox, verdicts computed here.

Usage: python scripts/grade.py SUBMISSIONS [--out grades.csv] [--exercises ex-a,ex-b] [--jobs N]
                                           [--cell-timeout 60] [--notebook-timeout 600]
                                           [--submission-timeout 900] [--memory-mb 4096] [--no-sandbox]
                                           [--scheduler tcp://HOST:PORT] [--fresh] [--all-cells]
                                           [--due TIME] [--late-penalty 0%/day] [--late-floor 0%]
                                           [--manifest CSV] [--assignment "CNN exercises"]

Every *.ipynb under SUBMISSIONS (files and folders whose names begin with a dot skipped) is
one student, named by its path relative to SUBMISSIONS. Its code cells run in a bubblewrap
sandbox of its own (no network, no other file than itself and the read-only course, limits on memory, processes,
CPU and file size, printed with those that do not hold on this machine and why; everything it
started is killed when it is done), each cell reduced to the statements the exercises need
(course_utils.grading.cell_slice; every statement with --all-cells). The checkers of
course_utils.checks then run in the grading process (not the sandbox) on stand-ins that call
the student's functions in the sandbox (see course_utils.grading). Each submission is a Dask
task (course_utils.cluster): --jobs at once in this process (default: one per core), or on
the workers of a running `dask scheduler` (--scheduler or $DASK_SCHEDULER_ADDRESS), which
receive the notebook's bytes and return its verdicts as plain data. A notebook is scored
on --exercises if given, else on the exercises of the chapter it came from (student edition
metadata or file name), else on every exercise.

Writes OUT (one row per student: status, 1/0 per exercise, blank for an exercise not
scored, total, out_of) and OUT with "-feedback" added (one row per student and exercise
with the verdict; the row "(notebook)" lists cells that failed, hung or were skipped).
Both are written only when every submission has its row, each to a temporary file first.
Beside them, what to hand back (course_utils.grading.handback): OUT-feedback/ (one HTML page
per student), OUT-report.html (class report), OUT-canvas.csv (Canvas gradebook import) and
OUT-similar.csv (students with the same function); --due with a late policy adds the
columns submitted_at, late, deduction and score to OUT.

Resumable: each grade is also kept, the moment it is known, in the folder OUT with
"-progress" added (course_utils.grading.store). After an interruption (Ctrl-C, a closed
laptop) the same command grades only what is missing; a submission whose notebook, options
or grading code changed is graded again. --fresh discards what was kept.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the col2im checker's reference uses TensorFlow

from course_utils import cluster, grading  # noqa: E402
from course_utils.grading import cluster_tasks, sandbox  # noqa: E402
from course_utils.checks import EXERCISES  # noqa: E402
from course_utils.atomic_files import write_atomic  # noqa: E402
from course_utils.grading.store import GradeStore  # noqa: E402
from course_utils.grading import handback  # noqa: E402


def submissions_in(folder: Path) -> list[Path]:
    """Every notebook under ``folder``, checkpoint copies and hidden folders skipped, sorted."""
    found = []
    for path in folder.rglob("*.ipynb"):
        parts = path.relative_to(folder).parts
        if any(part == ".ipynb_checkpoints" or part.startswith(".") for part in parts):
            continue
        if path.is_file() or path.is_symlink():   # a link gets the row "unreadable (ValueError)", not skipped
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def check_output_folder(out: Path) -> str | None:
    """None if OUT and its feedback file can be written; else what is wrong."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        return f"--out: the folder {folder} does not exist (create it first)"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".grades-check-"):
            pass
    except OSError as error:
        return f"--out: cannot write in {folder} ({error.strerror})"
    return None


def feedback_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-feedback{out.suffix or '.csv'}")


def progress_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-progress")


def spreadsheet_safe(value):
    """A text that a spreadsheet would run as a formula (a file named ``=HYPERLINK(...).ipynb``)
    gets a leading apostrophe; anything else is returned as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv_atomically(target: Path, fields: list[str], rows: list[dict]) -> None:
    """Write to a temporary file beside ``target``, then rename: never a half-written file."""
    rows = [{key: spreadsheet_safe(value) for key, value in row.items()} for row in rows]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(target, text.getvalue())


def rows_of(grades: list[grading.SubmissionGrade]) -> tuple[list[dict], list[dict]]:
    labels = list(EXERCISES)
    summary, feedback = [], []
    for grade in grades:
        scores = {label: (int(grade.verdicts[label].passed) if label in grade.verdicts else "") for label in labels}
        summary.append({"student": grade.student, "status": grade.status, **scores,
                        "total": grade.total, "out_of": len(grade.verdicts)})
        for label, verdict in grade.verdicts.items():
            feedback.append({"student": grade.student, "exercise": label, "passed": int(verdict.passed),
                             "message": verdict.message})
        feedback.append({"student": grade.student, "exercise": "(notebook)", "passed": "",
                         "message": "; ".join(grade.log) or ("the code the exercises need ran without error"
                                                             if grade.sliced else "every code cell ran without error")})
    return summary, feedback


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder of submitted .ipynb files (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="summary CSV (default grades.csv)")
    parser.add_argument("--exercises", default="",
                        help="comma-separated exercise labels to score (default: the notebook's chapter)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="submissions graded at once on this machine, one sandbox each (default: one per core)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="grade on the workers of a running Dask scheduler (default: $DASK_SCHEDULER_ADDRESS, "
                             "else a local cluster of --jobs workers)")
    parser.add_argument("--cell-timeout", type=float, default=60, help="seconds for each code cell")
    parser.add_argument("--notebook-timeout", type=float, default=600,
                        help="seconds for all the code cells of a notebook (the rest are not run)")
    parser.add_argument("--submission-timeout", type=float, default=grading.Options.submission_timeout,
                        help="seconds for everything of one submission: restarts, cells, calls and hints")
    parser.add_argument("--memory-mb", type=int, default=sandbox.Limits.memory_mb,
                        help="memory of each sandbox (where a cgroup can be made) and address space of each process")
    parser.add_argument("--all-cells", action="store_true",
                        help="run every code cell of each notebook, not only the statements its exercises need "
                             "(slower; reports errors in cells the exercises do not use)")
    parser.add_argument("--fresh", action="store_true",
                        help="grade every submission again, discarding the grades kept from an earlier run")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run notebooks without the sandbox: ONLY for notebooks you trust")
    handback.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    problems = []
    if not args.submissions.is_dir():
        problems.append(f"SUBMISSIONS must be a folder of .ipynb files, got {args.submissions}")
    requested = [label.strip() for label in args.exercises.split(",") if label.strip()]
    unknown = [label for label in requested if label not in EXERCISES]
    if unknown:
        problems.append(f"--exercises: unknown {', '.join(unknown)}; expected some of {', '.join(EXERCISES)}")
    problems += cluster.option_problems(args.scheduler, args.jobs, "--jobs")
    problems.append(check_output_folder(args.out))
    handback_settings, handback_problems = handback.settings_from(args)
    problems += handback_problems
    if not args.no_sandbox:
        problems.append(sandbox.sandbox_available())
    problems = [p for p in problems if p]
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.no_sandbox:
        print("WARNING: --no-sandbox: the submissions' code runs with your permissions, network and files. "
              "Use it only for notebooks you trust.", file=sys.stderr)
    paths = submissions_in(args.submissions)
    options = grading.Options(sandboxed=not args.no_sandbox, cell_timeout=args.cell_timeout,
                              notebook_timeout=args.notebook_timeout, submission_timeout=args.submission_timeout,
                              limits=sandbox.Limits(memory_mb=args.memory_mb), all_cells=args.all_cells)
    chapters = grading.chapter_exercises(ROOT / "book")
    began = time.monotonic()
    log = lambda line: print(line, flush=True)  # noqa: E731
    grades, progress = [], progress_path(args.out)
    if args.fresh:
        shutil.rmtree(progress, ignore_errors=True)
    if paths:   # each submission is a Dask task (course_utils.cluster): a local cluster, or --scheduler
        try:
            with cluster.connect(args.scheduler, args.jobs, log=log, processes=False) as client:
                grades = cluster_tasks.grade_submissions(client, paths, args.submissions, chapters, options,
                                                   requested, log=log, kept=GradeStore(progress))
        except (ConnectionError, cluster.WorkersNotReady) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\nInterrupted: the grades finished so far are kept in {progress}; "
                  "run the same command again to grade the rest.", file=sys.stderr)
            return 130
    summary, feedback = rows_of(grades)
    late = handback.late_columns(summary, grades, args.submissions, handback_settings)
    write_csv_atomically(args.out, ["student", "status", *EXERCISES, "total", "out_of", *late], summary)
    write_csv_atomically(feedback_path(args.out), ["student", "exercise", "passed", "message"], feedback)
    written, warnings = handback.write_handback(args.out, grades, args.submissions, write_csv_atomically,
                                                handback_settings, book=ROOT / "book")
    print(f"graded {len(paths)} notebook(s) in {time.monotonic() - began:.1f} s; "
          f"wrote {args.out} and {feedback_path(args.out)}")
    print(handback.where_written(written))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
