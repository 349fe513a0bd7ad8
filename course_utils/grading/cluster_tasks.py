"""A class's grading as Dask tasks (course_utils.cluster runs them): each submission is sent
to a worker as bytes, graded there in a sandbox of its own, and its grade comes back as plain
data, stored here (course_utils.grading.store) the moment it arrives.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from course_utils import grading
from course_utils.checks import EXERCISES
from course_utils.cluster import Task, TasksFailed, WorkersNotReady, check_workers, run_tasks
from course_utils.grading import sandbox
from course_utils.grading.store import grade_key

SANDBOX_TOOLS = ("bwrap", "setpriv", "prlimit")


def grade_task(student: str, notebook: bytes, chapters: dict, options, requested=None) -> dict:
    """Runs on a worker: grade one submission sent as bytes; its grade as plain data.

    The notebook is written under its relative name ``student`` into a fresh folder of the
    worker (so the chapter it came from is still read off its name), graded there by
    :func:`course_utils.grading.grade_submission` in a sandbox of its own, and removed.
    """
    import tempfile
    from pathlib import PurePosixPath

    with tempfile.TemporaryDirectory(prefix="course-grading-") as folder:
        path = Path(folder).joinpath(*PurePosixPath(student).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(notebook)
        try:
            grade = grading.grade_submission(path, Path(folder), chapters, options, requested)
        except Exception as error:  # a bug of the grader's: this row says so, the others go on
            grade = grading.SubmissionGrade(student, f"grader error ({type(error).__name__}: {error})", {}, [])
    return dataclasses.asdict(grade)


def _given(value):
    return value


def _warm_up(labels) -> None:
    """Runs on every worker: start importing what the checkers of ``labels`` need (TensorFlow)."""
    grading.warm_up(labels)


def _grade_of(value: dict):
    verdicts = {label: grading.Verdict(**verdict) for label, verdict in value["verdicts"].items()}
    return grading.SubmissionGrade(**{**value, "verdicts": verdicts})


def _ready_to_grade(client, options, requested, log=print) -> None:
    """Every worker has the course, the sandbox (if used) and starts importing the checkers' needs;
    logs which limits hold on the workers (one line if they all agree, else one per worker)."""
    check_workers(client, tools=SANDBOX_TOOLS if options.sandboxed else ())
    if options.sandboxed:   # the grader's own check, on every worker (user namespaces, for one)
        unusable = {w: why for w, why in client.run(sandbox.sandbox_available).items() if why}
        if unusable:
            raise WorkersNotReady("these Dask workers cannot run the sandbox:\n  " + "\n  ".join(
                f"{worker}: {why}" for worker, why in sorted(unusable.items())))
    reports = client.run(sandbox.limits_report, options.limits, options.sandboxed, options.privileged,
                         options.submission_timeout)
    if len(set(reports.values())) == 1:
        log(f"limits: {next(iter(reports.values()))}")
    else:
        for worker, report in sorted(reports.items()):
            log(f"limits on {worker}: {report}")
    client.run(_warm_up, list(requested or EXERCISES))


def grade_submissions(client, paths: list[Path], root: Path, chapters: dict, options, requested=None,
                      log=print, kept=None) -> list:
    """Grade every notebook of ``paths`` (under ``root``) on the cluster; their grades, in order.

    Each worker receives the notebook's bytes and returns its grade as plain data, so no
    worker needs the submissions folder. A notebook that cannot be read here, or that is
    too large, is graded here (its row says why; nothing of it runs anywhere). A submission whose task
    failed for good (say, it killed Dask workers again and again) gets a row that says so.
    With ``kept`` (a :class:`course_utils.grading.store.GradeStore`), each grade is stored the
    moment it arrives, and a submission whose stored grade is still valid is not run again.
    """

    grades, tasks, keys = {}, [], {}
    for path in paths:
        student = path.relative_to(root).as_posix()
        try:   # a plain file below root, never through a link (the grader runs outside the sandbox)
            notebook = grading.read_submission_bytes(path, root)
        except (OSError, ValueError):   # graded here (nothing runs); a task only for its progress line
            grade = grading.grade_submission(path, root, chapters, options, requested)
            tasks.append(Task(student, _given, (dataclasses.asdict(grade),)))
            continue
        if kept is not None:
            keys[student] = grade_key(student, notebook, chapters, options, requested)
            stored = kept.get(student, keys[student])
            if stored is not None:
                grades[student] = _grade_of(stored)
                continue
        tasks.append(Task(student, grade_task, (student, notebook, chapters, options, requested)))
    if grades:
        log(f"{len(grades)} submission(s) graded before, unchanged: their stored grades are used")
    if any(task.function is grade_task for task in tasks):
        _ready_to_grade(client, options, requested, log)

    def store(task, value):
        grade = grades[task.key] = _grade_of(value)
        if task.key in keys and not grade.status.startswith("grader error"):   # a grader's bug: try again
            kept.put(task.key, keys[task.key], value)
        return f"{grade.student}: {grade.total}/{len(grade.verdicts)} ({grade.status})"

    try:
        run_tasks(client, tasks, store, log)
    except TasksFailed as failed:
        for student, why in failed.failures.items():
            grades[student] = grading.SubmissionGrade(student, f"not graded: {why}"[:300], {}, [])
    return [grades[path.relative_to(root).as_posix()] for path in paths]
