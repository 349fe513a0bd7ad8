"""What the grader hands back: feedback pages, class report, late policy, Canvas CSV, same functions.

Fast: the grades are built directly (SubmissionGrade records whose messages come from the
real checkers), except one run of scripts/grade.py without the sandbox on two small
notebooks. The end-to-end check on the adversarial corpus is in tests/test_grading.py.
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from conftest import ROOT
from course_utils import checks
from course_utils.grading import SubmissionGrade, Verdict
from course_utils.grading.class_report import class_report_html, summarise_exercises
from course_utils.grading.handback import Settings, add_arguments, feedback_name, settings_from, write_handback
from course_utils.grading.late_policy import LatePolicy, parse_time, read_manifest, submission_time
from course_utils.grading.lms_export import canvas_rows, unmatched
from course_utils.grading.similarity import function_digest, pairs, reference_digests, similar_functions
from course_utils.grading.student_feedback import feedback_html
from course_utils.grading.verdict_text import parse_verdict
from course_utils.i18n import using_language

GRADE = [sys.executable, str(ROOT / "scripts" / "grade.py")]
SEED = 20261203


def correlate_valid(x, h):
    """Cross-correlation, 'valid', written here from the definition (not the course's conv2d)."""
    H = h.shape[0]
    n = x.shape[0] - H + 1
    return np.array([[np.sum(x[i:i + H, j:j + H] * h) for j in range(n)] for i in range(n)])


def verdict_of(label: str, student, lang: str) -> Verdict:
    """A verdict as the grader writes it: the real checker, fresh cases, in ``lang``."""
    with using_language(lang), checks.fresh_cases(SEED):
        result = checks.EXERCISES[label][1](student)
    return Verdict(label, bool(result.passed), result.message)


def first_case_expected() -> float:
    """What the reference returns at (0, 0) on the grader's first single-channel case."""
    with checks.fresh_cases(SEED):
        x, h = checks._single_channel_cases(False)[0].args
    return correlate_valid(x, h)[0, 0]


def off_by_one(x, h):
    return correlate_valid(x, h) + 1.0


def flipped(x, h):
    return correlate_valid(x, h[::-1, ::-1])


def write_notebook(path, cells, language=None):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    if language:
        notebook.metadata["course"] = {"language": language}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def page_text(page: str) -> str:
    """The page as a reader sees it: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


# --- a verdict read back, expected values blanked ---------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_hidden_expected_value_never_reaches_the_page(lang):
    expected = f"{first_case_expected():.6g}"
    verdict = verdict_of("ex-conv-single", off_by_one, lang)
    assert expected in verdict.message            # the grader's own message does quote it ...
    grade = SubmissionGrade("ada.ipynb", "ok", {"ex-conv-single": verdict}, [])
    page = feedback_html(grade, lang)
    assert expected not in page                   # ... the student's page does not
    parts = parse_verdict(verdict.message, lang)
    assert (parts.kind, parts.case_number, parts.case_description) == ("not yet", 1, "x 5x5, h 3x3")
    assert f"{first_case_expected() + 1:.6g}" in parts.problem     # what the student's function returned stays


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_template_that_quotes_an_expected_value_is_blanked(lang):
    """Each way the checkers word a wrong answer, with a value found nowhere else."""
    secret = 987654.321     # shown as 987654 by {expected:.6g}
    problems = ["expected {expected}, got {got}", "expected the integer {expected}, got {got}",
                "expected {expected}, got something that is not numeric: {type}",
                "expected an array of shape {expected}, got shape {got}",
                "{count} of {size} values differ; first at index {index}: expected {expected:.6g}, got {got:.6g}"]
    with using_language(lang):
        for template in problems:
            problem = checks._(template).format(expected=secret, got=3.0, type="str", count=1, size=4, index=(0, 1))
            message = checks._("Not yet: {exercise}, case {number} of {total} ({description}): {problem}").format(
                exercise="x", number=2, total=5, description="x 5x5, h 3x3", problem=problem)
            assert "987654" in message
            grade = SubmissionGrade("a.ipynb", "ok", {"ex-conv-single": Verdict("ex-conv-single", False, message)},
                                    [])
            page = feedback_html(grade, lang)
            assert "987654" not in page and "…" in page_text(page), template


def test_a_wording_no_template_knows_is_not_shown():
    message = "Not yet: output size, case 3 of 9 (W=5, H=3, s=1, P=0): the answer was 123456789"
    page = feedback_html(SubmissionGrade("a.ipynb", "ok", {"ex-output-size": Verdict("ex-output-size", False,
                                                                                      message)}, []), "en")
    assert "123456789" not in page and "the answer is not the expected one" in page
    assert "Case 3 of 9 (W=5, H=3, s=1, P=0)" in page


def test_a_hint_is_the_same_in_both_languages():
    hints = {parse_verdict(verdict_of("ex-conv-single", flipped, lang).message, lang).hint_id for lang in ("en", "ja")}
    assert hints == {"your filter is flipped (true convolution); Keras and this course compute the cross-correlation"}
    ja = parse_verdict(verdict_of("ex-conv-single", flipped, "ja").message, "ja")
    assert ja.hint.startswith("フィルタが反転している")


def test_no_credit_shows_why():
    message = ("No credit: my_conv calls scipy.signal.correlate2d; the exercise asks for your own implementation. "
               "(The checker said: Passed: single-channel convolution, all 5 cases.)")
    parts = parse_verdict(message, "en")
    assert (parts.kind, parts.why) == ("no credit", "my_conv calls scipy.signal.correlate2d")


# --- the student's page ---------------------------------------------------------------------

def test_the_page_escapes_what_a_student_wrote_and_needs_nothing_online():
    name = '<script>alert("name")</script>.ipynb'
    log = ["code cell 2: ValueError: <img src=x onerror=alert(1)>"]
    raised = verdict_of("ex-conv-single", lambda x, h: (_ for _ in ()).throw(ValueError("<b>bold</b>")), "en")
    page = feedback_html(SubmissionGrade(name, "ran with 1 cell error(s)", {"ex-conv-single": raised}, log), "en")
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert '&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;' in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert not re.search(r"https?:|\bsrc=|<link|@import|url\(", page.replace("src=x", "")), page
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page


def test_the_page_speaks_the_notebook_language():
    for lang, words in (("en", ["Verdict", "Not yet", "Hint: your filter is flipped"]),
                        ("ja", ["判定", "未合格", "ヒント: フィルタが反転している"])):
        grade = SubmissionGrade("a.ipynb", "ok", {"ex-conv-single": verdict_of("ex-conv-single", flipped, lang)}, [])
        page = feedback_html(grade, lang)
        assert f'<html lang="{lang}">' in page
        assert all(word in page_text(page) for word in words), lang


# --- deadlines --------------------------------------------------------------------------------

DUE = datetime.datetime(2026, 12, 1, 23, 59, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("late_by, score, expected", [
    (datetime.timedelta(0), 80, 80),                       # on time to the second
    (datetime.timedelta(seconds=-3600), 80, 80),           # early
    (datetime.timedelta(seconds=1), 80, 70),               # one day begun
    (datetime.timedelta(days=1), 80, 70),                  # exactly one day
    (datetime.timedelta(days=1, seconds=1), 80, 60),       # a second day begun
    (datetime.timedelta(days=9), 80, 50),                  # the floor
    (datetime.timedelta(days=9), 40, 40),                  # below the floor: not raised
    (datetime.timedelta(days=1, seconds=1), 55, 50),       # 35 would be under the floor
])
def test_late_deduction_per_day_begun_with_a_floor(late_by, score, expected):
    policy = LatePolicy.parse("10%/day", "50%")
    assert policy.apply(score, DUE, DUE + late_by).score == pytest.approx(expected)


def test_late_policy_intervals_and_bad_options():
    assert LatePolicy.parse("2%/6hours").interval_s == 6 * 3600
    assert LatePolicy.parse("5 % / hour").apply(100, DUE, DUE + datetime.timedelta(minutes=61)).score == 90
    for bad, words in [("10", "10%/day"), ("10%/fortnight", "minute, hour"), ("150%/day", "at most 100%")]:
        with pytest.raises(ValueError, match=re.escape(words)):
            LatePolicy.parse(bad)
    with pytest.raises(ValueError, match="--late-floor"):
        LatePolicy.parse("10%/day", "120%")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("1st of December")
    assert parse_time("2026-12-02T08:59+09:00") == DUE


def test_submission_time_from_the_manifest_else_the_file(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    stamp = DUE.timestamp() + 7200
    os.utime(tmp_path / "a.ipynb", (stamp, stamp))
    (tmp_path / "manifest.csv").write_text("file,submitted_at,id\nb.ipynb,2026-12-03T00:00Z,42\n")
    manifest = read_manifest(tmp_path / "manifest.csv")
    assert submission_time(tmp_path / "a.ipynb", "a.ipynb", manifest) == DUE + datetime.timedelta(hours=2)
    assert submission_time(tmp_path / "b.ipynb", "b.ipynb", manifest) == DUE + datetime.timedelta(minutes=1441)
    (tmp_path / "bad.csv").write_text("file,submitted_at\nb.ipynb,yesterday\n")
    with pytest.raises(ValueError, match="row 2"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "nofile.csv").write_text("name,id\nada,1\n")
    with pytest.raises(ValueError, match="'file'"):
        read_manifest(tmp_path / "nofile.csv")


# --- Canvas -----------------------------------------------------------------------------------

def test_canvas_gradebook_columns_and_ids():
    manifest = {"a.ipynb": {"name": "Lovelace, Ada", "id": "101", "sis_user_id": "S1", "sis_login_id": "ada",
                            "section": "A"}}
    header, rows = canvas_rows(["a.ipynb", "b.ipynb"], {"a.ipynb": 87.5, "b.ipynb": 0.0}, manifest, "Homework 1")
    # The columns of Canvas's gradebook import (Instructure, "How do I import grades in the Gradebook?").
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1"]
    assert rows[0] == {"Student": "Lovelace, Ada", "ID": "101", "SIS User ID": "S1", "SIS Login ID": "ada",
                       "Section": "A", "Homework 1": "87.50"}
    assert unmatched(rows) == ["b.ipynb"]


# --- same functions ---------------------------------------------------------------------------

LOOPS = '''
import numpy as np

def my_conv(x, h):
    """Slide h over x."""
    H = h.shape[0]
    n = x.shape[0] - H + 1
    u = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            u[i, j] = np.sum(x[i:i + H, j:j + H] * h)
    return u
'''
RENAMED = '''
import numpy as np
def my_conv(image, kernel):
    # my own work
    size = kernel.shape[0]; out_side = image.shape[0] - size + 1
    result = np.zeros( (out_side, out_side) )
    for row in range(out_side):
        for col in range(out_side):   # every position
            result[row, col] = np.sum(image[row:row + size, col:col + size] * kernel)
    return result
'''
HONEST = '''
import numpy as np

def my_conv(x, h):
    H = h.shape[0]
    W = x.shape[0]
    rows = []
    for i in range(W - H + 1):
        row = [float((x[i:i + H, j:j + H] * h).sum()) for j in range(W - H + 1)]
        rows.append(row)
    return np.array(rows)
'''


CONV_CASE = (np.arange(25.0).reshape(5, 5) % 7, np.array([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0], [1.0, 0.0, -2.0]]))


def run_my_conv(source):
    namespace = {}
    exec(compile(source, "<solution>", "exec"), namespace)   # the test's own sources, not a student's
    return namespace["my_conv"](*CONV_CASE)


def test_renamed_and_reformatted_copies_are_flagged_an_honest_solution_not():
    for source in (LOOPS, RENAMED, HONEST):
        assert np.allclose(run_my_conv(source), correlate_valid(*CONV_CASE))   # all three are right
    notebooks = {"ada.ipynb": ["import numpy as np", LOOPS], "bob.ipynb": [RENAMED],
                 "cy.ipynb": [HONEST], "dee.ipynb": ["def my_conv(x, h):\n    ...  # your code here\n"]}
    groups, short = similar_functions(notebooks, {"ex-conv-single": "my_conv"})
    assert [(g.exercise, g.students) for g in groups] == [("ex-conv-single", ["ada.ipynb", "bob.ipynb"])]
    assert pairs(groups) == [("ex-conv-single", "ada.ipynb", "bob.ipynb")]
    assert short == 1         # the placeholder is too short to compare
    assert function_digest(LOOPS, "my_conv") != function_digest(LOOPS.replace("x[i:i + H", "x[i:i + H - 0"), "my_conv")


def test_a_copy_of_the_instructor_solution_is_flagged_alone():
    references = reference_digests(ROOT / "book", {"ex-conv-single": "my_conv"})
    book = (ROOT / "book" / "01_convolution.md").read_text(encoding="utf-8")
    body = re.search(r"^def my_conv\(x, h\):\n    ### BEGIN SOLUTION\n(.*?)^    ### END SOLUTION", book,
                     re.S | re.M).group(1)
    assert "for i in range" in body
    renamed = (body.replace("x[", "img[").replace("* h", "* flt").replace("h.shape", "flt.shape")
               .replace("x.shape", "img.shape"))
    pasted = "def my_conv(img, flt):\n    # I wrote this\n" + renamed
    groups, _ = similar_functions({"eve.ipynb": [pasted], "cy.ipynb": [HONEST]}, {"ex-conv-single": "my_conv"},
                                  references)
    assert [(g.students, g.matches_reference) for g in groups] == [(["eve.ipynb"], True)]


# --- the class report and all the files together ------------------------------------------------

def class_of_three():
    right = verdict_of("ex-conv-single", correlate_valid, "en")
    return [SubmissionGrade("ada.ipynb", "ok", {"ex-conv-single": right}, []),
            SubmissionGrade("bob.ipynb", "ok", {"ex-conv-single": verdict_of("ex-conv-single", flipped, "en")}, []),
            SubmissionGrade("cy.ipynb", "ran with 1 cell error(s)",
                            {"ex-conv-single": verdict_of("ex-conv-single", flipped, "ja")},
                            ["code cell 1: NameError"]),
            SubmissionGrade("dee.ipynb", "unreadable (ValueError)",
                            {"ex-conv-single": Verdict("ex-conv-single", False,
                                                       "Not graded: the notebook could not be read")}, [])]


def test_class_report_counts_cases_and_hints_across_languages():
    grades = class_of_three()
    languages = {"ada.ipynb": "en", "bob.ipynb": "en", "cy.ipynb": "ja", "dee.ipynb": "en"}
    summary = summarise_exercises(grades, languages)["ex-conv-single"]
    assert (summary.scored, summary.passed, summary.not_graded) == (4, 1, 1)
    assert summary.cases.most_common(1) == [("case 1 of 5 (x 5x5, h 3x3)", 2)]
    assert summary.hints.most_common(1)[0][1] == 2
    scores = {"ada.ipynb": 100.0, "bob.ipynb": 0.0, "cy.ipynb": 0.0, "dee.ipynb": 0.0}
    page = class_report_html(grades, languages, scores, {}, [], 0, {"ada.ipynb": "grades-feedback/ada.html"})
    text = page_text(page)
    assert "case 1 of 5 (x 5x5, h 3x3) (2)" in text and "your filter is flipped" in text
    assert "unreadable (ValueError)" in text and "ran with 1 cell error(s)" in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert not re.search(r"https?:|<link|<script", page)


def test_write_handback_writes_every_file_in_each_language(tmp_path):
    root = tmp_path / "subs"
    write_notebook(root / "ada.ipynb", ["x = 1"], "en")
    write_notebook(root / "sec" / "cy.ipynb", ["x = 1"], "ja")
    grades = [SubmissionGrade("ada.ipynb", "ok", {"ex-conv-single": verdict_of("ex-conv-single", flipped, "en")}, []),
              SubmissionGrade("sec/cy.ipynb", "ok", {"ex-conv-single": verdict_of("ex-conv-single", flipped, "ja")},
                              [])]
    (tmp_path / "grades-feedback").mkdir()
    (tmp_path / "grades-feedback" / "gone.html").write_text("a page of an earlier run")
    manifest = {"ada.ipynb": {"id": "1"}, "sec/dee.ipynb": {"id": "2"}}    # dee handed in nothing
    paths, warnings = write_handback(tmp_path / "grades.csv", grades, root, write_csv, Settings(manifest=manifest))
    pages = sorted(p.relative_to(paths["feedback"]).as_posix() for p in paths["feedback"].rglob("*.html"))
    assert pages == ["ada.html", "sec/cy.html"] == sorted(feedback_name(g.student) for g in grades)
    assert '<html lang="ja">' in (paths["feedback"] / "sec" / "cy.html").read_text(encoding="utf-8")
    assert warnings == ["1 notebook(s) of the manifest were not handed in (no row for them): sec/dee.ipynb",
                        "1 row(s) of grades-canvas.csv carry no Canvas or SIS id, so Canvas cannot match them to a "
                        "student: give a --manifest with the columns id, sis_user_id or sis_login_id"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_grade_command_writes_the_handback_with_a_deadline(tmp_path):
    """One run of scripts/grade.py (without the sandbox: these notebooks are the test's own)."""
    subs = tmp_path / "subs"
    good = "def my_output_size(W, H, s=1, P=0):\n    return (W + 2 * P - H) // s + 1"
    write_notebook(subs / "ada.ipynb", [good])
    write_notebook(subs / "bob.ipynb", [good], "ja")
    on_time, late = DUE.timestamp() - 60, DUE.timestamp() + 25 * 3600     # bob: 25 h late, 2 days begun
    for name, stamp in (("ada", on_time), ("bob", late)):
        os.utime(subs / f"{name}.ipynb", (stamp, stamp))
    (tmp_path / "manifest.csv").write_text("file,name,id\nada.ipynb,Ada,7\n")
    out = tmp_path / "out" / "grades.csv"
    out.parent.mkdir()
    run = subprocess.run(GRADE + [str(subs), "--out", str(out), "--no-sandbox", "--exercises", "ex-output-size",
                                  "--due", "2026-12-01T23:59Z", "--late-penalty", "10%/day", "--late-floor", "50%",
                                  "--manifest", str(tmp_path / "manifest.csv"), "--assignment", "HW 1"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = {row["student"]: row for row in csv.DictReader(open(out))}
    assert [(rows[s]["late"][:15], rows[s]["deduction"], rows[s]["score"]) for s in ("ada.ipynb", "bob.ipynb")] == [
        ("", "0", "100.00"), ("late by 1 d 1 h", "20", "80.00")]
    canvas = list(csv.DictReader(open(out.with_name("grades-canvas.csv"))))
    assert [(r["Student"], r["ID"], r["HW 1"]) for r in canvas] == [("Ada", "7", "100.00"), ("bob.ipynb", "", "80.00")]
    assert "1 row(s) of grades-canvas.csv carry no Canvas or SIS id" in run.stderr
    bob = page_text((out.parent / "grades-feedback" / "bob.html").read_text(encoding="utf-8"))
    assert "締め切りの 1 日 1 時間 後に提出された: 20 ポイント減点、得点は 80%。" in bob
    assert "合格" in bob and '<html lang="ja">' in (out.parent / "grades-feedback" / "bob.html").read_text()
    for name in ("grades-report.html", "grades-similar.csv", "grades-canvas.csv", "grades-feedback"):
        assert str(out.with_name(name)) in run.stdout
    before = out.read_bytes()
    refused = subprocess.run(GRADE + [str(subs), "--out", str(out), "--no-sandbox", "--due", "tomorrow"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode == 2 and "--due: expected a time" in refused.stderr, refused.stderr
    assert out.read_bytes() == before       # a refused run loses nothing


@pytest.mark.parametrize("options, words", [(["--late-penalty", "10%/day"], "need --due"),
                                            (["--due", "2026-12-01", "--late-floor", "half"], "--late-floor"),
                                            (["--manifest", "/nonexistent/manifest.csv"], "cannot read")])
def test_bad_handback_options_are_named(options, words, tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=tmp_path / "grades.csv")
    add_arguments(parser)
    settings, problems = settings_from(parser.parse_args(options))
    assert len(problems) == 1 and words in problems[0], problems


def test_a_feedback_folder_of_someone_else_is_not_replaced(tmp_path):
    """The grader replaces its own feedback folder whole; one it did not write is refused before grading."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "grades.csv")])
    (tmp_path / "grades-feedback").mkdir()
    (tmp_path / "grades-feedback" / "my-notes.txt").write_text("the instructor's own")
    assert "was not written by the grader" in settings_from(args)[1][0]
    paths, _warnings = write_handback(tmp_path / "other.csv", [], tmp_path, write_csv, Settings())
    assert settings_from(parser.parse_args(["--out", str(tmp_path / "other.csv")]))[1] == []   # its own: fine
