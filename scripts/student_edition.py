"""Write the student edition: notebooks and an HTML book without solutions.

Usage: python scripts/student_edition.py [OUT]        (default OUT: student/)

OUT/book/*.md and OUT/book/*.ipynb: every chapter with
  - in each solution code cell (tag "solution"), the lines between "### BEGIN SOLUTION" and
    "### END SOLUTION" replaced by "...  # your code here" (a cell without these markers
    keeps only its `def` lines and checker calls);
  - the chapter's name in the notebook metadata ("course": {"chapter": ...}), so that the
    grader scores a returned notebook on its chapter's exercises;
  - each solution text ({solution} and {solution-start} ... {solution-end}) removed, with
    the code cells inside it other than the solution (a typical wrong attempt and the
    checker's reply to it: one edit away from the answer, so the students' edition omits it);
  - the notebooks without outputs.
OUT/_config.yml, OUT/_toc.yml: the book configuration, so that
`jupyter-book build OUT` writes the student HTML to OUT/_build/html.

OUT/ja/: the same for the Japanese edition (ja/), whose notebooks say "language": "ja" in
their "course" metadata (the grader answers in the notebook's language). Its HTML is not
executed a second time: ``--ja-html OUT`` (after the English build has executed the English
student notebooks) writes OUT/ja-html/, the Japanese student notebooks with those outputs,
cell by cell, for `jupyter-book build OUT/ja-html`.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import jupytext

from course_utils.atomic_files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "    ...  # your code here"
SOLUTION_BLOCK = re.compile(r"```\{solution\}.*?\n```[ \t]*\n?", re.S)
GATED_START = re.compile(r"```\{solution-start\}")
GATED_END = re.compile(r"```\{solution-end\}\s*\n```[ \t]*\n?")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def placeholder(source: str) -> str:
    """The student's version of a solution code cell.

    With nbgrader-style markers, only the lines from ``### BEGIN SOLUTION`` to ``### END
    SOLUTION`` are replaced, by ``...  # your code here`` at the marker's indentation:
    signatures, docstrings, decorators, imports and checker calls stay. Without markers,
    each ``def`` line and each top-level checker call is kept and the rest replaced.
    """
    lines = source.splitlines()
    if not any(line.strip() in (BEGIN, END) for line in lines):
        return _placeholder_without_markers(lines)
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


def _placeholder_without_markers(lines) -> str:
    kept = []
    for line in lines:
        if line.startswith("def "):
            kept += [line, PLACEHOLDER, ""]
        elif line.startswith("check_"):
            kept.append(line)
    return "\n".join(kept).strip() + "\n"


def _without_gated_text(source: str, gated: bool) -> tuple[str, bool]:
    """Drop the text from each {solution-start} to its {solution-end}, across cells: ``gated``
    says whether this cell begins inside such a region; returns the text kept and whether
    the cell ends inside one."""
    kept, position = [], 0
    while True:
        marker = (GATED_END if gated else GATED_START).search(source, position)
        if marker is None:
            if not gated:
                kept.append(source[position:])
            return "".join(kept), gated
        if not gated:
            kept.append(source[position:marker.start()])
        position, gated = marker.end(), not gated


def student_notebook(notebook, chapter: str | None = None, language: str = "en"):
    """The student edition of a chapter; ``chapter`` (its file stem) and the edition's
    ``language`` go into the metadata, where the grader finds which exercises to score and
    in which language to answer."""
    if chapter:
        notebook.metadata["course"] = {"chapter": chapter} if language == "en" else \
            {"chapter": chapter, "language": language}
    cells, gated = [], False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if gated and "solution" not in cell.metadata.get("tags", []):
                continue    # inside a model answer: a typical wrong attempt, shown only there
            if "solution" in cell.metadata.get("tags", []):
                cell.source = placeholder(cell.source)
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"]
        else:
            cell.source, gated = _without_gated_text(SOLUTION_BLOCK.sub("", cell.source), gated)
            if not cell.source.strip():
                continue
        cells.append(cell)
    notebook.cells = cells
    return notebook


def write_edition(source: Path, out: Path, language: str) -> None:
    """One edition's student notebooks, appendix and book configuration, from ``source``
    (the repository for English, ``ja/`` for Japanese) into ``out``."""
    (out / "book").mkdir(parents=True)
    for md in sorted((source / "book").glob("*.md")):
        try:
            notebook = student_notebook(jupytext.read(md), md.stem, language)
        except ValueError as error:  # unbalanced solution markers
            raise SystemExit(f"error: {md.relative_to(ROOT)}: {error}")
        jupytext.write(notebook, out / "book" / md.name, fmt="md:myst")
        jupytext.write(notebook, out / "book" / f"{md.stem}.ipynb", fmt="ipynb")
    shutil.copytree(source / "book" / "appendix", out / "book" / "appendix")
    for name in ("_config.yml", "_toc.yml", "jupytext.toml"):
        if (source / name).exists():
            shutil.copy(source / name, out / name)
    title = {"en": "Student edition: ", "ja": "学生版: "}[language]
    config = (out / "_config.yml").read_text().replace('title: "', f'title: "{title}', 1)
    if language == "en":
        # The student notebooks carry no outputs: their build executes them, which also proves
        # that the edition runs top to bottom before a student has written anything.
        executed = re.sub(r'execute_notebooks: "off".*', "execute_notebooks: force   # student notebooks have no outputs",
                          config, count=1)
        if executed == config:
            raise SystemExit("error: _config.yml no longer says execute_notebooks: \"off\"; update student_edition.py")
        config = executed
    write_atomic(out / "_config.yml", config)


def japanese_html_source(out: Path) -> Path:
    """OUT/ja-html: the Japanese student edition with the outputs of the English student
    notebooks as the English build executed them (same code cells, so the same outputs)."""
    import nbformat

    executed = out / "_build" / "jupyter_execute" / "book"
    target = out / "ja-html"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(out / "ja", target)
    for notebook_path in sorted((target / "book").glob("*.ipynb")):
        english = executed / notebook_path.name
        if not english.exists():
            raise SystemExit(f"error: {english} missing: build the English student edition first")
        notebook = nbformat.read(notebook_path, as_version=4)
        outputs = [c for c in nbformat.read(english, as_version=4).cells if c.cell_type == "code"]
        code = [c for c in notebook.cells if c.cell_type == "code"]
        if len(code) != len(outputs):
            raise SystemExit(f"error: {notebook_path.name}: {len(code)} code cells, the English {len(outputs)}")
        for cell, done in zip(code, outputs):
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
        nbformat.write(notebook, notebook_path)
        notebook_path.with_suffix(".md").unlink()     # the build reads the notebook
    return target


def main(out: Path) -> int:
    if out.resolve() == ROOT:
        print("error: OUT must not be the repository itself", file=sys.stderr)
        return 2
    shutil.rmtree(out, ignore_errors=True)
    write_edition(ROOT, out, "en")
    write_edition(ROOT / "ja", out / "ja", "ja")
    for folder in ("config", "_vendor"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, out / folder)
    print(f"student edition written to {out}/ and {out}/ja/ (build the HTML with: jupyter-book build {out})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ja-html"]:
        print(f"wrote {japanese_html_source(Path(sys.argv[2]))}")
        sys.exit(0)
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "student"))
