"""Write the notebooks that `make test-notebooks` runs under nbval: one per chapter, which
checks the chapter and its student edition in one execution.

Usage: python scripts/nbval_notebooks.py [--out _nbval] [book/X.ipynb ...]   (default: every chapter)

OUT/X.ipynb holds, in order:
  1. a cell that moves the kernel into the chapter's folder (nbval starts it in OUT), so
     relative paths mean what they mean in `make notebooks`;
  2. every cell of book/X.ipynb with its stored outputs, which nbval compares as always, and
     after the last code cell the student edition shares with it (scripts/student_edition.py),
     a cell that records the global names and what they are bound to;
  3. a cell that removes the names the rest of the chapter defined and binds the recorded
     ones again, then the student edition's own code cells from there on (placeholders and
     all), tagged nbval-ignore-output: they must run without an error, and what they print
     depends on the student, so it is not compared.
A chapter without exercises is the chapter alone. The Japanese student edition runs the same
code (`scripts/translations.py check` compares the code cells without comments).

Not covered: an object that the rest of the full chapter changes in place (an array written
into, a model trained further, a random generator drawn from) stays changed for the student
cells. They are exercises that check functions on inputs of their own and read the shared
state, so only a student cell that depends on such a change could pass here and fail for a
student. Catching that would take a second execution of every chapter, which the student
HTML build did before, as the longest single item of `make test`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import student_edition  # noqa: E402

MARKER = ".nbval-notebooks"     # in OUT: a folder this script wrote, whose notebooks it may replace
SAVED = "_shared_state_"
RECORD = f"{SAVED} = dict(globals())   # the student edition starts after this cell\n"
# IPython's history names (_, __, _i, _5, _i5) stay: the kernel keeps them up to date.
RESTORE = f"""\
# The student edition from here on: the rest of the chapter's names go, the shared cells' come back.
globals().update({SAVED})
for _name in [n for n in globals() if n not in {SAVED}
              and not (n.startswith("_") and (n.strip("_i") == "" or n.lstrip("_i").isdigit()))]:
    del globals()[_name]
globals().pop("_name", None)
"""


def _cell(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source)


def combined_notebook(chapter: Path, folder: Path):
    """The notebook nbval runs for ``chapter`` (book/X.ipynb), to be written into ``folder``."""
    full = nbformat.read(chapter, as_version=4)
    student = student_edition.read_student_notebook(chapter)
    shared = student_edition.shared_code_cells(student)
    exercises = [c for c in student.cells if c.cell_type == "code"][shared:]
    if exercises:
        code = [n for n, c in enumerate(full.cells) if c.cell_type == "code"]
        end_of_shared = code[shared - 1] + 1 if shared else 0
        full.cells.insert(end_of_shared, _cell(RECORD))
        full.cells.append(_cell(RESTORE))
        for cell in exercises:   # new cells, so that the cell ids stay unique
            tags = [t for t in cell.metadata.get("tags", []) if t != "nbval-ignore-output"]
            full.cells.append(nbformat.v4.new_code_cell(
                cell.source, metadata={**cell.metadata, "tags": [*tags, "nbval-ignore-output"]}))
    # No name is bound here: a chapter that forgets an import must still fail.
    full.cells.insert(0, _cell(f"__import__('os').chdir({os.path.relpath(chapter.parent, folder)!r})\n"))
    return full


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path, metavar="book/X.ipynb",
                        help="chapter notebooks (default: every one in book/)")
    parser.add_argument("--out", type=Path, default=ROOT / "_nbval",
                        help=f"folder for the notebooks (default: _nbval/), new or written by this script "
                             f"(it holds {MARKER}); its .ipynb files are replaced")
    args = parser.parse_args(argv)
    chapters = [p.resolve() for p in args.chapters] or student_edition.chapter_notebooks(ROOT)
    out = args.out.resolve()
    if out.exists() and not (out / MARKER).is_file():
        parser.error(f"{args.out} exists and was not written by this script (no {MARKER}): name a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Written by scripts/nbval_notebooks.py, which replaces the notebooks here.\n")
    for stale in out.glob("*.ipynb"):      # a chapter renamed or removed since
        stale.unlink()
    for chapter in chapters:
        notebook = combined_notebook(chapter, out)
        nbformat.write(notebook, out / chapter.name)
    print(f"wrote {len(chapters)} notebooks into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
