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
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import student_edition  # noqa: E402

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MIN_LENGTH = 16
MARKDOWN = MarkdownIt("commonmark").use(front_matter_plugin)   # the jupytext header is no text


def _directive(fence) -> str:
    return fence.info.split()[0] if fence.info.split() else ""


def code_cell(fence) -> tuple[dict, str]:
    """A MyST code cell's options (a ``---`` YAML block or ``:key: value`` lines) and its code."""
    lines = fence.content.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        end = next(n for n in range(1, len(lines)) if lines[n].strip() == "---")
        return yaml.safe_load("".join(lines[1:end])) or {}, "".join(lines[end + 1:])
    n = 0
    while n < len(lines) and lines[n].startswith(":"):
        n += 1
    return yaml.safe_load("".join(line[1:] for line in lines[:n])) or {}, "".join(lines[n:])


def is_solution_cell(fence) -> bool:
    return _directive(fence) == "{code-cell}" and "solution" in code_cell(fence)[0].get("tags", [])


def solution_text_lines(fences) -> set[int]:
    """The line numbers of every {solution} block and of every region from a {solution-start}
    to its {solution-end}."""
    hidden, start = set(), None
    for fence in fences:
        name = _directive(fence)
        if name == "{solution}" and start is None:
            hidden.update(range(*fence.map))
        elif name == "{solution-start}" and start is None:
            start = fence.map[0]
        elif name == "{solution-end}" and start is not None:
            hidden.update(range(start, fence.map[1]))
            start = None
    return hidden


def _hidden_code(code: str) -> list[str]:
    """The lines of a solution code cell a student must not see: those between the markers
    (a cell without them fails test_every_solution_code_cell_marks_its_solution)."""
    hidden, inside = [], False
    for line in code.splitlines():
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside:
            hidden.append(line)
    return hidden


def normalise(text: str) -> str:
    return " ".join(text.split())


def solution_fingerprints(book: Path = ROOT / "book") -> set[str]:
    """Distinctive lines of every solution that appear nowhere in the book's public text."""
    hidden, public = [], []
    for md in sorted(book.glob("*.md")):
        text = md.read_text()
        lines = text.splitlines()
        fences = [t for t in MARKDOWN.parse(text) if t.type == "fence"]
        text_lines = solution_text_lines(fences)
        code_lines = {n for f in fences if _directive(f) == "{code-cell}" for n in range(*f.map)}
        hidden += [lines[n] for n in sorted(text_lines - code_lines)   # its code cells are read below
                   if not lines[n].startswith((":", "```"))]
        solutions = [f for f in fences if is_solution_cell(f)]
        for fence in solutions:
            hidden += _hidden_code(code_cell(fence)[1])
        private = text_lines | {n for f in solutions for n in range(*f.map)}
        public.append(normalise("\n".join(line for n, line in enumerate(lines) if n not in private)))
    public_text = "\n".join(public)
    return {normalise(line) for line in hidden
            if len(line.strip()) >= MIN_LENGTH and normalise(line) not in public_text}


def notebook_text(path: Path) -> str:
    """A notebook's sources and text outputs."""
    notebook = json.loads(path.read_text())
    outputs = ["".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
               for cell in notebook["cells"] for o in cell.get("outputs", [])]
    return normalise("\n".join(["".join(cell.get("source", "")) for cell in notebook["cells"]] + outputs))


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
    out = tmp_path_factory.mktemp("edition") / "student"
    assert student_edition.main([str(out)]) == 0
    return out


def test_there_are_solutions_to_hide(fingerprints):
    assert len(fingerprints) >= 30
    assert normalise("u[i, j] = np.sum(x[i:i + H, j:j + H] * h)") in fingerprints


@pytest.mark.parametrize("md", sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "ja" / "book").glob("*.md")),
                         ids=lambda md: md.relative_to(ROOT).as_posix())
def test_every_solution_code_cell_marks_its_solution(md):
    for fence in MARKDOWN.parse(md.read_text()):
        if fence.type == "fence" and is_solution_cell(fence):
            code = code_cell(fence)[1]
            assert BEGIN in code and END in code, f"{md.name}: {code[:80]!r}"


