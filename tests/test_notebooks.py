"""The notebook pipeline: every chapter is paired, in sync, fully executed in order,
and listed in the table of contents. (nbval re-runs the notebooks separately.)"""

from __future__ import annotations

import json
import re
import os
import shutil
from pathlib import Path

import pytest
import yaml
from jupytext.cli import jupytext as jupytext_cli

from conftest import ROOT

BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.md"))
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
# The Japanese edition's chapters (ja/book, scripts/translations.py): paired and in sync too.
JA_BOOK = ROOT / "ja" / "book"
BOTH_CHAPTERS = CHAPTERS + sorted(JA_BOOK.glob("*.md"))
BOTH_NOTEBOOKS = NOTEBOOKS + sorted(JA_BOOK.glob("*.ipynb"))


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_every_chapter_is_paired():
    assert CHAPTERS, "no chapters found in book/"
    assert [p.stem for p in CHAPTERS] == [p.stem for p in NOTEBOOKS]
    assert sorted(p.stem for p in JA_BOOK.glob("*.md")) == sorted(p.stem for p in JA_BOOK.glob("*.ipynb")), \
        "run `python scripts/translations.py notebooks`"


@pytest.mark.parametrize("md", BOTH_CHAPTERS, ids=_id)
def test_pair_is_in_sync(md, tmp_path):
    """Make the .md newer, let jupytext --sync rebuild the .ipynb: nothing may change."""
    ipynb = md.with_suffix(".ipynb")
    for path in (md, ipynb, ROOT / "jupytext.toml"):
        shutil.copy2(path, tmp_path / path.name)
    copy_md, copy_ipynb = tmp_path / md.name, tmp_path / ipynb.name
    os.utime(copy_ipynb, (1, 1))
    # `jupytext --quiet --sync` in this process (a process each took about 0.7 s, for each of the 24 pages);
    # it reads jupytext.toml from the notebook's folder.
    assert jupytext_cli(["--quiet", "--sync", str(copy_md)]) in (0, None)
    assert copy_md.read_text() == md.read_text(), f"jupytext rewrites {md.name}: run `make notebooks`"
    assert copy_ipynb.read_text() == ipynb.read_text(), (
        f"{ipynb.name} does not match {md.name}: run `make notebooks` and commit both")


@pytest.mark.parametrize("ipynb", BOTH_NOTEBOOKS, ids=_id)
def test_every_code_cell_executed_in_order(ipynb):
    cells = [c for c in json.loads(ipynb.read_text())["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{ipynb.name}: execution counts {counts}; run `make notebooks` for a fresh top-to-bottom run")
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{ipynb.name} stores an error output: {errors[0].get('ename')}"
    # A warning printed to stderr is noise in the book: matplotlib's "findfont: Font family
    # ... not found" once was, 21 lines in each of three chapters, from a stale font cache
    # in ~/.cache. The Makefile gives the kernels their own cache (MPLCONFIGDIR).
    stderr = ["".join(o["text"]) for c in cells for o in c["outputs"] if o.get("name") == "stderr"]
    assert not stderr, f"{ipynb.name} stores stderr output: {stderr[0][:200]!r}"


def toc_entries(node) -> list[str]:
    """Every page a Jupyter Book table of contents names (its root and each ``file``)."""
    if isinstance(node, list):
        return [entry for item in node for entry in toc_entries(item)]
    if not isinstance(node, dict):
        return []
    return [node[key] for key in ("root", "file") if key in node] + \
        [entry for value in node.values() for entry in toc_entries(value)]


def test_toc_lists_every_chapter_and_only_existing_pages():
    entries = toc_entries(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    chapters = {f"book/{p.stem}" for p in CHAPTERS}
    pages = {e for e in entries if e not in chapters}
    assert chapters <= set(entries), f"chapters missing from _toc.yml: {chapters - set(entries)}"
    for page in pages:  # plain pages (appendix) that are not notebooks must exist
        assert (ROOT / f"{page}.md").exists(), page


def _repository_and_branch():
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return repository["url"], repository["branch"]


@pytest.mark.parametrize("ipynb", BOTH_NOTEBOOKS, ids=_id)
def test_first_cell_installs_the_helpers_in_colab_only(ipynb):
    code = [c for c in json.loads(ipynb.read_text())["cells"] if c["cell_type"] == "code"]
    if not code:
        return  # a page without code needs nothing installed
    first = code[0]
    url, branch = _repository_and_branch()
    source = "".join(first["source"])
    assert '"google.colab" in sys.modules' in source
    assert f"git+{url}@{branch}" in source, f"{ipynb.name}: the install cell must match _config.yml's repository"
    assert "remove-cell" in first["metadata"].get("tags", []), "hidden from the HTML book"
    installed = re.findall(r'"([^"]*)"', source.split("install", 1)[1])
    assert not any("tensorflow" in name.lower() for name in installed), "never reinstall TensorFlow"
