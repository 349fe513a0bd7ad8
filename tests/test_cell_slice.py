"""The grader's slice of a notebook (course_utils.grading.cell_slice): the statements the
exercise functions need, and nothing a reader-facing cell does for show.

The expected slices below are written by hand from the rules of Python's scoping; the
chapters' test runs each chapter's slice and grades its own answers with the checkers."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from course_utils import checks
from course_utils.grading import cell_slice, submission

ROOT = Path(__file__).resolve().parents[1]


def kept(cells, names):
    """The lines of the statements kept, in order (every line when all are needed)."""
    sliced = cell_slice.needed_sources(cells, names)
    if sliced is None:
        sliced = [cell_slice.python_source(cell) for cell in cells]
    return [line for source in sliced for line in source.split("\n") if line]


def test_figures_training_and_prints_are_left_out():
    cells = ["import numpy as np\nimport keras",
             "x = np.ones((100, 28, 28))\nmodel = keras.Sequential()\nmodel.fit(x)\nprint(model)",
             "def my_f(a):\n    return np.maximum(a, 0)",
             "print(my_f(x))\ncheck(my_f)"]
    assert kept(cells, ["my_f"]) == ["import numpy as np", "def my_f(a):", "    return np.maximum(a, 0)"]


def test_a_global_the_function_reads_is_kept_even_when_bound_after_the_def():
    cells = ["import numpy as np", "def my_f(a):\n    return a @ W + helper(a)",
             "W = np.eye(3)\nbig = np.zeros(10**6)", "def helper(a):\n    return SCALE * a", "SCALE = 2.0"]
    assert kept(cells, ["my_f"]) == ["import numpy as np", "def my_f(a):", "    return a @ W + helper(a)",
                                     "W = np.eye(3)", "def helper(a):", "    return SCALE * a", "SCALE = 2.0"]


def test_changes_to_a_needed_value_are_kept():
    cells = ["table = {}", "table['a'] = 1", "table.update(b=2)", "other = [1]\nother.append(2)",
             "count = 0\ncount += 1", "def my_f():\n    return table, count"]
    assert kept(cells, ["my_f"]) == ["table = {}", "table['a'] = 1", "table.update(b=2)",
                                     "count = 0", "count += 1", "def my_f():", "    return table, count"]


def test_a_later_assignment_replaces_an_earlier_one_but_a_conditional_does_not():
    cells = ["x = expensive()", "x = 3", "y = expensive()", "if flag:\n    y = 4",
             "def my_f():\n    return x + y"]
    assert kept(cells, ["my_f"]) == ["x = 3", "y = expensive()", "if flag:", "    y = 4",
                                     "def my_f():", "    return x + y"]


def test_a_call_reads_what_the_called_function_reads_at_that_moment():
    cells = ["K = 2", "def scale(a):\n    return K * a", "W = scale(3)", "K = 5",
             "def my_f():\n    return W"]
    assert kept(cells, ["my_f"]) == ["K = 2", "def scale(a):", "    return K * a", "W = scale(3)",
                                     "def my_f():", "    return W"]


def test_a_call_of_a_function_that_assigns_a_global_is_kept():
    cells = ["def setup():\n    global W\n    W = 3", "setup()", "def my_f():\n    return W"]
    assert kept(cells, ["my_f"]) == ["def setup():", "    global W", "    W = 3", "setup()",
                                     "def my_f():", "    return W"]


@pytest.mark.parametrize("statement", ["exec('z = 1')", "globals()['z'] = 1", "from os import *",
                                       "import sys\nsys.modules['__main__'].z = 1", "f.__globals__['z'] = 1"])
def test_statements_this_reading_cannot_follow_always_run(statement):
    cells = ["big = expensive()", statement, "def my_f():\n    return 1"]
    assert statement.splitlines()[-1] in kept(cells, ["my_f"])
    assert "big = expensive()" not in kept(cells, ["my_f"])


def test_a_cell_that_is_not_python_or_a_slice_of_everything_runs_all_and_magics_are_calls():
    assert cell_slice.needed_sources(["def my_f(:", "x = 1"], ["my_f"]) is None
    assert cell_slice.needed_sources(["import numpy as np", "def my_f():\n    return np"], ["my_f"]) is None
    assert kept(["%matplotlib inline\nimport numpy as np", "def my_f():\n    return np"], ["my_f"]) == [
        "get_ipython().run_line_magic('matplotlib', 'inline')", "import numpy as np", "def my_f():", "    return np"]


def test_decorators_and_statements_sharing_a_line_stay_whole():
    cells = ["import functools\nA = 1; B = 2", "@functools.lru_cache\ndef my_f():\n    return A"]
    assert kept(cells, ["my_f"]) == ["import functools", "A = 1; B = 2", "@functools.lru_cache",
                                     "def my_f():", "    return A"]


@pytest.mark.skipif(not os.environ.get("MNIST_PATH") and not (Path.home() / ".keras/datasets/mnist.npz").exists(),
                    reason="some chapters' slices load MNIST: set MNIST_PATH")
@pytest.mark.parametrize("chapter", sorted(submission.chapter_exercises(ROOT / "book")))
def test_each_chapters_slice_is_enough_for_its_own_answers(chapter, monkeypatch):
    """Run only the slice of the chapter (outside any sandbox: it is the book's own code),
    then every exercise of the chapter with its checker: each passes."""
    labels = submission.chapter_exercises(ROOT / "book")[chapter]
    names = [checks.EXERCISES[label][0] for label in labels]
    notebook = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    sliced = cell_slice.needed_sources(cells, names)
    assert sum(bool(s.strip()) for s in sliced) < len(cells), "the slice left nothing out"
    monkeypatch.chdir(ROOT / "book")
    namespace = {"__name__": "__main__", "get_ipython": lambda: type("Shell", (), {
        "run_line_magic": lambda *a: None, "system": lambda *a: None})()}
    for source in sliced:
        exec(compile(source, "<slice>", "exec"), namespace)
    for label in labels:
        name, checker = checks.EXERCISES[label]
        result = checker(namespace[name])
        assert result.passed, (chapter, label, result.message)


def test_a_parse_spoiled_by_another_thread_is_tried_again(monkeypatch):
    """Python 3.11 fails a parse when another thread parses at the same moment (TensorFlow's
    autograph in a checker does): the grader's parse tries again."""
    real, failures = cell_slice.ast.parse, []

    def flaky(source, *args, **kwargs):
        if not args and len(failures) < 4:     # the grader's calls: four fail
            failures.append(source)
            raise SystemError("AST constructor recursion depth mismatch (before=63, after=58)")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(cell_slice.ast, "parse", flaky)
    assert kept(["x = 1", "def my_f():\n    return 2"], ["my_f"]) == ["def my_f():", "    return 2"]
    assert len(failures) == cell_slice.PARSE_TRIES - 1
    failures.clear()
    monkeypatch.setattr(cell_slice, "PARSE_TRIES", 2)     # one failure more than it tries: raised
    with pytest.raises(SystemError):
        cell_slice.parse("x = 1")


def test_a_cell_nested_too_deeply_to_parse_runs_the_notebook_whole_and_stops_no_check():
    """Python's parser raises MemoryError on 200,000 nested minus signs: a student's cell
    must not stop the grader (the worker reports the cell's own error when it runs)."""
    deep = "-" * 200_000 + "1"
    assert cell_slice.needed_sources([deep, "def my_f():\n    return 1"], ["my_f"]) is None
    from course_utils.grading.borrowed_work import find_borrowed_work
    assert find_borrowed_work([deep, "def my_f():\n    return 1"], "my_f", ()) is None
