"""Write the student edition: notebooks and an HTML book without solutions.

OUT/book/*.md and OUT/book/*.ipynb: every chapter with
  - in each solution code cell (tag "solution"), the lines between "### BEGIN SOLUTION" and
    "### END SOLUTION" replaced by "...  # your code here" (a solution cell without these
    markers stops the script with the chapter's name);
  - the chapter's name in the notebook metadata ("course": {"chapter": ...}), so that the
    grader scores a returned notebook on its chapter's exercises;
  - each solution text ({solution} and {solution-start} ... {solution-end}) removed, with
    the code cells inside it other than the solution (a typical wrong attempt and the
    checker's reply to it: one edit away from the answer, so the students' edition omits it);
  - the outputs of the chapter's stored notebook (book/X.ipynb) in the code cells before the
    first code cell that the edition changes or drops: the same code, run in the same order,
    and nbval re-checks those outputs; no outputs from there on (a placeholder's output
    depends on what the student writes).
OUT/_config.yml, OUT/_toc.yml: the book configuration, so that `jupyter-book build OUT`
writes the student HTML to OUT/_build/html without executing anything.
OUT/ja/: the same for the Japanese edition (ja/, outputs from ja/book/X.ipynb), whose
notebooks say "language": "ja" in their "course" metadata (the grader answers in the
notebook's language); `jupyter-book build OUT/ja` builds its HTML.

That the student edition runs top to bottom is checked by `make test-notebooks`
(scripts/nbval_notebooks.py), within the one run of each chapter.

OUT is replaced as a whole, so it must be new or a student edition that this script wrote
(it leaves the file OUT/.student-edition); anything else is refused and left as it is.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import jupytext
import yaml
from markdown_it import MarkdownIt

from course_utils.atomic_files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MARKER = ".student-edition"
MARKDOWN = MarkdownIt("commonmark")


def placeholder(source: str) -> str:
    """The student's version of a solution code cell.

    The lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` are replaced by
    ``...  # your code here`` at the marker's indentation: signatures, docstrings,
    decorators, imports and checker calls stay.
    """
    lines = source.splitlines()
    if not any(line.strip() == BEGIN for line in lines):
        raise ValueError(f"a solution cell without {BEGIN} ... {END}: mark the lines to hide "
                         f"(cell begins {source[:60]!r})")
    kept, inside = [], False
    for number, line in enumerate(lines, start=1):
        if line.strip() == BEGIN:
            if inside:
                raise ValueError(f"solution cell line {number}: {BEGIN} inside another; expected {END} first")
            inside = True
            kept.append(line[:len(line) - len(line.lstrip())] + "...  # your code here")
        elif line.strip() == END:
            if not inside:
                raise ValueError(f"solution cell line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"solution cell: {BEGIN} without {END}")
    return "\n".join(kept).strip() + "\n"


def _directive(fence) -> str:
    """The directive a MyST fence opens (``{solution}``), or ``""`` for a plain code block."""
    return fence.info.split(maxsplit=1)[0] if fence.info.strip() else ""


def _without_solution_text(source: str, gated: bool) -> tuple[str, bool]:
    """A markdown cell without its {solution} blocks and without the text from each
    {solution-start} to its {solution-end}, which may span cells: ``gated`` says whether this
    cell begins inside such a region; returns the text kept and whether the cell ends inside one."""
    lines = source.splitlines(keepends=True)
    dropped = [gated] * len(lines)
    for fence in (t for t in MARKDOWN.parse(source) if t.type == "fence"):
        first, after = fence.map
        name = _directive(fence)
        if name == "{solution-start}" and not gated:
            gated = True
            dropped[first:] = [True] * (len(lines) - first)
        elif name == "{solution-end}" and gated:
            gated = False
            dropped[after:] = [False] * (len(lines) - after)
        elif name == "{solution}" and not gated:
            dropped[first:after] = [True] * (after - first)
    return "".join(line for line, drop in zip(lines, dropped) if not drop), gated


def student_notebook(notebook, chapter: str | None = None, language: str = "en"):
    """The student edition of a chapter's executed notebook; ``chapter`` (its file stem) and
    the edition's ``language`` go into the metadata, where the grader finds which exercises
    to score and in which language to answer. Code cells keep their outputs up to the first
    code cell the edition changes or drops (the shared cells), none from there on."""
    if chapter:
        notebook.metadata["course"] = {"chapter": chapter} if language == "en" else \
            {"chapter": chapter, "language": language}
    cells, gated, shared = [], False, True
    for cell in notebook.cells:
        if cell.cell_type == "code":
            solution = "solution" in cell.metadata.get("tags", [])
            if gated and not solution:
                shared = False
                continue    # inside a model answer: a typical wrong attempt, shown only there
            if solution:
                shared = False
                cell.source = placeholder(cell.source)
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"]
            if not shared:
                cell.outputs, cell.execution_count = [], None
        else:
            cell.source, gated = _without_solution_text(cell.source, gated)
            if not cell.source.strip():
                continue
        cells.append(cell)
    notebook.cells = cells
    return notebook


def shared_code_cells(student) -> int:
    """How many leading code cells a student notebook shares with its chapter: those that
    kept their outputs (every code cell of a stored chapter notebook has been executed)."""
    code = [c for c in student.cells if c.cell_type == "code"]
    return next((n for n, c in enumerate(code) if c.execution_count is None), len(code))


def chapter_notebooks(source: Path) -> list[Path]:
    """The executed notebooks of an edition's chapters (``source/book/*.ipynb``)."""
    return sorted((source / "book").glob("*.ipynb"))


def read_student_notebook(path: Path, language: str = "en"):
    """The student edition of the chapter notebook at ``path``; an unbalanced or missing
    solution marker stops the script with the chapter's name."""
    try:
        return student_notebook(jupytext.read(path), path.stem, language)
    except ValueError as error:
        raise SystemExit(f"error: {path}: {error}")


def write_edition(source: Path, out: Path, language: str) -> None:
    """One edition's student notebooks, appendix and book configuration, from ``source``
    (the repository for English, ``ja/`` for Japanese) into ``out``."""
    (out / "book").mkdir(parents=True)
    for path in chapter_notebooks(source):
        notebook = read_student_notebook(path, language)
        jupytext.write(notebook, out / "book" / f"{path.stem}.md", fmt="md:myst")
        jupytext.write(notebook, out / "book" / path.name, fmt="ipynb")
    shutil.copytree(source / "book" / "appendix", out / "book" / "appendix")
    for name in ("_toc.yml", "jupytext.toml"):
        if (source / name).exists():
            shutil.copy(source / name, out / name)
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = {"en": "Student edition: ", "ja": "学生版: "}[language] + config["title"]
    # The notebooks carry every output the HTML shows; executing them would add the
    # placeholders' outputs, which depend on the student, at the cost of a full run.
    config["execute"]["execute_notebooks"] = "off"
    write_atomic(out / "_config.yml", "# Written by scripts/student_edition.py from the book's _config.yml.\n"
                 + yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


def refusal(out: Path) -> str | None:
    """Why ``out`` may not be replaced by a student edition, or None when it may."""
    resolved = out.resolve()
    if resolved == ROOT or resolved in ROOT.parents:
        return f"{out} holds the repository"
    if resolved.exists() and not (resolved / MARKER).is_file():
        return (f"{out} exists and is not a student edition written by this script (it has no {MARKER}): "
                "name a new folder, or remove this one yourself if it is an old student edition")
    return None


def write_student_edition(out: Path) -> None:
    """Both editions into a fresh folder beside ``out``, which then replaces ``out``: a
    failure leaves the previous edition as it was."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (fresh / MARKER).write_text("A student edition written by scripts/student_edition.py, "
                                    "which replaces this folder whenever it runs.\n")
        write_edition(ROOT, fresh, "en")
        write_edition(ROOT / "ja", fresh / "ja", "ja")
        for folder in ("config", "_vendor"):
            if (ROOT / folder).exists():
                shutil.copytree(ROOT / folder, fresh / folder)
        fresh.chmod(0o755)        # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out)
        fresh.rename(out)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Build the HTML with: jupyter-book build OUT (and OUT/ja), "
                                            "or make student.")
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "student", metavar="OUT",
                        help="folder to write (default: student/ in the repository); it must be new "
                             f"or a student edition written before (it holds {MARKER})")
    args = parser.parse_args(argv)
    problem = refusal(args.out)
    if problem:
        parser.error(problem)
    write_student_edition(args.out)
    print(f"student edition written to {args.out}/ and {args.out}/ja/ "
          f"(build the HTML with: jupyter-book build {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