def test_a_solution_cell_without_markers_is_found(tmp_path):
    chapter = tmp_path / "book" / "99_planted.md"
    chapter.parent.mkdir()
    chapter.write_text("# A\n\n```{code-cell} ipython3\n:tags: [solution]\n\ndef my_f(x):\n    return x\n```\n")
    with pytest.raises(AssertionError, match="99_planted"):
        test_every_solution_code_cell_marks_its_solution(chapter)


def _outputs(path: Path) -> list[tuple[str, list]]:
    return [(c.source, c.outputs) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("language", ["en", "ja"])
def test_student_notebooks_hold_no_solution_and_only_the_shared_outputs(edition, fingerprints, language):
    """Outputs in the code cells before the first whose code is not the chapter's code cell
    at the same place (those of book/X.ipynb, which nbval re-checks); none from there on."""
    source = ROOT if language == "en" else ROOT / "ja"
    book = edition / "book" if language == "en" else edition / "ja" / "book"
    assert len(list(book.glob("*.ipynb"))) == len(list((ROOT / "book").glob("*.ipynb")))
    for path in sorted(book.glob("*.ipynb")):
        assert not leaks(notebook_text(path), fingerprints), f"{path.name} leaks {leaks(notebook_text(path), fingerprints)[:2]}"
        notebook = nbformat.read(path, as_version=4)
        student, full = _outputs(path), _outputs(source / "book" / path.name)
        shared = next((n for n, (s, f) in enumerate(zip(student, full)) if s[0] != f[0]), len(student))
        assert [o for _, o in student[:shared]] == [o for _, o in full[:shared]], path.name
        assert not any(o for _, o in student[shared:]), f"{path.name}: an output after the shared cells"
        assert path.stem == "glossary" or any(o for _, o in student[:shared]), path.name
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


@pytest.mark.parametrize("cell", ["def my_g(x):\n    return 2 * x\n", f"{BEGIN}\nx = 1\n", f"x = 1\n{END}\n",
                                  f"{BEGIN}\n{BEGIN}\n{END}\n"])
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
    assert student_edition.main([str(tmp_path / "broken")]) == 0
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


# ------------------------------------------------------------------ the output folder

@pytest.fixture
def one_chapter(monkeypatch):
    """A student edition of the first chapter only: the folder handling is what is tested."""
    monkeypatch.setattr(student_edition, "chapter_notebooks",
                        lambda source: sorted((source / "book").glob("00_*.ipynb")))


def test_help_prints_help_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        student_edition.main(["--help"])
    assert stopped.value.code == 0
    assert "usage:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["..", ".", "existing"])
def test_a_folder_that_is_not_a_student_edition_is_refused_and_kept(name, tmp_path, monkeypatch, capsys, one_chapter):
    """`student_edition.py ..` once deleted the parent folder."""
    cwd = tmp_path / "parent" / "existing"
    cwd.mkdir(parents=True)
    (tmp_path / "parent" / "keep.txt").write_text("mine")
    (cwd / "keep.txt").write_text("mine too")
    monkeypatch.chdir(cwd)
    with pytest.raises(SystemExit) as stopped:
        student_edition.main([name if name != "existing" else str(cwd)])
    assert stopped.value.code == 2
    assert "not a student edition" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "parent").rglob("*")) == ["existing", "keep.txt", "keep.txt"]


@pytest.mark.parametrize("folder", [ROOT, ROOT.parent])
def test_the_repository_and_its_parents_are_refused(folder, capsys):
    with pytest.raises(SystemExit):
        student_edition.main([str(folder)])
    assert "holds the repository" in capsys.readouterr().err


def test_an_edition_written_before_is_replaced(tmp_path, one_chapter):
    out = tmp_path / "student"
    assert student_edition.main([str(out)]) == 0
    (out / "book" / "stale.ipynb").write_text("{}")
    assert student_edition.main([str(out)]) == 0
    assert not (out / "book" / "stale.ipynb").exists() and (out / "book" / "00_intro.ipynb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]


def test_a_failed_run_keeps_the_previous_edition(tmp_path, monkeypatch, one_chapter):
    out = tmp_path / "student"
    assert student_edition.main([str(out)]) == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    monkeypatch.setattr(student_edition, "write_edition", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        student_edition.main([str(out)])
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]
