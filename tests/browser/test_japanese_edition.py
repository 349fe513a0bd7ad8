"""The Japanese edition (_build/html/ja) in headless Chromium, on a machine with no Japanese
font installed: every page links to its twin in the other language (and back), Japanese is
drawn with the book's own subset of Noto Sans JP (never the fallback's empty boxes), and
the Japanese search finds the chapters that teach a term first."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import HTML, ROOT, need_chromium, open_page

JA = HTML / "ja"
if not (JA / "index.html").exists():
    pytest.skip("build the book first (make book)", allow_module_level=True)
need_chromium()

EN_PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.glob("book/**/*.html"))
JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
FONT = "Course Noto Sans JP"


def _switch(html: Path) -> dict:
    text = html.read_text(encoding="utf-8")
    link = re.search(r'<a class="btn btn-sm course-language-switch" href="([^"]+)"\s+hreflang="(\w+)" lang="(\w+)"',
                     text)
    assert link, f"{html} has no language switch"
    return {"href": link.group(1), "hreflang": link.group(2), "lang": link.group(3),
            "html_lang": re.search(r'<html lang="(\w+)"', text).group(1)}


@pytest.mark.parametrize("path", EN_PAGES)
def test_every_page_links_to_its_twin_and_back(path):
    english, japanese = HTML / path, JA / path
    assert japanese.exists(), f"no Japanese page for {path}"
    there, back = _switch(english), _switch(japanese)
    assert (there["html_lang"], there["hreflang"], there["lang"]) == ("en", "ja", "ja")
    assert (back["html_lang"], back["hreflang"], back["lang"]) == ("ja", "en", "en")
    assert (english.parent / there["href"]).resolve() == japanese.resolve()
    assert (japanese.parent / back["href"]).resolve() == english.resolve()


def test_the_switch_is_reached_and_followed_with_the_keyboard(shared, server):
    page, log = open_page(shared, server, "book/01_convolution.html", width=390, height=800)
    switch = page.locator("a.course-language-switch")
    assert switch.is_visible(), "the switch is hidden at phone width"
    for _ in range(40):                      # Tab through the page's controls up to the switch
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('course-language-switch')"):
            break
    else:
        pytest.fail("40 presses of Tab never reached the language switch")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/ja/book/01_convolution.html"), page.url
    assert page.evaluate("() => document.documentElement.lang") == "ja"
    page.close()


def _fonts_of_text(page, selector: str) -> list[tuple[str, int, int]]:
    """(element's Japanese characters, glyphs drawn with the book's font, its text) for each
    element: Chromium's own record of the fonts it drew an element's text with (DevTools
    CSS.getPlatformFontsForNode), so a character the font lacks, drawn as the fallback
    font's empty box, shows up as a missing glyph."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    found = []
    for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"]:
        text = page.evaluate("""id => {
            const el = document.querySelectorAll(%r)[id];
            return Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('');
        }""" % selector, len(found))
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        # the subset keeps the font's own names (Noto Sans JP ...), served as FONT
        ours = sum(f["glyphCount"] for f in fonts if f["isCustomFont"] and "NotoSansJP" in f["postScriptName"])
        found.append((len(JAPANESE.findall(text)), ours, text.strip()[:60]))
    cdp.detach()
    return found


@pytest.mark.parametrize("path", ["ja/book/00_intro.html", "ja/book/05_backprop.html", "ja/book/glossary.html",
                                  "ja/search.html", "book/glossary.html"])
def test_japanese_is_drawn_with_the_books_font(shared, server, path):
    page, log = open_page(shared, server, path)
    page.evaluate("() => document.fonts.ready")
    measured = _fonts_of_text(page, "article.bd-article h1, article.bd-article p, article.bd-article dt, "
                                    "article.bd-article li, nav.bd-links a")
    page.close()
    japanese = [m for m in measured if m[0]]
    assert japanese, f"{path}: no Japanese text found"
    boxes = [m for m in japanese if m[1] < m[0]]
    assert not boxes, (f"{path}: Japanese characters drawn without the book's font (characters, glyphs "
                       f"from it, text): {boxes[:3]}")
    assert not log.failed and not log.blocked, log.failed + log.blocked


def test_font_download_of_a_page_is_small(browser, server):
    """What one page downloads for Japanese: the slices of the characters it shows."""
    sizes = []
    page = browser.new_page()
    page.on("response", lambda r: r.url.endswith(".woff2") and "fonts/" in r.url and sizes.append(len(r.body())))
    page.goto(f"{server}/ja/book/10_architecture.html", wait_until="networkidle")
    page.evaluate("() => document.fonts.ready")
    page.close()
    assert sizes, "the page downloaded no Japanese font"
    assert sum(sizes) < 600_000, f"{sum(sizes)} bytes of font for one page"


# Each term and the chapter that teaches it (a term taught in two, either may come first).
SEARCHES = {"畳み込み": ["01_convolution"], "プーリング": ["04_pooling"], "ストライド": ["02_stride"],
            "逆伝播": ["05_backprop"], "特徴マップ": ["01_convolution", "08_what_it_learned"]}


@pytest.mark.parametrize("term, chapters", SEARCHES.items())
def test_japanese_search_finds_the_teaching_chapter_first(shared, server, term, chapters):
    page, log = open_page(shared, server, f"ja/search.html?q={quote(term)}")   # what the search form submits
    page.wait_for_selector("#search-results ul.search li", timeout=15000)
    hits = page.eval_on_selector_all("#search-results ul.search li > a", "els => els.map(e => e.getAttribute('href'))")
    page.close()
    assert hits, f"no result for {term}"
    assert any(chapter in hits[0] for chapter in chapters), f"{term}: first results {hits[:3]}"
