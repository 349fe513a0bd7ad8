"""The notebooks `make test-notebooks` runs: each chapter with its stored outputs, then its
student edition's exercises on the state the shared cells left (scripts/nbval_notebooks.py).
Running them is `make test-notebooks`' job; these tests check how they are put together."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import nbval_notebooks  # noqa: E402
from test_student_edition import MARKDOWN, is_solution_cell, solution_text_lines  # noqa: E402


def _code(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code"]


def shared_code_cells(md: Path) -> int:
    """How many code cells of a chapter come before its first solution cell or model answer,
    read from the chapter's source (book/X.md) with the leak test's parser."""
    fences = [t for t in MARKDOWN.parse(md.read_text()) if t.type == "fence"]
    answers = solution_text_lines(fences)
    cells = [f for f in fences if f.info.startswith("{code-cell}")]
    return next((n for n, f in enumerate(cells) if is_solution_cell(f) or f.map[0] in answers), len(cells))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbval") / "_nbval"
    assert nbval_notebooks.main(["--out", str(out)]) == 0
    return out


def test_every_chapter_is_written(written):
    assert sorted(p.name for p in written.glob("*.ipynb")) == sorted(p.name for p in (ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("chapter", sorted((ROOT / "book").glob("[0-9]*.ipynb")), ids=lambda p: p.stem)
def test_the_chapter_then_its_student_exercises(written, chapter):
    combined = nbformat.read(written / chapter.name, as_version=4)
    nbformat.validate(combined)                                  # cell ids unique, among others
    full = nbformat.read(chapter, as_version=4)
    solutions = [c for c in _code(full) if "solution" in c.metadata.get("tags", [])]
    code = _code(combined)
    # The kernel starts in the folder of the written notebook; the chapter runs in book/.
    assert (written / ast.literal_eval(code[0].source.split("chdir(", 1)[1].rsplit(")", 1)[0])).resolve() == ROOT / "book"
    after_chdir = [c for c in code[1:] if nbval_notebooks.SAVED not in c.source]
    chapter_cells = after_chdir[:len(_code(full))]
    assert [(c.source, c.outputs) for c in chapter_cells] == [(c.source, c.outputs) for c in _code(full)]
    exercises = after_chdir[len(_code(full)):]
    if not solutions:
        assert not exercises and len(code) == len(_code(full)) + 1
        return
    assert exercises and all("nbval-ignore-output" in c.metadata["tags"] and not c.outputs for c in exercises)
    assert sum("...  # your code here" in c.source for c in exercises) == len(solutions)
    # The recording cell comes right after the last code cell the two editions share.
    shared = shared_code_cells(chapter.with_suffix(".md"))
    assert code[shared + 1].source == nbval_notebooks.RECORD
    assert code[-len(exercises) - 1].source == nbval_notebooks.RESTORE


def test_the_exercises_see_only_what_the_shared_cells_left():
    """The two inserted cells, run in one namespace as a kernel runs cells."""
    namespace = {"x": [1, 2], "_": "last output", "In": [], "_i3": "x"}
    shared_x = namespace["x"]
    exec(nbval_notebooks.RECORD, namespace)
    exec("import json\nanswer = 42\nx = 'rebound by the model answer'\n_7 = answer\n_i7 = 'answer = 42'", namespace)
    exec(nbval_notebooks.RESTORE, namespace)
    assert namespace["x"] is shared_x
    assert "answer" not in namespace and "json" not in namespace and nbval_notebooks.SAVED not in namespace
    assert "_name" not in namespace
    assert namespace["_7"] == 42 and "_i7" in namespace       # IPython's history names are its own


def test_an_exercise_that_leans_on_the_model_answer_fails(tmp_path):
    """A student cell that uses a name only the model answer defined raises in the kernel."""
    namespace = {}
    exec(nbval_notebooks.RECORD, namespace)
    exec("def helper():\n    return 1\n", namespace)
    exec(nbval_notebooks.RESTORE, namespace)
    with pytest.raises(NameError):
        exec("helper()", namespace)


def test_a_folder_it_did_not_write_is_refused_and_kept(tmp_path, capsys):
    (tmp_path / "01_convolution.ipynb").write_text("{}")
    with pytest.raises(SystemExit):
        nbval_notebooks.main(["--out", str(tmp_path), str(ROOT / "book" / "00_intro.ipynb")])
    assert "not written by this script" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_convolution.ipynb"]


def test_a_folder_it_wrote_loses_its_stale_notebooks(tmp_path):
    out = tmp_path / "_nbval"
    assert nbval_notebooks.main(["--out", str(out), str(ROOT / "book" / "00_intro.ipynb")]) == 0
    (out / "99_removed_chapter.ipynb").write_text("{}")
    assert nbval_notebooks.main(["--out", str(out), str(ROOT / "book" / "00_intro.ipynb")]) == 0
    assert sorted(p.name for p in out.iterdir()) == [nbval_notebooks.MARKER, "00_intro.ipynb"]
