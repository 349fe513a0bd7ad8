"""Write the student edition: notebooks and an HTML book without solutions.

Usage: python scripts/student_edition.py [OUT]        (default OUT: student/)

OUT/book/*.md and OUT/book/*.ipynb: every chapter with
  - each solution code cell (tag "solution") replaced by its function's signature and a
    "your code here" placeholder, keeping the checker call;
  - each solution text ({solution} and {solution-start} ... {solution-end}) removed;
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

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "    ...  # your code here"
SOLUTION_BLOCK = re.compile(r"```\{solution\}.*?\n```[ \t]*\n?", re.S)
GATED_START = re.compile(r"```\{solution-start\}.*", re.S)           # to the end of the cell
GATED_END = re.compile(r"```\{solution-end\}\s*\n```[ \t]*\n?")


def placeholder(source: str) -> str:
    """Keep each `def` line and each top-level checker call; replace the rest."""
    kept = []
    for line in source.splitlines():
        if line.startswith("def "):
            kept += [line, PLACEHOLDER, ""]
        elif line.startswith("check_"):
            kept.append(line)
    return "\n".join(kept).strip() + "\n"


def student_notebook(notebook):
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "solution" in cell.metadata.get("tags", []):
                cell.source = placeholder(cell.source)
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"]
        else:
            cell.source = GATED_END.sub("", GATED_START.sub("", SOLUTION_BLOCK.sub("", cell.source)))
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
        notebook = student_notebook(jupytext.read(md))
        jupytext.write(notebook, out / "book" / md.name, fmt="md:myst")
        jupytext.write(notebook, out / "book" / f"{md.stem}.ipynb", fmt="ipynb")
    shutil.copytree(ROOT / "book" / "appendix", out / "book" / "appendix")
    for name in ("_config.yml", "_toc.yml", "jupytext.toml"):
        shutil.copy(ROOT / name, out / name)
    for folder in ("config", "_vendor"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, out / folder)
    config = (out / "_config.yml").read_text()
    (out / "_config.yml").write_text(config.replace('title: "', 'title: "Student edition: ', 1))
    print(f"student edition written to {out}/ (build the HTML with: jupyter-book build {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "student"))
