"""Print the built HTML book to one PDF, offline, with Debian's Chromium.

Every page of the table of contents (``_toc.yml``) is opened from a local server, its math
typeset by the book's own MathJax, printed with the theme's print styles, and the chapters
are merged in order with one bookmark each (pypdf). Nothing is executed again: the pages
are those of the last ``make book``. The PDF is also copied beside the HTML and the front
page gets a link to it.

Usage: ``python scripts/book_pdf.py _build/html _build/pdf/book.pdf`` (``make pdf``), and
``python scripts/book_pdf.py _build/html/ja _build/pdf/book-ja.pdf --edition ja`` for the
Japanese edition (its own ``ja/_toc.yml``, title and link text; its Japanese set in the
book's own Noto Sans JP subset, so it prints on a machine with no Japanese font).
``--only book/00_intro,book/05_backprop`` prints those pages alone, and links nothing
(`make test-pdf` tests the printing on such a sample: each page is printed the same way).
``CHROMIUM=/path/to/chromium-or-chrome`` names another browser (on macOS, Google Chrome's
``/Applications/Google Chrome.app/Contents/MacOS/Google Chrome``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import yaml
from pypdf import PdfReader, PdfWriter

from course_utils.atomic_files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Offline: every host but the local server's fails to resolve, so a request to another host
# fails. Blocking by routing every request through Playwright did the same but turned off
# the browser's cache: each page then parsed MathJax and the theme's scripts afresh
# (measured 2026-12-03: 8 pages, 34 s of Chromium's CPU routed, 21 s not routed in one
# shared context). The browser tests use these flags too (tests/browser/conftest.py).
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", OFFLINE]
LINK_ID = "book-pdf-link"
# Print tweaks: no launch/download buttons, explorers' controls, or anchors' "#" signs.
PRINT_CSS = """
.header-article, .bd-header-article, .prev-next-area, .bd-footer, .bd-footer-content,
#jb-print-toc, .cnn-explorer__controls, .headerlink, .copybtn { display: none !important; }
pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
.cell_input, .cell_output, figure, table, mjx-container[display="true"] { break-inside: avoid; }
"""


def toc_pages(toc_file: Path) -> list[str]:
    """Documents of a jb-book ``_toc.yml`` in reading order: the root, then every ``file``."""
    toc = yaml.safe_load(toc_file.read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({key: toc.get(key) for key in ("parts", "chapters") if toc.get(key)})
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def page_footer_css(title: str) -> str:
    """The footer, "title · page", as a page margin box of the document itself (CSS Paged
    Media, Chromium 131 and later), so it is set in the page's own fonts: Chromium's
    footer_template is a document of its own, which cannot load them, and printed a
    Japanese title as empty boxes on a machine with no Japanese font."""
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    return ('@page { @bottom-center { content: "%s · " counter(page); font-size: 8px; '
            'font-family: var(--pst-font-family-base, sans-serif); } }' % quoted)


def only_pages(pages: list[str], only: str) -> list[str] | None:
    """``pages`` (in table-of-contents order) limited to the comma-separated names of
    ``only`` (all when it is empty); None when one of them is not among the pages."""
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    if any(name not in pages for name in wanted):
        return None
    return [page for page in pages if page in wanted] if wanted else pages


def print_pages(html_dir: Path, pages: list[str]) -> list[tuple[str, bytes]]:
    """(title, PDF bytes) of each page, printed by headless Chromium with every outside request blocked."""
    from playwright.sync_api import sync_playwright

    httpd = _serve(html_dir)
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    printed = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            for name in pages:
                page.goto(f"{origin}/{name}.html", wait_until="networkidle")
                page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                title = page.eval_on_selector("main h1", "e => e.textContent").replace("#", "").strip()
                page.add_style_tag(content=PRINT_CSS + page_footer_css(title))
                page.emulate_media(media="print")
                pdf = page.pdf(format="A4", print_background=True,
                               margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
                page.emulate_media(media="screen")
                printed.append((title, pdf))
            browser.close()
    finally:
        httpd.shutdown()
    return printed


# Per edition: its table of contents, the PDF's title, and the front page's link text.
EDITIONS = {
    "en": (ROOT / "_toc.yml", "Convolutional neural networks, equation by equation",
           "The whole book as a PDF", "({pages} pages, {size:.1f} MB), printed from these pages."),
    "ja": (ROOT / "ja" / "_toc.yml", "数式で一つずつたどる畳み込みニューラルネットワーク",
           "本書全体の PDF", "({pages} ページ、{size:.1f} MB)。これらのページを印刷したもの。"),
}


def merge(printed: list[tuple[str, bytes]], out: Path, title: str = EDITIONS["en"][1]) -> int:
    """Write the pages into one PDF with a bookmark per chapter; return its page count."""
    writer = PdfWriter()
    for title, pdf in printed:
        writer.append(PdfReader(io.BytesIO(pdf)), outline_item=title)
    writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    write_atomic(out, buffer.getvalue())   # an interrupted print leaves no half PDF
    return len(writer.pages)


def link_from_front_page(html_dir: Path, pdf: Path, pages: int, root: str, edition: str = "en") -> None:
    """Copy the PDF beside the HTML and link it under the front page's title (idempotent)."""
    front = html_dir / f"{root}.html"
    text = front.read_text(encoding="utf-8")
    text = re.sub(rf'<p id="{LINK_ID}".*?</p>\n', "", text, flags=re.S)
    depth = "../" * root.count("/")
    size = pdf.stat().st_size / 1e6
    _, _, text_link, text_after = EDITIONS[edition]
    link = (f'<p id="{LINK_ID}"><a href="{depth}{pdf.name}">{text_link}</a> '
            + text_after.format(pages=pages, size=size) + '</p>\n')
    # The article's title, not the theme's print-only copy of it that comes first in <main>.
    text, found = re.subn(r'(<article[^>]*class="bd-article"[^>]*>.*?</h1>\s*)', lambda m: m.group(1) + link,
                          text, count=1, flags=re.S)
    if not found:
        raise RuntimeError(f"{front}: found no <h1> in the article to put the PDF link under")
    write_atomic(html_dir / pdf.name, pdf.read_bytes())
    write_atomic(front, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built HTML book (_build/html)")
    parser.add_argument("out", type=Path, help="the PDF to write (_build/pdf/book.pdf)")
    parser.add_argument("--edition", choices=sorted(EDITIONS), default="en", help="en (default) or ja")
    parser.add_argument("--only", default="", metavar="PAGE,PAGE",
                        help="print only these pages of the table of contents, in its order (a sample, as "
                             "`make test-pdf` prints); the front page is then not linked to it")
    args = parser.parse_args(argv)
    toc, title, _, _ = EDITIONS[args.edition]
    pages = only_pages(toc_pages(toc), args.only)
    if pages is None:
        print(f"--only: {args.only!r} names pages that are not in {toc}", file=sys.stderr)
        return 2
    missing = [p for p in pages if not (args.html / f"{p}.html").exists()]
    if missing:
        print(f"html: pages of _toc.yml missing from {args.html}: {missing}; run make book first",
              file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM to a Chromium or "
              "Chrome binary", file=sys.stderr)
        return 1
    start = time.perf_counter()
    count = merge(print_pages(args.html, pages), args.out, title)
    if not args.only:
        link_from_front_page(args.html, args.out, count, pages[0], args.edition)
    print(f"{args.out}: {len(pages)} chapters, {count} pages, {args.out.stat().st_size / 1e6:.1f} MB "
          f"in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
