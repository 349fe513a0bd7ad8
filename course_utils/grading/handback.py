"""Everything ``make grade`` writes beside ``grades.csv`` for the instructor to hand back.

For ``OUT`` = ``results/grades.csv``:

- ``results/grades-feedback/``: one HTML page per notebook, for its student
  (:mod:`course_utils.grading.student_feedback`), named like the notebook
  (``section-a/ada.ipynb`` -> ``section-a/ada.html``);
- ``results/grades-report.html``: the class report (:mod:`course_utils.grading.class_report`);
- ``results/grades-canvas.csv``: the gradebook for Canvas (:mod:`course_utils.grading.lms_export`);
- ``results/grades-similar.csv``: the pairs of students with the same function
  (:mod:`course_utils.grading.similarity`).

With a due time, ``grades.csv`` gains the columns ``submitted_at``, ``late``,
``deduction`` and ``score`` (:mod:`course_utils.grading.late_policy`). Each file is written
whole or not at all; the feedback folder is built beside its place and swapped in, so a
page of an earlier run never stays behind in it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

from course_utils.checks import EXERCISES
from course_utils.atomic_files import write_atomic
from course_utils.grading.class_report import class_report_html
from course_utils.grading.late_policy import (LatePolicy, Lateness, describe_delay, parse_time, read_manifest,
                                             submission_time)
from course_utils.grading.lms_export import canvas_rows, unmatched
from course_utils.grading.similarity import pairs, reference_digests, similar_functions
from course_utils.grading.student_feedback import feedback_html
from course_utils.grading.submission import notebook_language, read_submission_bytes

LATE_COLUMNS = ["submitted_at", "late", "deduction", "score"]
MARK = ".written-by-grade-py"   # in the feedback folder: it is the grader's to replace


@dataclasses.dataclass
class Deadline:
    due: datetime.datetime
    policy: LatePolicy = dataclasses.field(default_factory=LatePolicy)


@dataclasses.dataclass
class Settings:
    """What the instructor said about the hand-back (``scripts/grade.py``'s options)."""

    manifest: dict = dataclasses.field(default_factory=dict)
    deadline: Deadline | None = None
    assignment: str = "CNN exercises"


def add_arguments(parser) -> None:
    """The options of the hand-back, for ``scripts/grade.py``."""
    group = parser.add_argument_group("what is handed back (beside OUT: feedback pages, class report, Canvas "
                                      "CSV, similarity CSV)")
    group.add_argument("--due", metavar="TIME", help="deadline, ISO 8601 (2026-12-01T23:59; +09:00 or Z for "
                       "a zone, else this machine's): OUT gains the columns submitted_at, late, deduction, score")
    group.add_argument("--late-penalty", default="0%/day", metavar="P%/INTERVAL",
                       help="percentage points off for each interval begun after --due: 10%%/day, 5%%/hour, "
                            "2%%/6hours (default 0%%/day: late notebooks are marked, not penalised)")
    group.add_argument("--late-floor", default="0%", metavar="P%",
                       help="the lowest score a late deduction can leave (default 0%%); a lower score stays")
    group.add_argument("--manifest", type=Path, metavar="CSV",
                       help="CSV with a column 'file' (the notebook's path in SUBMISSIONS) and any of "
                            "submitted_at (else the file's modification time), name, id, sis_user_id, "
                            "sis_login_id, section (for the Canvas gradebook)")
    group.add_argument("--assignment", default="CNN exercises",
                       help="the assignment's column in the Canvas CSV, as named in Canvas (default: %(default)s)")


def settings_from(args) -> tuple[Settings, list[str]]:
    """The settings of parsed ``args``, and what is wrong with them (one line each)."""
    settings, problems = Settings(assignment=args.assignment), []
    if args.manifest is not None:
        try:
            settings.manifest = read_manifest(args.manifest)
        except ValueError as error:
            problems.append(str(error))
    feedback = paths_for(args.out)["feedback"]
    if feedback.exists() and not (feedback / MARK).is_file():
        problems.append(f"{feedback} exists and was not written by the grader, which replaces that folder: "
                        "move it away or choose another --out")
    penalised = args.late_penalty != "0%/day" or args.late_floor != "0%"
    if args.due is None:
        if penalised:
            problems.append("--late-penalty and --late-floor need --due")
        return settings, problems
    try:
        settings.deadline = Deadline(parse_time(args.due), LatePolicy.parse(args.late_penalty, args.late_floor))
    except ValueError as error:
        problems.append(str(error))
    return settings, problems


def paths_for(out: Path) -> dict[str, Path]:
    """Where each output goes, beside ``out``."""
    return {"feedback": out.with_name(f"{out.stem}-feedback"), "report": out.with_name(f"{out.stem}-report.html"),
            "canvas": out.with_name(f"{out.stem}-canvas.csv"), "similar": out.with_name(f"{out.stem}-similar.csv")}


def read_notebook(path: Path, root: Path) -> dict | None:
    """The notebook's JSON, read as the grader reads it (a plain file inside ``root``), or None."""
    try:
        notebook = json.loads(read_submission_bytes(path, root).decode("utf-8"))
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    return notebook if isinstance(notebook, dict) else None


def code_cells(notebook: dict | None) -> list[str]:
    cells = notebook.get("cells") if notebook else None
    sources = []
    for cell in cells if isinstance(cells, list) else ():
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def feedback_name(student: str) -> str:
    """The feedback page's path inside the feedback folder: the notebook's, ending in .html."""
    return PurePosixPath(student).with_suffix(".html").as_posix()


def _percent(grade) -> float:
    """The share of the scored exercises passed, in percent (0 when none was scored)."""
    return 100.0 * grade.total / len(grade.verdicts) if grade.verdicts else 0.0


def lateness_of(grades, root: Path, settings: Settings) -> dict[str, tuple]:
    """Student -> (when handed in, its Lateness): both None without a deadline; the
    Lateness None when the time is unknown."""
    deadline, result = settings.deadline, {}
    for grade in grades:
        when = submission_time(root / grade.student, grade.student, settings.manifest) if deadline else None
        result[grade.student] = (when, deadline.policy.apply(_percent(grade), deadline.due, when) if when else None)
    return result


def late_columns(summary: list[dict], grades, root: Path, settings: Settings) -> list[str]:
    """Add the columns of LATE_COLUMNS to ``summary`` (the rows of grades.csv, in the order
    of ``grades``) when there is a deadline; returns the columns added."""
    if settings.deadline is None:
        return []
    lateness = lateness_of(grades, root, settings)
    for row, grade in zip(summary, grades):
        when, late = lateness[grade.student]
        row["submitted_at"] = when.isoformat(timespec="seconds") if when else "unknown"
        row["late"] = (f"late by {describe_delay(late.late_seconds)} ({late.intervals} interval(s) begun)"
                       if late and late.late_seconds > 0 else "" if late else "no submission time")
        row["deduction"] = f"{late.deduction:g}" if late else ""
        row["score"] = f"{late.score:.2f}" if late else ""
    return LATE_COLUMNS


def scores_of(grades, lateness: dict[str, Lateness | None]) -> dict[str, float]:
    """Student -> percent of the exercises scored, after any late deduction."""
    return {grade.student: lateness[grade.student].score if lateness.get(grade.student) else _percent(grade)
            for grade in grades}


def _swap_in(folder: Path, pages: dict[str, str]) -> None:
    """Write ``pages`` (relative path -> HTML) into a new folder, then put it in ``folder``'s place."""
    building = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        building.mkdir()
        (building / MARK).write_text("scripts/grade.py replaces this folder on each run\n")
        for relative, page in pages.items():
            target = building / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(page, encoding="utf-8")
        old = folder.with_name(f".{folder.name}-old-{uuid.uuid4().hex[:8]}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(building, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _write_similar(path: Path, notebooks: dict, write_csv, book: Path | None) -> tuple[list, int]:
    """The same-function groups of the class (and how many functions were too short), their pairs written."""
    names = {label: name for label, (name, _checker) in EXERCISES.items()}
    references = reference_digests(book, names) if book else {}
    groups, short = similar_functions({s: code_cells(n) for s, n in notebooks.items()}, names, references)
    columns = ["exercise", "student", "other_student"]
    write_csv(path, columns, [dict(zip(columns, pair)) for pair in pairs(groups)])
    return groups, short


def _write_canvas(path: Path, grades, scores: dict, settings: Settings, write_csv) -> list[str]:
    """Write the Canvas gradebook; returns warnings about students it cannot match."""
    header, rows = canvas_rows([grade.student for grade in grades], scores, settings.manifest, settings.assignment)
    write_csv(path, header, rows)
    warnings = []
    absent = sorted(set(settings.manifest) - {grade.student for grade in grades})
    if absent:
        warnings.append(f"{len(absent)} notebook(s) of the manifest were not handed in (no row for them): "
                        + ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else ""))
    missing = unmatched(rows)
    if missing:
        warnings.append(f"{len(missing)} row(s) of {path.name} carry no Canvas or SIS id, so Canvas cannot match "
                        "them to a student: give a --manifest with the columns id, sis_user_id or sis_login_id")
    return warnings


def _heading(deadline: Deadline | None) -> str:
    if deadline is None:
        return ""
    policy = deadline.policy
    return (f"Due {deadline.due.isoformat(timespec='minutes')}; late policy: {policy.per_interval:g} points per "
            f"{policy.interval_s / 3600:g} h begun, lowest score {policy.floor:g}%.")


def write_handback(out: Path, grades, root: Path, write_csv, settings: Settings | None = None,
                   book: Path | None = None) -> tuple[dict[str, Path], list[str]]:
    """Write the feedback pages, the class report, the Canvas CSV and the similarity CSV
    beside ``out``; ``write_csv(path, header, rows)`` writes a CSV atomically; ``book``: the
    chapters, whose solutions a function is compared with. Returns the paths written and
    warnings for the instructor."""
    settings, paths = settings or Settings(), paths_for(out)
    notebooks = {grade.student: read_notebook(root / grade.student, root) for grade in grades}
    languages = {student: notebook_language(notebook) if notebook else "en" for student, notebook in notebooks.items()}
    lateness = {student: late for student, (_when, late) in lateness_of(grades, root, settings).items()}
    scores = scores_of(grades, lateness)
    _swap_in(paths["feedback"], {feedback_name(grade.student): feedback_html(
        grade, languages[grade.student], lateness[grade.student]) for grade in grades})
    groups, short = _write_similar(paths["similar"], notebooks, write_csv, book)
    warnings = _write_canvas(paths["canvas"], grades, scores, settings, write_csv)
    links = {student: f"{paths['feedback'].name}/{feedback_name(student)}" for student in notebooks}
    write_atomic(paths["report"], class_report_html(grades, languages, scores, lateness, groups, short, links,
                                                    _heading(settings.deadline)))
    return paths, warnings


def where_written(paths: dict[str, Path]) -> str:
    """The closing lines of ``make grade``: what to hand back, and where."""
    return (f"hand back: {paths['feedback']}/ (one HTML page per notebook, named like it)\n"
            f"class report: {paths['report']}\n"
            f"Canvas gradebook: {paths['canvas']}\n"
            f"same functions to look at: {paths['similar']} (and in the class report)")
