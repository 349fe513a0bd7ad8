"""The student edition leaks no solution, and keeps what a student needs to start.

The leak test reads the solutions straight from the instructor's source (book/*.md), with
its own parser, not through scripts/student_edition.py, and searches the student notebooks
and, when built (`make test-student`), the student HTML with tags removed and entities
unescaped. Mutation tests plant a leak and prove the search finds it.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import student_edition  # noqa: E402

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?P<options>(?::[^\n]*\n)*)(?P<body>.*?)^```[ \t]*$", re.S | re.M)
SOLUTION_TEXT = re.compile(r"^```\{solution\}.*?^```[ \t]*$", re.S | re.M)
GATED = re.compile(r"^```\{solution-start\}.*?^```\{solution-end\}\s*\n```[ \t]*$", re.S | re.M)
MIN_LENGTH = 16


def _hidden_code(body: str) -> list[str]:
    """The lines of a solution code cell a student must not see."""
    lines = body.splitlines()
    if any(line.strip() == BEGIN for line in lines):
        hidden, inside = [], False
        for line in lines:
            if line.strip() in (BEGIN, END):
                inside = line.strip() == BEGIN
            elif inside:
                hidden.append(line)
        return hidden
    return [line for line in lines if not line.startswith(("def ", "check_"))]


def _is_solution_cell(options: str) -> bool:
    tags = re.search(r"^:tags:\s*\[(.*)\]", options, re.M)
    return bool(tags) and "solution" in [t.strip().strip("'\"") for t in tags.group(1).split(",")]


def normalise(text: str) -> str:
    return " ".join(text.split())


def solution_fingerprints(book: Path = ROOT / "book") -> set[str]:
    """Distinctive lines of every solution that appear nowhere in the book's public text."""
    hidden, public = [], []
    for md in sorted(book.glob("*.md")):
        text = md.read_text()
        for block in SOLUTION_TEXT.findall(text) + GATED.findall(text):
            prose = CODE_CELL.sub("", block)           # its code cells are read below
            hidden += [line for line in prose.splitlines()[1:] if not line.startswith((":", "```"))]
        for cell in CODE_CELL.finditer(text):
            if _is_solution_cell(cell["options"]):
                hidden += _hidden_code(cell["body"])
        without = GATED.sub("", SOLUTION_TEXT.sub("", text))
        without = CODE_CELL.sub(lambda c: "" if _is_solution_cell(c["options"]) else c[0], without)
        public.append(normalise(without))
    public_text = "\n".join(public)
    return {normalise(line) for line in hidden
            if len(line.strip()) >= MIN_LENGTH and normalise(line) not in public_text}


def notebook_text(path: Path) -> str:
    notebook = json.loads(path.read_text())
    return normalise("\n".join("".join(cell.get("source", "")) for cell in notebook["cells"]))


def html_text(page: str) -> str:
    return normalise(html.unescape(re.sub(r"<[^>]+>", "", page)))


def leaks(text: str, fingerprints: set[str]) -> list[str]:
    return sorted(line for line in fingerprints if line in text)


@pytest.fixture(scope="module")
def fingerprints():
    """Of both editions: the Japanese model answers are Japanese text around the same code."""
    return solution_fingerprints() | solution_fingerprints(ROOT / "ja" / "book")


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert student_edition.main(out) == 0
    return out


def test_there_are_solutions_to_hide(fingerprints):
    assert len(fingerprints) >= 30
    assert normalise("u[i, j] = np.sum(x[i:i + H, j:j + H] * h)") in fingerprints


def test_every_solution_code_cell_marks_its_solution():
    for md in sorted((ROOT / "book").glob("*.md")):
        for cell in CODE_CELL.finditer(md.read_text()):
            if _is_solution_cell(cell["options"]):
                assert BEGIN in cell["body"] and END in cell["body"], f"{md.name}: {cell['body'][:80]!r}"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_student_notebooks_hold_no_solution_and_no_output(edition, fingerprints, language):
    book = edition / "book" if language == "en" else edition / "ja" / "book"
    assert len(list(book.glob("*.ipynb"))) == len(list((ROOT / "book").glob("*.ipynb")))
    for path in sorted(book.glob("*.ipynb")):
        assert not leaks(notebook_text(path), fingerprints), f"{path.name} leaks {leaks(notebook_text(path), fingerprints)[:2]}"
        notebook = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
        text = path.read_text()
        assert "solution-start" not in text and "{solution}" not in text and "BEGIN SOLUTION" not in text
        assert notebook.metadata["course"]["chapter"] == path.stem
        assert notebook.metadata["course"].get("language", "en") == language
    for path in sorted(book.glob("*.md")):
        assert not leaks(normalise(path.read_text()), fingerprints), path.name


def test_placeholders_keep_signatures_and_checks(edition):
    text = (edition / "book" / "02_stride.md").read_text()
    assert "def my_output_size(W, H, s=1, P=0):\n    ...  # your code here" in text
    assert "check_output_size(my_output_size)" in text


