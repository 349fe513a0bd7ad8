"""The book's PDFs (`make pdf`), English and Japanese: every chapter of the table of contents
in order, figures in it, math typeset (no raw TeX left), numbered equations, a link from the
front page, and Japanese set in an embedded Japanese font.

`make test-pdf` prints a sample of pages of each edition (PDF_ONLY, into PDF_DIR), since
every page is printed the same way and printing all of both editions is most of the CPU
time of a test run: the checks then cover the pages printed, and the front page's link is
made on a copy."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import in_ci

ROOT = Path(__file__).resolve().parents[2]
PDF_DIR = ROOT / os.environ.get("PDF_DIR", "_build/pdf")
PDF_ONLY = os.environ.get("PDF_ONLY", "")     # the pages printed (book_pdf.py --only), else all
# Each edition: its built HTML, its PDF, its table of contents (make pdf writes both).
EDITIONS = {"en": (ROOT / "_build" / "html", PDF_DIR / "book.pdf", ROOT / "_toc.yml"),
            "ja": (ROOT / "_build" / "html" / "ja", PDF_DIR / "book-ja.pdf", ROOT / "ja" / "_toc.yml")}

missing = [str(pdf) for _, pdf, _ in EDITIONS.values() if not pdf.exists()]
if missing:
    if in_ci():
        raise RuntimeError(f"{missing} missing: `make test-pdf` prints them first")
    pytest.skip("make the PDFs first (make pdf)", allow_module_level=True)

pypdf = pytest.importorskip("pypdf")
pdfium = pytest.importorskip("pypdfium2")
_spec = importlib.util.spec_from_file_location("book_pdf", ROOT / "scripts" / "book_pdf.py")
book_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_pdf)
RAW_TEX = re.compile(r"\$\$|\\(begin|frac|sum|mathbf|left|right)\b|\\\[")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module", params=sorted(EDITIONS))
def edition(request):
    html, pdf, toc = EDITIONS[request.param]
    return html, pdf, toc, pypdf.PdfReader(str(pdf))


@pytest.fixture(scope="module")
def reader(edition):
    return edition[3]


@pytest.fixture(scope="module")
def text(edition):
    """Each page's text, read by PDFium (pypdf reads the same in 30 times the time)."""
    document = pdfium.PdfDocument(str(edition[1]))
    try:
        return [document[n].get_textpage().get_text_range() for n in range(len(document))]
    finally:
        document.close()


def _images(resources, seen=None) -> int:
    """Image XObjects a page draws, counted from its resources (and the forms it draws),
    without decoding them as pypdf's ``page.images`` does."""
    seen = set() if seen is None else seen
    count = 0
    for reference in ((resources or {}).get("/XObject") or {}).values():
        xobject = reference.get_object()
        key = getattr(reference, "idnum", id(xobject))
        if key in seen:
            continue
        seen.add(key)
        if xobject.get("/Subtype") == "/Image":
            count += 1
        elif xobject.get("/Subtype") == "/Form":
            count += _images(xobject.get("/Resources"), seen)
    return count


def test_every_chapter_is_bookmarked_in_reading_order(edition, reader):
    HTML, _, toc, _ = edition
    pages = book_pdf.only_pages(book_pdf.toc_pages(toc), PDF_ONLY)
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


def test_figures_are_in_the_pdf(edition, reader):
    HTML, _, toc, _ = edition
    printed = [HTML / f"{name}.html" for name in book_pdf.only_pages(book_pdf.toc_pages(toc), PDF_ONLY)]
    built = len({src for page in printed
                 for src in re.findall(r'<img[^>]+src="[^"]*_images/([^"]+)"', page.read_text(encoding="utf-8"))})
    images = sum(_images(page.get("/Resources")) for page in reader.pages)
    assert built > 3 and images >= built, f"{images} images in the PDF, {built} figures in its pages' HTML"


def test_the_front_page_links_the_pdf(edition, reader, tmp_path):
    HTML, PDF, toc, _ = edition
    root = book_pdf.toc_pages(toc)[0]
    if PDF_ONLY:     # a sample is not linked: link it from a copy of the front page
        copy = tmp_path / "html"
        (copy / root).parent.mkdir(parents=True)
        shutil.copy(HTML / f"{root}.html", copy / f"{root}.html")
        book_pdf.link_from_front_page(copy, PDF, len(reader.pages), root, "ja" if HTML.name == "ja" else "en")
        HTML = copy
    front = HTML / f"{root}.html"
    link = re.search(r'<article[^>]*class="bd-article".*?</h1>\s*<p id="book-pdf-link"><a href="([^"]+)"',
                     front.read_text(encoding="utf-8"), re.S)
    assert link, f"{front} has no link to the PDF under the article's title"
    assert (front.parent / link.group(1)).resolve() == (HTML / PDF.name).resolve()
    assert (HTML / PDF.name).stat().st_size == PDF.stat().st_size


def _font_names(page) -> set[str]:
    fonts = (page.get("/Resources") or {}).get("/Font") or {}
    return {str(font.get_object().get("/BaseFont", "")) for font in fonts.values()}


def test_every_page_with_japanese_embeds_the_japanese_font(reader, text):
    """Without a Japanese font Chromium prints empty boxes; with the book's own subset of
    Noto Sans JP (_static/fonts) every page that shows Japanese embeds it."""
    pages = [n for n, page in enumerate(text) if JAPANESE.search(page)]
    assert pages, "no page with Japanese text"
    without = [n + 1 for n in pages if not any("NotoSansJP" in name for name in _font_names(reader.pages[n]))]
    assert not without, f"pages with Japanese text but no Japanese font embedded: {without[:10]}"
