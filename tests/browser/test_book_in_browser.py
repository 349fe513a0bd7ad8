"""The built book in headless Chromium, served on localhost with every other request
blocked: pages load cleanly, images have alt text, math is typeset, search works, and
widget pages show their default figure. Screenshots go to test-reports/screenshots/.

Run by `make test-browser` after the book is built (needs Debian's chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import HTML, ROOT, need_chromium, open_page

SHOTS = ROOT / "test-reports" / "screenshots"
PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("*.html"))
JA_PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "ja" / "book").glob("*.html"))
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


@pytest.mark.parametrize("path", ["index.html", "genindex.html"] + PAGES + ["ja/index.html", "ja/genindex.html"] + JA_PAGES)
def test_page_loads_cleanly_and_every_image_has_alt_text(view, path):
    page, log = view(path)
    images = page.eval_on_selector_all(
        "main img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0, e.alt])")
    assert not log.blocked, f"{path} requested outside addresses: {log.blocked[:3]}"
    assert not log.failed, f"{path} has failed requests: {log.failed[:3]}"
    assert not log.errors, f"{path} logged console errors: {log.errors[:3]}"
    assert all(loaded for _, loaded, _ in images), [src for src, loaded, _ in images if not loaded]
    assert all(alt and alt.strip() for _, _, alt in images), [src for src, _, alt in images if not alt]


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


def test_search_finds_pooling(browser, server):
    page, log = open_page(browser, server, "search.html?q=pooling")
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