def test_markers_keep_everything_but_the_solution():
    cell = ('import numpy as np\n\n@functools.cache\ndef my_f(a,\n         b=1):\n    """Add.\n\n    Long.\n    """\n'
            f"    {BEGIN}\n    return a + b\n    {END}\n\nprint(my_f(1))\ncheck_f(my_f)\n")
    assert student_edition.placeholder(cell) == (
        'import numpy as np\n\n@functools.cache\ndef my_f(a,\n         b=1):\n    """Add.\n\n    Long.\n    """\n'
        "    ...  # your code here\n\nprint(my_f(1))\ncheck_f(my_f)\n")


def test_a_cell_without_markers_keeps_def_lines_and_checks():
    assert student_edition.placeholder("def my_g(x):\n    return 2 * x\n\ncheck_g(my_g)\n") == (
        "def my_g(x):\n    ...  # your code here\n\ncheck_g(my_g)\n")


@pytest.mark.parametrize("cell", [f"{BEGIN}\nx = 1\n", f"x = 1\n{END}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"])
def test_unbalanced_markers_are_an_error(cell):
    with pytest.raises(ValueError, match="SOLUTION"):
        student_edition.placeholder(cell)


# --- the leak test can fail --------------------------------------------------------------------

def test_a_leak_planted_in_a_notebook_is_found(edition, fingerprints, tmp_path):
    planted = tmp_path / "01_convolution.ipynb"
    notebook = nbformat.read(edition / "book" / "01_convolution.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("Hint: `u[i, j] = np.sum(x[i:i + H, j:j + H] * h)`"))
    nbformat.write(notebook, planted)
    assert leaks(notebook_text(planted), fingerprints)


def test_a_leak_in_highlighted_escaped_html_is_found(fingerprints):
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    line = next(f for f in sorted(fingerprints) if any(c in f for c in "<>&\"'")) if any(
        any(c in f for c in "<>&\"'") for f in fingerprints) else sorted(fingerprints)[0]
    page = f"<html><body>{highlight(line, PythonLexer(), HtmlFormatter())}</body></html>"
    assert line not in page or not any(c in line for c in "<>&\"'")   # escaped or split by the highlighter
    assert leaks(html_text(page), fingerprints) == [line]


def test_a_student_edition_that_keeps_solutions_is_caught(fingerprints, tmp_path, monkeypatch):
    monkeypatch.setattr(student_edition, "placeholder", lambda source: source)
    assert student_edition.main(tmp_path / "broken") == 0
    found = [path.name for path in (tmp_path / "broken" / "book").glob("*.ipynb")
             if leaks(notebook_text(path), fingerprints)]
    assert {"01_convolution.ipynb", "02_stride.ipynb", "04_pooling.ipynb"} <= set(found)


# --- the HTML, built by `make test-student` ------------------------------------------------------

def test_student_html_holds_no_solution(fingerprints):
    html_folder = ROOT / "student" / "_build" / "html"
    if not html_folder.exists():
        pytest.skip("build the student HTML with `make student` (make test-student does)")
    pages = sorted(html_folder.rglob("*.html"))
    assert pages
    for page in pages:
        found = leaks(html_text(page.read_text(errors="replace")), fingerprints)
        assert not found, f"{page.relative_to(html_folder)} leaks {found[:2]}"


# ------------------------------------------------------------------ no attempt to finish

def attempts(notebook: Path) -> list[str]:
    """Functions ``my_...`` of a student notebook whose body is anything but the placeholder:
    a shown attempt that a student could finish by the edit its hint names."""
    import ast

    found = []
    for cell in json.loads(notebook.read_text())["cells"]:
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] != "code" or "def my_" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("my_"):
                body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
                if body:
                    found.append(f"{notebook.name}: {node.name} has a body:\n{ast.get_source_segment(source, node)}")
    return found


def test_the_student_edition_shows_no_attempt_to_finish(edition):
    """A wrong attempt shown with its hint ("forgets the +1") lets a student pass by one edit;
    the book keeps such attempts inside the model answers, and the student edition drops them
    with the answers: every my_ function it defines is the bare placeholder."""
    notebooks = sorted((edition / "book").glob("*.ipynb")) + sorted((edition / "ja" / "book").glob("*.ipynb"))
    defined = sum("def my_" in "".join(c.get("source", "")) for n in notebooks
                  for c in json.loads(n.read_text())["cells"])
    assert defined >= 34
    found = [a for n in notebooks for a in attempts(n)]
    assert not found, "\n\n".join(found)


def test_a_wrong_attempt_planted_in_the_student_edition_is_found(edition, tmp_path):
    attempt = "def my_output_size(W, H, s=1, P=0):\n    return (W + 2 * P - H) // s   # not quite\n"
    notebook = nbformat.read(edition / "book" / "02_stride.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(attempt + "\nprint(check_output_size(my_output_size))\n"))
    planted = tmp_path / "02_stride.ipynb"
    nbformat.write(notebook, planted)
    assert len(attempts(planted)) == 1
