"""The built book in headless Chromium, served on localhost with every other request
blocked: pages load cleanly, images have alt text, math is typeset, search works, and
widget pages show their default figure. Screenshots go to test-reports/screenshots/.
Every English page and a sample of the Japanese ones load in the browser; every Japanese
page is also read from disk: alt text on each image, each image present, nothing fetched
from another host.

Run by `make test-browser` after the book is built (needs Debian's chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest

import re

from conftest import HTML, JA_SAMPLE, ROOT, PageLog, need_chromium, open_page

SHOTS = ROOT / "test-reports" / "screenshots"
PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("*.html"))
MATH_PAGES = ["book/01_convolution.html", "book/02_stride.html", "book/03_channels.html",
              "book/04_pooling.html", "book/07_training_well.html", "book/09_im2col.html",
              "book/10_architecture.html"]
# Widget pages and the caption of the static default figure each must show.
WIDGET_PAGES = {"book/01_convolution.html": "hand-made 3x3 filters",
                "book/02_stride.html": "padded with one pixel of zeros",
                "book/08_what_it_learned.html": "explorer"}

if not HTML.joinpath("index.html").exists():
    pytest.skip("build the book first (make book)", allow_module_level=True)
need_chromium()


@pytest.mark.parametrize("path", ["index.html", "genindex.html"] + PAGES + ["ja/genindex.html"] + JA_SAMPLE)
def test_page_loads_cleanly_and_every_image_has_alt_text(view, path):
    page, log = view(path)
    images = page.eval_on_selector_all(
        "main img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0, e.alt])")
    assert not log.blocked, f"{path} requested outside addresses: {log.blocked[:3]}"
    assert not log.failed, f"{path} has failed requests: {log.failed[:3]}"
    assert not log.errors, f"{path} logged console errors: {log.errors[:3]}"
    assert all(loaded for _, loaded, _ in images), [src for src, loaded, _ in images if not loaded]
    assert all(alt and alt.strip() for _, _, alt in images), [src for src, _, alt in images if not alt]


def test_a_request_to_another_host_is_blocked_and_listed(shared, server):
    """What the tests above rely on: the browser reaches no host but the local server's, and
    PageLog lists what a page asked of another. ``localhost`` names this very server, so
    only the browser's offline rule (conftest.OFFLINE) can stop it."""
    page = shared.new_page()
    log = PageLog(page, server)
    page.goto(f"{server}/index.html", wait_until="networkidle")
    elsewhere = server.replace("127.0.0.1", "localhost") + "/_static/favicon.svg"
    with page.expect_event("requestfailed", timeout=10000):
        page.evaluate("url => { new Image().src = url; }", elsewhere)   # an image: no CORS to fail it
    page.close()
    assert log.blocked == [elsewhere], log.blocked
    assert not log.failed


@pytest.mark.parametrize("edition", ["", "ja/"])
def test_the_front_door_forwards_with_the_books_icon(edition):
    """index.html forwards to the first chapter and names the book's icon (without it the
    browser asks for /favicon.ico and logs a 404, as sphinx-external-toc's bare redirect did)."""
    page = (HTML / edition / "index.html").read_text(encoding="utf-8")
    assert 'url=book/00_intro.html' in page and 'href="book/00_intro.html"' in page, page
    assert '<link rel="icon" href="_static/favicon.svg">' in page, page
    assert (HTML / edition / "_static" / "favicon.svg").is_file()


TAG = re.compile(r"<(img|script|link)\b[^>]*>", re.S)
ATTRIBUTE = re.compile(r'\b(src|href|alt)="([^"]*)"')


JA_PAGES = ["ja/index.html"] + sorted(p.relative_to(HTML).as_posix() for p in (HTML / "ja" / "book").rglob("*.html"))


@pytest.mark.parametrize("path", JA_PAGES)
def test_every_japanese_page_has_alt_text_and_only_local_resources(path):
    """Read from disk: the browser test above opens a sample of the Japanese pages."""
    page = (HTML / path).read_text(encoding="utf-8")
    main = page[page.find("<main"):page.find("</main>")]
    for match in TAG.finditer(page):
        tag, attributes = match.group(1), dict(ATTRIBUTE.findall(match.group(0)))
        url = attributes.get("src") or (attributes.get("href") if tag == "link" else None)
        if url is None or (tag == "link" and "stylesheet" not in match.group(0) and "preload" not in match.group(0)):
            continue
        assert not re.match(r"(https?:)?//", url), f"{path} loads {url} from another host"
        if tag == "img":
            assert (HTML / path).parent.joinpath(url.split("#")[0]).resolve().is_file(), f"{path}: {url} is missing"
    for match in TAG.finditer(main):
        if match.group(1) == "img":
            alt = dict(ATTRIBUTE.findall(match.group(0))).get("alt", "")
            assert alt.strip(), f"{path}: an image without alt text: {match.group(0)[:120]}"


@pytest.mark.parametrize("path", MATH_PAGES)
def test_math_is_typeset(view, path):
    page, log = view(path)
    page.wait_for_selector("mjx-container", timeout=15000)
    typeset = page.eval_on_selector_all("mjx-container", "els => els.length")
    raw = page.eval_on_selector_all("main .math", "els => els.filter(e => !e.querySelector('mjx-container')).length")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (Path(path).stem + ".png")))
    assert typeset > 5 and raw == 0, f"{path}: {typeset} typeset, {raw} untypeset formulas"
    assert not log.blocked and not log.failed


def test_search_finds_pooling(shared, server):
    page, log = open_page(shared, server, "search.html?q=pooling")
    page.wait_for_selector("#search-results ul.search li", timeout=15000)
    hits = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.textContent)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "search_pooling.png"))
    page.close()
    assert any("Pooling" in hit for hit in hits), hits
    assert not log.blocked and not log.failed and not log.errors


@pytest.mark.parametrize("path, caption", WIDGET_PAGES.items())
def test_widget_pages_show_their_default_figure(view, path, caption):
    page, _ = view(path)
    figures = page.eval_on_selector_all(
        "figure", "els => els.map(e => [e.textContent, !!e.querySelector('img') && "
                  "e.querySelector('img').naturalWidth > 0])")
    matching = [loaded for text, loaded in figures if caption.lower() in text.lower()]
    assert matching and all(matching), f"{path}: no loaded figure captioned '{caption}'"
