"""The student edition leaks no solution, and grading survives whatever comes back."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import student_edition  # noqa: E402


def solution_fingerprints():
    """Distinctive lines of every solution (solution code cells and solution texts) that
    appear nowhere else in the book."""
    lines, public = set(), ""
    for md in sorted((ROOT / "book").glob("*.md")):
        notebook = jupytext.read(md)
        public += "\n".join(c.source for c in student_edition.student_notebook(jupytext.read(md)).cells)
        for cell in notebook.cells:
            if "solution" in cell.metadata.get("tags", []):
                lines |= {l.strip() for l in cell.source.splitlines()
                          if len(l.strip()) > 25 and not l.startswith(("def ", "check_"))}
            elif cell.cell_type == "markdown":
                blocks = student_edition.SOLUTION_BLOCK.findall(cell.source)
                blocks += student_edition.GATED_START.findall(cell.source)
                for block in blocks:
                    lines |= {l.strip() for l in block.splitlines()[2:]
                              if len(l.strip()) > 25 and not l.startswith("```")}
    return {line for line in lines if line not in public}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert student_edition.main(out) == 0
    return out


def test_there_are_solutions_to_hide():
    assert len(solution_fingerprints()) >= 20


def test_student_notebooks_hold_no_solution_and_no_output(edition):
    fingerprints = solution_fingerprints()
    for path in sorted((edition / "book").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        text = json.dumps(notebook)
        leaked = [line for line in fingerprints if json.dumps(line)[1:-1] in text]
        assert not leaked, f"{path.name} leaks {leaked[:2]}"
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
        assert "solution-start" not in text and "{solution}" not in text


def test_placeholders_keep_signatures_and_checks(edition):
    text = (edition / "book" / "02_stride.md").read_text()
    assert "def my_output_size(W, H, s=1, P=0):\n    ...  # your code here" in text
    assert "check_output_size(my_output_size)" in text


def test_student_html_holds_no_solution():
    html = ROOT / "student" / "_build" / "html"
    if not html.exists():
        pytest.skip("build the student HTML with `make student`")
    fingerprints = solution_fingerprints()
    for page in sorted((html / "book").glob("*.html")):
        text = re.sub(r"<[^>]+>", "", page.read_text())
        leaked = [line for line in fingerprints if line in text]
        assert not leaked, f"{page.name} leaks {leaked[:2]}"


def _notebook(path: Path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


def test_grading_tolerates_crashes_hangs_and_broken_files(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    _notebook(submissions / "ada.ipynb",
              "def my_output_size(W, H, s=1, P=0):\n    return (W + 2 * P - H) // s + 1",
              "def my_param_count(H, K, M):\n    return H * H * K * M")  # bias forgotten
    _notebook(submissions / "bob.ipynb", "raise RuntimeError('oops')",
              "def my_param_count(H, K, M):\n    return (H * H * K + 1) * M")
    _notebook(submissions / "cy.ipynb", "while True:\n    pass",
              "def my_output_size(W, H, s=1, P=0):\n    return (W + 2 * P - H) // s + 1")
    (submissions / "dee.ipynb").write_text("{ this is not a notebook")
    out = tmp_path / "grades.csv"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), str(submissions), "--out", str(out),
                    "--cell-timeout", "10"], check=True, timeout=300)
    rows = {row["student"]: row for row in csv.DictReader(open(out))}
    assert rows["ada"]["ex-output-size"] == "1" and rows["ada"]["ex-param-count"] == "0"
    assert rows["ada"]["total"] == "1" and rows["ada"]["status"] == "ok"
    assert rows["bob"]["ex-param-count"] == "1" and "cell error" in rows["bob"]["status"]
    assert rows["cy"]["ex-output-size"] == "1"              # the hang was interrupted, grading went on
    assert rows["dee"]["status"].startswith("unreadable") and rows["dee"]["total"] == "0"
    feedback = list(csv.DictReader(open(tmp_path / "grades-feedback.csv")))
    ada_params = next(r for r in feedback if r["student"] == "ada" and r["exercise"] == "ex-param-count")
    assert "biases are missing" in ada_params["message"]
