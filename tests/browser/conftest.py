"""Fixtures of the browser tests: the built book served on localhost, and Debian's Chromium
(or the Chromium or Chrome that $CHROMIUM names, as on macOS)."""

from __future__ import annotations

import math

import functools
import http.server
import importlib.util
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
# The Japanese pages opened in the browser (the others are read from disk: their theme,
# code, math and figures are the English pages'): those whose layout differs from their
# English twins' in more than the language: the header (its switch reads "English"), wide
# tables and long math. Japanese prose wraps between any two characters.
JA_SAMPLE = ["ja/index.html", "ja/book/00_intro.html", "ja/book/05_backprop.html",
             "ja/book/10_architecture.html", "ja/book/glossary.html", "ja/book/appendix/notation.html"]


def _load(path, name):
    """A module by its path: pytest imports every conftest.py under the one name `conftest`,
    and scripts/ is no package (this works too where the latency benchmark imports this
    file, outside pytest)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The browser and its flags are the PDF printer's (scripts/book_pdf.py), offline included:
# no host but the local server's resolves (OFFLINE), and PageLog lists a request to another
# host as blocked.
_printer = _load(ROOT / "scripts" / "book_pdf.py", "book_pdf")
CHROMIUM, FLAGS, OFFLINE = _printer.CHROMIUM, _printer.FLAGS, _printer.OFFLINE


in_ci = _load(ROOT / "tests" / "conftest.py", "tests_conftest").in_ci   # the one rule for what counts as CI


def need_chromium():
    """Skip (fail in CI) when Debian's chromium, or the browser $CHROMIUM names, is missing."""
    if not Path(CHROMIUM).exists():
        if in_ci():
            raise RuntimeError("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM to a Chromium "
                    "or Chrome binary", allow_module_level=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server():
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shared(browser):
    """One browser context for the pages that tests only read, so that they share the
    browser's cache of scripts, styles and fonts as a reader's tabs do."""
    context = browser.new_context()
    yield context
    context.close()


class PageLog:
    """Console errors and failed or blocked requests of one page; every request outside the
    local server is blocked (the book must work offline; the browser resolves no other host,
    see OFFLINE)."""

    def __init__(self, page, origin):
        self.errors, self.failed, self.blocked = [], [], []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("requestfailed", lambda req: self._request_failed(req, origin))
        page.on("response", lambda res: res.status >= 400 and self.failed.append(f"{res.status} {res.url}"))

    def _request_failed(self, request, origin):
        if not (request.url.startswith(origin) or request.url.startswith("data:")):
            self.blocked.append(request.url)
        elif request.failure != "net::ERR_ABORTED":   # not cancelled by the page moving on (a redirect)
            self.failed.append(request.url)


def open_page(browser, server, path, width=1280, height=900):
    """A page of the book, loaded offline, and its log: in a fresh context of its own when
    ``browser`` is the browser, in that context when it is one."""
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": height})
    log = PageLog(page, server)
    page.goto(f"{server}/{path}", wait_until="networkidle")
    return page, log


@pytest.fixture(scope="session")
def view(shared, server):
    """``view(path, width=1280, height=900)``: the page and its log, loaded once and shared by
    every test that only reads it (a page load with its math typeset costs about a second
    of CPU); another width resizes the loaded page, as a reader turning a tablet or
    narrowing a window does, instead of loading it again. Tests that press keys or type
    open their own page with ``open_page``."""
    pages = {}

    def view(path, width=1280, height=900):
        if path not in pages:
            pages[path] = open_page(shared, server, path, width, height)
        page, log = pages[path]
        # Only the front tab of a context handles resizes and runs its timers: the theme's
        # tab stops on scrollable code (axe-core's scrollable-region-focusable) follow the
        # width only there.
        page.bring_to_front()
        if page.viewport_size != {"width": width, "height": height}:
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return page, log

    yield view
    for page, _ in pages.values():
        page.close()


# --- drawing on the draw-a-digit explorer (its tests, and benchmarks/draw_digit_latency.py) ----

# Digits drawn as strokes on the explorer's 280 x 280 canvas: lists of (x, y) points.
DRAWN_DIGITS = {
    "7": [[(70, 60), (140, 58), (210, 60), (180, 120), (150, 180), (125, 235)]],
    "0": [[(140 + 60 * math.sin(2 * math.pi * t / 40), 140 - 90 * math.cos(2 * math.pi * t / 40))
           for t in range(41)]],
    "1": [[(150, 40), (145, 140), (140, 240)]],
    "4": [[(170, 40), (90, 170), (210, 170)], [(175, 100), (172, 240)]],
}


def draw(page, pad, strokes, steps=1) -> None:
    """Draw strokes of (x, y) canvas points with the mouse, as a reader would (``steps``
    mouse moves from one point to the next)."""
    box = pad.bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=steps)
        page.mouse.up()
