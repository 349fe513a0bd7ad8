"""Grade a folder of submitted notebooks with the course's checkers.

Usage: python scripts/grade.py SUBMISSIONS [--out grades.csv] [--cell-timeout 120]

Each *.ipynb under SUBMISSIONS (the student is the file name without .ipynb) is executed
top to bottom in a fresh kernel, errors allowed, every cell limited to --cell-timeout
seconds (a hanging cell is interrupted and the run goes on). Then every exercise's
checker runs on the function of that exercise's name (course_utils.checks.EXERCISES).

Writes two CSV files: OUT with one row per student (status, 1 or 0 per exercise, total)
and OUT with "-feedback" added, one row per student and exercise with the checker's
message. A notebook that cannot be read, crashes or hangs still gets its row.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_utils.checks import EXERCISES

MARKER = "COURSE-GRADES:"
GRADING_CELL = (
    "from course_utils.checks import check_all as _check_all\n"
    "import json as _json\n"
    f"print({MARKER!r} + _json.dumps([[r.exercise, bool(r.passed), r.message] "
    "for r in _check_all(globals())]))"
)


def grade_notebook(path: Path, cell_timeout: int):
    """Returns (status, {exercise: (passed, message)})."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, unreadable
        return f"unreadable ({type(error).__name__})", {}
    notebook.cells.append(nbformat.v4.new_code_cell(GRADING_CELL))
    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except Exception as error:  # the kernel died, or the grading cell itself timed out
        return f"execution failed ({type(error).__name__})", {}
    errors = sum(o.get("output_type") == "error" for c in notebook.cells[:-1] for o in c.get("outputs", []))
    for output in notebook.cells[-1].get("outputs", []):
        text = output.get("text", "")
        if MARKER in text:
            results = json.loads(text.split(MARKER, 1)[1].splitlines()[0])
            status = "ok" if not errors else f"ran with {errors} cell error(s)"
            return status, {label: (passed, message) for label, passed, message in results}
    return "grading cell produced no result", {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--cell-timeout", type=int, default=120)
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: SUBMISSIONS must be a folder of .ipynb files, got {args.submissions}", file=sys.stderr)
        return 2
    labels = list(EXERCISES)
    summary, feedback = [], []
    for path in sorted(args.submissions.rglob("*.ipynb")):
        status, results = grade_notebook(path, args.cell_timeout)
        scores = {label: int(results.get(label, (False, ""))[0]) for label in labels}
        summary.append({"student": path.stem, "status": status, **scores, "total": sum(scores.values())})
        for label in labels:
            passed, message = results.get(label, (False, status))
            feedback.append({"student": path.stem, "exercise": label, "passed": int(passed), "message": message})
        print(f"{path.stem}: {sum(scores.values())}/{len(labels)} ({status})", flush=True)
    feedback_path = args.out.with_name(f"{args.out.stem}-feedback{args.out.suffix}")
    for target, rows, fields in [(args.out, summary, ["student", "status", *labels, "total"]),
                                 (feedback_path, feedback, ["student", "exercise", "passed", "message"])]:
        tmp = target.with_name(f".{target.name}.tmp")
        with open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, target)
    print(f"wrote {args.out} and {feedback_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
