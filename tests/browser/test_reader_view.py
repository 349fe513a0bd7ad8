"""What a reader sees and can do in the built book, offline, in headless Chromium.

- One header: no page shows more than one visible search field (the theme's own), at a
  desktop or a phone width.
- Layout at a desktop (1280 px) and a phone (390 px) width: the article's title is in the
  first half of the first screen, the page never scrolls sideways, and at 390 px nothing
  of the article runs off the screen (wide code and outputs scroll inside their boxes).
  Screenshots go to test-reports/screenshots/layout-*.png.
- Accessibility: axe-core (npm, `make test-browser` installs it beside the venv) on every
  English page and a sample of the Japanese ones: no "serious" or "critical" violation; the "moderate" and "minor" ones are listed in
  test-reports/accessibility.md and as warnings of the test run.
- Explorers: every one moves from the keyboard, with no kernel and no network.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from conftest import HTML, JA_SAMPLE, ROOT, need_chromium
from playwright.sync_api import TimeoutError as PlaywrightTimeout

SHOTS = ROOT / "test-reports" / "screenshots"
REPORT = ROOT / "test-reports" / "accessibility.md"
AXE = ROOT / ".venv" / "npm-axe" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ["index.html"] + sorted(p.relative_to(HTML).as_posix() for p in HTML.glob("book/**/*.html"))
WIDTHS = {"desktop": 1280, "phone": 390}
EXPLORER_PAGES = {"book/01_convolution.html": 1, "book/02_stride.html": 1, "book/04_pooling.html": 1,
                  "book/08_what_it_learned.html": 2, "book/10_architecture.html": 1}
# Search fields a reader can see: the theme's search button-field and any search input.
SEARCH_FIELDS = ".search-button-field, input[type='search'], form.bd-search"
VISIBLE = "els => els.filter(e => { const r = e.getBoundingClientRect(); " \
          "const s = getComputedStyle(e); return r.width > 0 && r.height > 0 && " \
          "s.visibility !== 'hidden' && s.display !== 'none'; }).length"

if not HTML.joinpath("index.html").exists():
    pytest.skip("build the book first (make book)", allow_module_level=True)
need_chromium()


PHONE_HEIGHT = 844


@pytest.mark.parametrize("path", PAGES)
def test_one_visible_search_field(view, path):
    """At desktop width; at phone width in test_nothing_runs_off_a_phone_screen."""
    page, _ = view(path, WIDTHS["desktop"])
    try:     # the theme draws its header's search field with a script: on a busy machine, late
        page.wait_for_function(f"() => ({VISIBLE})([...document.querySelectorAll({SEARCH_FIELDS!r})]) > 0",
                               timeout=15000)
    except PlaywrightTimeout:
        pass     # counted below: none is a failure
    count = page.eval_on_selector_all(SEARCH_FIELDS, VISIBLE)
    assert count == 1, f"{path}: {count} visible search fields at {WIDTHS['desktop']} px"


# Elements of the article that reach past the window's right edge, unless they scroll
# inside a box that fits (code cells, wide outputs). The off-canvas sidebars are skipped.
OVERFLOWING = """
() => {
  const W = window.innerWidth, bad = [];
  for (const e of document.querySelectorAll("main *")) {
    if (e.closest(".bd-sidebar-secondary, .bd-sidebar-primary")) continue;  // off-canvas drawers
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= W + 1) continue;
    let p = e.parentElement, scrolls = false;
    while (p && p !== document.body) {
      const o = getComputedStyle(p).overflowX;
      if ((o === "auto" || o === "scroll") && p.getBoundingClientRect().right <= W + 1) { scrolls = true; break; }
      p = p.parentElement;
    }
    if (!scrolls) bad.push(e.tagName.toLowerCase() + "." + String(e.className).split(" ")[0] + ": " + e.textContent.slice(0, 50));
  }
  return bad.slice(0, 5);
}
"""


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize("path", ["book/00_intro.html", "book/01_convolution.html", "book/02_stride.html",
                                  "book/10_architecture.html", "ja/book/00_intro.html", "ja/book/10_architecture.html"])
def test_layout_at_desktop_and_phone_width(view, path, width):
    page, _ = view(path, width, PHONE_HEIGHT if width < 500 else 900)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"layout-{Path(path).stem}-{width}.png"))
    title_top = page.eval_on_selector(".bd-article h1", "e => e.getBoundingClientRect().top")
    viewport = page.evaluate("() => [window.innerWidth, window.innerHeight]")
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    headers = page.eval_on_selector_all("header", VISIBLE)
    assert 0 < title_top < viewport[1] * 0.5, f"the article starts at {title_top}px, not in the first half screen"
    assert scroll_width <= viewport[0], f"the page scrolls sideways: {scroll_width}px wide in a {viewport[0]}px window"
    assert headers <= 1, f"{headers} visible header bars"


@pytest.mark.parametrize("path", PAGES + JA_SAMPLE)
def test_nothing_runs_off_a_phone_screen(view, path):
    page, _ = view(path, WIDTHS["phone"], PHONE_HEIGHT)
    overflowing = page.evaluate(OVERFLOWING)
    search_fields = page.eval_on_selector_all(SEARCH_FIELDS, VISIBLE)
    assert not overflowing, f"{path} at {WIDTHS['phone']} px: {overflowing}"
    assert search_fields <= 1, f"{path}: {search_fields} visible search fields at {WIDTHS['phone']} px"


def test_axe_finds_no_serious_or_critical_violation(view):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test-browser` installs axe-core from npm")
    serious, lines = [], ["# Accessibility (axe-core) of the built book", "",
                          "Violations below 'serious' (the test fails on 'serious' and 'critical'):", ""]
    for path in PAGES + JA_SAMPLE:
        page, _ = view(path)
        if not page.evaluate("() => typeof axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                               ".map(v => [v.id, v.impact, v.help, v.nodes.length, "
                               "v.nodes.slice(0, 2).map(n => n.target.join(' ') + ' [' + n.html.slice(0, 80) + '] ' + "
                               "(n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 200))])")
        for rule, impact, text, count, targets in result:
            entry = f"{path}: {rule} ({impact}, {count} elements) {text}; e.g. {targets}"
            if impact in ("serious", "critical"):
                serious.append(entry)
            else:
                lines.append(f"- {entry}")
                warnings.warn(f"axe {impact}: {entry}", stacklevel=1)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines + ([] if len(lines) > 4 else ["- none"]) +
                                ["", "Serious or critical:", ""] +
                                ([f"- {s}" for s in serious] or ["- none"]) + [""]), encoding="utf-8")
    assert not serious, "\n".join(serious)


def canvas_state(page, root):
    return page.evaluate("r => [r.querySelector('canvas').toDataURL(), "
                         "r.querySelector('.cnn-explorer__status').textContent]", root)


@pytest.mark.parametrize("path, count", EXPLORER_PAGES.items())
def test_explorers_move_from_the_keyboard_without_a_kernel(view, path, count):
    """On the page the other tests read (it runs after them in this file): moving an
    explorer changes nothing they look at."""
    page, log = view(path)
    errors_before = len(log.errors)
    roots = page.query_selector_all(".cnn-explorer")
    assert len(roots) == count, f"{path}: {len(roots)} explorers, expected {count}"
    for root in roots:
        controls = root.query_selector_all("input, select, button")
        for control in controls:
            name = page.evaluate("e => e.labels && e.labels.length ? e.labels[0].textContent "
                                 ": e.getAttribute('aria-label')", control)
            assert name and name.strip(), f"{path}: a control without a label"
        before = canvas_state(page, root)
        first = root.query_selector("input[type='range'], select")
        first.focus()
        page.keyboard.press("ArrowRight" if first.get_attribute("type") == "range" else "ArrowDown")
        after = canvas_state(page, root)
        assert after[0] != before[0] and after[1] != before[1], f"{path}: the explorer did not move"
        play = root.query_selector("button[data-play]")
        if play:
            step = root.query_selector("input[name='step']")
            start = int(step.input_value())
            play.focus()
            page.keyboard.press("Enter")
            page.wait_for_timeout(1000)
            assert int(step.input_value()) > start, f"{path}: Play did not move the window"
            page.keyboard.press("Enter")
    SHOTS.mkdir(parents=True, exist_ok=True)
    roots[0].screenshot(path=str(SHOTS / f"explorer-{Path(path).stem}.png"))
    assert not log.errors[errors_before:], log.errors[errors_before:]
