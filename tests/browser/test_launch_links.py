"""Every chapter page of the built book, in both editions, offers Colab, Binder and a notebook
download, each pointing at that chapter's paired .ipynb (never a .md; ja/book/ for the
Japanese edition), which exists and has outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
PAGES = sorted((HTML / "book").glob("*.html")) + sorted((HTML / "ja" / "book").glob("*.html"))

if not PAGES:
    pytest.skip("build the book first (make book)", allow_module_level=True)


def repository():
    config = (ROOT / "_config.yml").read_text()
    url = re.search(r"^\s+url:\s*(\S+)", config, re.M).group(1)
    branch = re.search(r"^\s+branch:\s*(\S+)", config, re.M).group(1)
    return url.removeprefix("https://github.com/"), branch


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML).as_posix())
def test_launch_links_target_the_paired_notebook(page):
    html = page.read_text()
    repo, branch = repository()
    edition = page.parent.parent.relative_to(HTML).as_posix()      # "." or "ja"
    notebook = f"book/{page.stem}.ipynb" if edition == "." else f"{edition}/book/{page.stem}.ipynb"
    colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', html)
    assert colab == [f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}"], colab
    assert len(binder) == 1 and binder[0].startswith(f"https://mybinder.org/v2/gh/{repo}/{branch}?")
    assert binder[0].endswith(f"urlpath=lab/tree/{notebook}"), binder
    assert ".md" not in colab[0] + binder[0]
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), f"{notebook} was not executed"
    assert any(c["outputs"] for c in code) or not code, f"{notebook} has no outputs"
    download = page.parent.parent / "_sources" / "book" / f"{page.stem}.ipynb"
    assert f'href="../_sources/book/{page.stem}.ipynb"' in html and download.exists(), "no .ipynb download"
