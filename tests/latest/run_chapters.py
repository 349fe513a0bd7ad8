"""Run every chapter on the newest TensorFlow and Keras, as a Colab reader would (`make test-latest`).

Usage: python tests/latest/run_chapters.py [--report FILE] [NOTEBOOK ...]

Executes each stored chapter notebook top to bottom in a fresh kernel of this
environment (the newest releases, unpinned, with `pip install .` as Colab installs the
helpers). An execution error fails; a text output that differs from the stored one (after
the nbval sanitizer's substitutions) is reported, not failed, because newer libraries
may legitimately round or word things differently.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def sanitizers() -> list[tuple[re.Pattern, str]]:
    config = configparser.ConfigParser()
    config.read(SANITIZE)
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def text_of(outputs: list, rules) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    text = "".join(p if isinstance(p, str) else "".join(p) for p in parts)
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def run_chapter(path: Path, rules, timeout: int = 900) -> tuple[str | None, list[int]]:
    """Execute ``path``; return (error or None, indices of code cells whose text differs)."""
    stored = nbformat.read(path, as_version=4)
    fresh = nbformat.read(path, as_version=4)
    client = NotebookClient(fresh, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return str(error).splitlines()[-1] if str(error) else type(error).__name__, []
    differs = [i for i, (a, b) in enumerate(zip(stored.cells, fresh.cells))
               if a.cell_type == "code" and "nbval-ignore-output" not in a.metadata.get("tags", [])
               and text_of(a.outputs, rules) != text_of(b.outputs, rules)]
    return None, differs


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        default=sorted((ROOT / "book").glob("[0-9]*.ipynb")))
    parser.add_argument("--report", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    import keras
    import numpy
    import tensorflow as tf

    lines = [f"Newest versions: TensorFlow {tf.__version__}, Keras {keras.__version__}, NumPy {numpy.__version__}"]
    print(lines[0], flush=True)
    rules, failed = sanitizers(), []
    for path in args.notebooks:
        start = time.perf_counter()
        error, differs = run_chapter(path, rules)
        status = (f"ERROR {error}" if error else
                  f"ran; {len(differs)} code cell(s) print differently: {differs}" if differs else "ran; outputs as stored")
        line = f"{path.name}: {status} ({time.perf_counter() - start:.0f} s)"
        print(line, flush=True)
        lines.append(line)
        if error:
            failed.append(path.name)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text("\n".join(lines) + "\n")
    if failed:
        print(f"execution failed on the newest versions: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
