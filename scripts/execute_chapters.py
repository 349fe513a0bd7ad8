"""Execute chapters from their MyST source and write the paired .ipynb with outputs.

Usage: python scripts/execute_chapters.py book/01_convolution.md [more.md ...]

The .md is the source of truth. Each chapter runs top to bottom in a fresh kernel whose
working directory is the chapter's folder (as in the book build and in nbval); the
notebook is written to a temporary file and renamed, so an interrupted run never leaves
a half-written .ipynb.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient


def execute_chapter(md_path: Path, timeout: int = 1200) -> Path:
    notebook = jupytext.read(md_path)
    jupytext.write(notebook, md_path, fmt="md:myst")  # normalise the header as --sync would
    kernel = notebook.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(md_path.parent)}},
        record_timing=False,  # timestamps in cell metadata would make every run a diff
    )
    client.execute()
    ipynb_path = md_path.with_suffix(".ipynb")
    tmp_path = ipynb_path.with_name(f".{ipynb_path.stem}.tmp.ipynb")
    jupytext.write(notebook, tmp_path, fmt="ipynb")
    os.replace(tmp_path, ipynb_path)
    return ipynb_path


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for name in paths:
        md_path = Path(name)
        if md_path.suffix != ".md" or not md_path.is_file():
            print(f"error: expected an existing chapter .md file, got {name!r}", file=sys.stderr)
            return 2
        start = time.perf_counter()
        ipynb_path = execute_chapter(md_path)
        print(f"{ipynb_path}: executed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
