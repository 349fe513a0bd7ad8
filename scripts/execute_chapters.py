"""Execute chapters from their MyST source and write the paired .ipynb with outputs.

Usage: python scripts/execute_chapters.py book/01_convolution.md [more.md ...] [--timeout 1200]

The .md is the source of truth. Each chapter runs top to bottom in a fresh kernel whose
working directory is the chapter's folder (as in the book build and in nbval); the
notebook is written atomically (course_utils.atomic_files), so an interrupted run never leaves
a half-written .ipynb.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from course_utils.atomic_files import write_atomic


def execute_chapter(md_path: Path, timeout: int = 1200) -> Path:
    notebook = jupytext.read(md_path)
    write_notebook(notebook, md_path, "md:myst")  # normalise the header as --sync would
    kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(md_path.parent)}},
        record_timing=False,  # timestamps in cell metadata would make every run a diff
    )
    client.execute()
    return write_notebook(notebook, md_path.with_suffix(".ipynb"), "ipynb")


def write_notebook(notebook, path: Path, fmt: str) -> Path:
    """What ``jupytext.write(notebook, path, fmt=fmt)`` writes, written atomically."""
    text = jupytext.writes(notebook, fmt=fmt)
    return write_atomic(path, text if text.endswith("\n") else text + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", metavar="CHAPTER.md", help="chapters to execute, in order")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds one cell may run (default 1200)")
    args = parser.parse_args(argv)
    for name in args.chapters:
        md_path = Path(name)
        if md_path.suffix != ".md" or not md_path.is_file():
            parser.error(f"expected an existing chapter .md file, got {name!r}")
    for md_path in map(Path, args.chapters):
        start = time.perf_counter()
        ipynb_path = execute_chapter(md_path, args.timeout)
        print(f"{ipynb_path}: executed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
