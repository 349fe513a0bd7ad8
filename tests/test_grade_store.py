"""Grading resumes: each grade is kept as it arrives and reused only while nothing that
decides it has changed (course_utils.grading.store, cluster_tasks.grade_submissions)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from course_utils import cluster, grading
from course_utils.grading import cluster_tasks
from course_utils.grading.store import GradeStore, grade_key

CHAPTERS = {"01_convolution": ["ex-output-size"]}
STUDENTS = ("alice.ipynb", "bob.ipynb", "sub/carol.ipynb")


@pytest.fixture(scope="module")
def client():
    """The grading path of `make grade`: one worker in this process (so a fake task is seen)."""
    with cluster.connect(workers=1, log=lambda line: None, processes=False) as client:
        yield client


CALLS = []   # module level: Dask pickles the task, and a module's function travels by reference


def fake_grade_task(student, notebook, chapters, options, requested=None):
    CALLS.append(student)
    verdict = grading.Verdict("ex-output-size", b"right" in notebook, "fake")
    return dataclasses.asdict(grading.SubmissionGrade(student, "ok", {"ex-output-size": verdict}, []))


@pytest.fixture
def graded(monkeypatch):
    """Replace the sandboxed grading of a notebook by an instant fake; record who was graded."""
    CALLS.clear()
    monkeypatch.setattr(cluster_tasks, "grade_task", fake_grade_task)
    return CALLS


@pytest.fixture
def submissions(tmp_path):
    folder = tmp_path / "submitted"
    for name in STUDENTS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps({"cells": [], "answer": "right"}))
    return folder


def grade(client, folder, store, options=grading.Options(sandboxed=False), log=lambda line: None):
    paths = sorted(folder.rglob("*.ipynb"))
    return cluster_tasks.grade_submissions(client, paths, folder, CHAPTERS, options, ["ex-output-size"], log=log,
                                     kept=store)


def test_a_rerun_grades_only_what_changed(client, graded, submissions, tmp_path):
    store = GradeStore(tmp_path / "grades-progress")
    first = grade(client, submissions, store)
    assert sorted(graded) == sorted(STUDENTS) and [g.total for g in first] == [1, 1, 1]
    graded.clear()
    again = grade(client, submissions, store)
    assert graded == [] and again == first
    (submissions / "bob.ipynb").write_text(json.dumps({"cells": [], "answer": "wrong"}))
    changed = grade(client, submissions, store)
    assert graded == ["bob.ipynb"] and [g.total for g in changed] == [1, 0, 1]
    graded.clear()
    grade(client, submissions, store, grading.Options(sandboxed=False, cell_timeout=5))
    assert sorted(graded) == sorted(STUDENTS), "other options: every grade made again"


def test_an_interrupted_grading_keeps_what_finished(client, graded, submissions, tmp_path):
    store = GradeStore(tmp_path / "grades-progress")

    finished = []

    def interrupt(line):   # Ctrl-C right after the first grade arrived and was stored
        if line.startswith("[1/"):
            finished.append(line.split()[1].rstrip(":"))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade(client, submissions, store, log=interrupt)
    assert len(list(store.folder.iterdir())) == 1 and finished[0] in STUDENTS
    graded.clear()   # (a cancelled task of the first run may still be finishing: sets, not lists)
    rows = grade(client, submissions, store)
    assert len(rows) == 3 and set(graded) == set(STUDENTS) - set(finished), \
        "what finished is not graded again; the rest is"


def test_a_stored_grade_is_used_only_under_its_own_key_and_name(tmp_path):
    store = GradeStore(tmp_path / "progress")
    options = grading.Options()
    key = grade_key("alice.ipynb", b"notebook", CHAPTERS, options)
    grade = dataclasses.asdict(grading.SubmissionGrade("alice.ipynb", "ok", {}, []))
    store.put("alice.ipynb", key, grade)
    assert store.get("alice.ipynb", key) == grade
    assert store.get("alice.ipynb", grade_key("alice.ipynb", b"notebook!", CHAPTERS, options)) is None
    assert store.get("alice.ipynb", grade_key("alice.ipynb", b"notebook", CHAPTERS, options, ["ex-a"])) is None
    assert store.get("bob.ipynb", key) is None
    store._path("alice.ipynb").write_text('{"format_version": 1, "stud')   # cut short
    assert store.get("alice.ipynb", key) is None
    for forged in ({"total": 1}, dict(grade, student="bob.ipynb"), dict(grade, verdicts=[]), [grade]):
        store.put("alice.ipynb", key, forged)   # a file this code did not write: graded again
        assert store.get("alice.ipynb", key) is None, forged
    store.put("../../outside.ipynb", key, {})
    assert [p.parent for p in store.folder.iterdir()] == [store.folder] * 2


def test_the_code_digest_covers_every_module_and_the_messages(tmp_path):
    """A kept grade is reused only while the grading code is unchanged: a change to a checker
    (course_utils/checks.py), to a module of a subpackage or to the compiled messages is one."""
    from course_utils.grading.store import code_digest

    package = tmp_path / "course_utils"
    files = {"checks.py": "def check(): ...\n", "grading/store.py": "", "experiments/sweep.py": "",
             "locale/ja/LC_MESSAGES/course_utils.mo": "messages"}
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    before = code_digest(package)
    for name in files:
        original = (package / name).read_text()
        (package / name).write_text(original + "# changed\n")
        assert code_digest(package) != before, f"a change to {name} would leave old grades in use"
        (package / name).write_text(original)
    assert code_digest(package) == before
