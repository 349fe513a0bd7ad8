"""The book's PDF (`make pdf`): every chapter of the table of contents in order, figures in
it, math typeset (no raw TeX left), numbered equations, and a link from the front page."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
PDF = ROOT / "_build" / "pdf" / "book.pdf"

if not PDF.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{PDF} is missing: `make test-browser` runs `make pdf` first")
    pytest.skip("make the PDF first (make pdf)", allow_module_level=True)

pypdf = pytest.importorskip("pypdf")
_spec = importlib.util.spec_from_file_location("book_pdf", ROOT / "scripts" / "book_pdf.py")
book_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_pdf)
RAW_TEX = re.compile(r"\$\$|\\(begin|frac|sum|mathbf|left|right)\b|\\\[")


@pytest.fixture(scope="module")
def reader():
    return pypdf.PdfReader(str(PDF))


@pytest.fixture(scope="module")
def text(reader):
    return [page.extract_text() or "" for page in reader.pages]


def test_every_chapter_is_bookmarked_in_reading_order(reader):
    pages = book_pdf.toc_pages(ROOT / "_toc.yml")
    titles = []
    for name in pages:
        h1 = re.search(r"<main.*?<h1[^>]*>(.*?)</h1>", (HTML / f"{name}.html").read_text(encoding="utf-8"), re.S)
        titles.append(re.sub(r"<[^>]+>|#", "", h1.group(1)).strip())
    outline = [item.title for item in reader.outline if not isinstance(item, list)]
    assert outline == titles
    assert len(reader.pages) >= 2 * len(pages), f"{len(reader.pages)} pages for {len(pages)} chapters"


def test_math_is_typeset_and_equations_numbered(text):
    raw = [(i + 1, m.group(0)) for i, page in enumerate(text) for m in RAW_TEX.finditer(page)]
    assert not raw, f"raw TeX on pages {raw[:5]}"
    # The output-size equation of chapter 2 carries a number, e.g. "(3)", beside it.
    numbered = sum(bool(re.search(r"\(\d+\)\s*$", line)) for page in text for line in page.splitlines())
    assert numbered >= 10, f"only {numbered} numbered equations found"


def test_figures_are_in_the_pdf(reader):
    built = len({src for page in HTML.glob("book/**/*.html")
                 for src in re.findall(r'<img[^>]+src="[^"]*_images/([^"]+)"', page.read_text(encoding="utf-8"))})
    images = sum(len(page.images) for page in reader.pages)
    assert built > 10 and images >= built, f"{images} images in the PDF, {built} figures in the HTML"


def test_the_front_page_links_the_pdf():
    front = HTML / f"{book_pdf.toc_pages(ROOT / '_toc.yml')[0]}.html"
    link = re.search(r'<article[^>]*class="bd-article".*?</h1>\s*<p id="book-pdf-link"><a href="([^"]+)"',
                     front.read_text(encoding="utf-8"), re.S)
    assert link, f"{front} has no link to the PDF under the article's title"
    assert (front.parent / link.group(1)).resolve() == (HTML / "book.pdf").resolve()
    assert (HTML / "book.pdf").stat().st_size == PDF.stat().st_size
