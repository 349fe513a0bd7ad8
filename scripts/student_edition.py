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
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import jupytext

from course_utils.files import write_atomic

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


def student_notebook(notebook, chapter: str | None = None):
    """The student edition of a chapter; ``chapter`` (its file stem) goes into the metadata,
    where the grader finds which exercises to score."""
    if chapter:
        notebook.metadata["course"] = {"chapter": chapter}
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


def main(out: Path) -> int:
    if out.resolve() == ROOT:
        print("error: OUT must not be the repository itself", file=sys.stderr)
        return 2
    shutil.rmtree(out, ignore_errors=True)
    (out / "book").mkdir(parents=True)
    for md in sorted((ROOT / "book").glob("*.md")):
        try:
            notebook = student_notebook(jupytext.read(md), md.stem)
        except ValueError as error:  # unbalanced solution markers
            print(f"error: {md.relative_to(ROOT)}: {error}", file=sys.stderr)
            return 2
        jupytext.write(notebook, out / "book" / md.name, fmt="md:myst")
        jupytext.write(notebook, out / "book" / f"{md.stem}.ipynb", fmt="ipynb")
    shutil.copytree(ROOT / "book" / "appendix", out / "book" / "appendix")
    for name in ("_config.yml", "_toc.yml", "jupytext.toml"):
        shutil.copy(ROOT / name, out / name)
    for folder in ("config", "_vendor"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, out / folder)
    config = (out / "_config.yml").read_text().replace('title: "', 'title: "Student edition: ', 1)
    # The student notebooks carry no outputs: their build executes them, which also proves
    # that the edition runs top to bottom before a student has written anything.
    executed = re.sub(r'execute_notebooks: "off".*', "execute_notebooks: force   # student notebooks have no outputs", config, count=1)
    if executed == config:
        raise SystemExit("error: _config.yml no longer says execute_notebooks: \"off\"; update student_edition.py")
    write_atomic(out / "_config.yml", executed)
    print(f"student edition written to {out}/ (build the HTML with: jupyter-book build {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "student"))
