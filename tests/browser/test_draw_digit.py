"""Chapter 8's draw-a-digit explorer in the built book, in headless Chromium, offline.

- The page's network equals Keras: for the 100 test digits the explorer carries, loaded
  through its own input path (the test-digit slider), its ten probabilities equal
  ``model.predict`` with the same int8 weights within 1e-4, and the float32 network's
  within 0.02 (int8 changes a probability by at most 0.0180 on all 10,000 test digits, as
  chapter 8 prints), with the same top class; the page's 28 x 28 input is the test digit.
- That comparison fails when a fault is planted in the page's JavaScript forward pass (a
  flipped filter, a missing bias): the page's script is patched on its way to the browser.
- A 7 and a 0 drawn with the mouse are read as 7 and 0.
- The page's preprocessing equals ``course_utils.mnist_preprocessing`` on 20 drawings made
  with the mouse, pixel for pixel, with no difference at all.
- A constant feature map (on an empty drawing, conv1's channels are the ReLU of their bias)
  is drawn dark and not counted as responding.
- The explorer's English text is marked ``lang="en"``, on the Japanese page too.
- It works from the keyboard: the slider loads a test digit, the arrow keys on the drawing
  area shift it by one pixel, Tab reaches every button, Enter clears and undoes.
- At 390 px the page does not scroll sideways and the explorer fits; axe-core finds no
  violation of any impact in the explorer; its extra download is under 2 MB.
"""

from __future__ import annotations

import base64
import os
import re

import numpy as np
import pytest

from conftest import DRAWN_DIGITS, HTML, ROOT, PageLog, draw, need_chromium

PAGE = "book/08_what_it_learned.html"
JA_PAGE = "ja/book/08_what_it_learned.html"
AXE = ROOT / ".venv" / "npm-axe" / "node_modules" / "axe-core" / "axe.min.js"
STATIC = HTML / "_static"
EXACT = 1e-4            # the page against Keras with the same (int8) weights: float64 sums against float32
# The page against Keras with the float32 weights: int8 changes a probability by at most 0.0180
# on all 10,000 test digits (chapter 8 prints it, and nbval checks that it still does).
INT8_TOLERANCE = 0.02
BUDGET = 2_000_000      # bytes the explorer may add to its page

# Strokes on the 280 x 280 canvas, as (x, y) points.
SEVEN, ZERO = DRAWN_DIGITS["7"], DRAWN_DIGITS["0"]

# Faults planted in the page's forward pass (cnn_draw_digit.js): the text replaced, and its replacement.
FAULTS = {
    "flipped filter": ("const zAt = ((i + p) * W + (j + q)) * K, hAt = (p * H + q) * K * M;",
                       "const zAt = ((i + p) * W + (j + q)) * K, hAt = ((H - 1 - p) * H + (H - 1 - q)) * K * M;"),
    "missing bias": ("for (let m = 0; m < M; m++) u[m] = b[m];", "for (let m = 0; m < M; m++) u[m] = 0;"),
}

if not HTML.joinpath("index.html").exists():
    pytest.skip("build the book first (make book)", allow_module_level=True)
need_chromium()


@pytest.fixture(scope="module")
def keras_reference():
    """The 100 test digits the explorer carries and Keras' probabilities for them, with the
    int8 weights the page carries and with the float32 weights of the reference run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from course_utils.data import load_mnist, scale_images
    from course_utils.models import trained_source_cnn
    from course_utils.quantization import dequantized_model

    (_, _), (x_test, _) = load_mnist()
    model, _ = trained_source_cnn()
    x = scale_images(x_test[:100])
    return {"images": x_test[:100], "int8": dequantized_model(model).predict(x, verbose=0),
            "float32": model.predict(x, verbose=0)}


def open_explorer(context, server, path=PAGE, width=1280, height=900, fault=None):
    """The chapter's page, offline, with the explorer's root; ``fault`` patches its script
    (the page of a fault is in a context of its own: its script is not the book's)."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    log = PageLog(page, server)
    if fault:
        original, planted = FAULTS[fault]
        source = (STATIC / "cnn_draw_digit.js").read_text(encoding="utf-8")
        assert source.count(original) >= 1, f"the fault '{fault}' no longer matches cnn_draw_digit.js"
        patched = source.replace(original, planted, 1)
        page.route("**/_static/cnn_draw_digit.js*",
                   lambda route: route.fulfill(status=200, content_type="text/javascript", body=patched))
    page.goto(f"{server}/{path}", wait_until="networkidle")
    root = page.wait_for_selector(".cnn-explorer--draw")
    page.wait_for_function("r => r.drawDigit && r.drawDigit.last", arg=root)
    return page, root, log


@pytest.fixture(scope="module")
def explorer(shared, server):
    page, root, log = open_explorer(shared, server)
    yield page, root, log
    page.close()


READ_TEST_DIGITS = """([root, count]) => {
  const slider = root.querySelector('input[name="digit"]'), out = [];
  for (let n = 0; n < count; n++) {
    slider.value = n;
    slider.dispatchEvent(new Event('input', {bubbles: true}));
    const last = root.drawDigit.last;
    out.push([Array.from(last.input), Array.from(last.probabilities),
              root.querySelector('.cnn-explorer__status').textContent]);
  }
  return out;
}"""


def differences_from_keras(page, root, reference, count=100) -> list[str]:
    """Where the page's network differs from Keras on the first ``count`` test digits (empty: none)."""
    problems = []
    for n, (grey, p, status) in enumerate(page.evaluate(READ_TEST_DIGITS, [root, count])):
        p = np.array(p)
        if not np.array_equal(np.array(grey, np.uint8).reshape(28, 28), reference["images"][n]):
            problems.append(f"test digit {n}: the page's input is not the test image")
        gap = np.abs(p - reference["int8"][n]).max()
        if gap > EXACT:
            problems.append(f"test digit {n}: probabilities differ from Keras (int8 weights) by {gap:.2e}")
        gap = np.abs(p - reference["float32"][n]).max()
        if gap > INT8_TOLERANCE:
            problems.append(f"test digit {n}: probabilities differ from Keras (float32) by {gap:.2e}")
        if p.argmax() != reference["int8"][n].argmax() or p.argmax() != reference["float32"][n].argmax():
            problems.append(f"test digit {n}: the page reads {p.argmax()}, Keras {reference['float32'][n].argmax()}")
        if f"reads {p.argmax()} with probability" not in status:
            problems.append(f"test digit {n}: the text for screen readers says {status!r}")
    return problems


def clear(root) -> None:
    root.query_selector("button[data-action='clear']").click()


def last(page, root, key):
    return page.evaluate(f"r => Array.from(r.drawDigit.last.{key})", root)


def test_the_page_computes_what_keras_computes(explorer, keras_reference):
    page, root, log = explorer
    problems = differences_from_keras(page, root, keras_reference)
    assert not problems, f"{len(problems)} differences, e.g. {problems[:5]}"
    assert not log.errors and not log.blocked and not log.failed, (log.errors, log.blocked, log.failed)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_in_the_forward_pass_fails_the_comparison(browser, server, keras_reference, fault):
    page, root, _ = open_explorer(browser, server, fault=fault)
    problems = differences_from_keras(page, root, keras_reference)
    page.close()
    assert any("differ from Keras (int8 weights)" in problem for problem in problems), \
        f"the comparison did not notice a {fault}"


@pytest.mark.parametrize("strokes, digit", [(SEVEN, 7), (ZERO, 0)], ids=["seven", "zero"])
def test_a_drawn_digit_is_read(explorer, strokes, digit):
    page, root, _ = explorer
    clear(root)
    draw(page, root.query_selector("[data-part='pad']"), strokes, steps=3 if digit == 7 else 1)
    probabilities = last(page, root, "probabilities")
    status = root.query_selector(".cnn-explorer__status").text_content()
    assert int(np.argmax(probabilities)) == digit, np.round(probabilities, 3)
    assert f"Your drawing: the network reads {digit}" in status, status


# The drawing area's opacities (its pixels' alpha), as base64.
OPACITY = """pad => {
  const rgba = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
  let text = '';
  for (let n = 3; n < rgba.length; n += 4) text += String.fromCharCode(rgba[n]);
  return btoa(text);
}"""


def random_drawing(rng) -> list:
    """One to three strokes of three to seven points in a random part of the canvas, so that
    size, position and aspect ratio vary from drawing to drawing."""
    top, left = rng.integers(5, 140, 2)
    height, width = rng.integers(20, 270 - top), rng.integers(10, 270 - left)
    return [[(float(left + width * rng.random()), float(top + height * rng.random()))
             for _ in range(rng.integers(3, 8))] for _ in range(rng.integers(1, 4))]


def test_the_page_preprocesses_as_the_python_reference(explorer):
    from course_utils.mnist_preprocessing import preprocess_drawing

    page, root, _ = explorer
    pad = root.query_selector("[data-part='pad']")
    rng = np.random.default_rng(28)
    worst = []
    for _ in range(20):
        clear(root)
        draw(page, pad, random_drawing(rng))
        opacity = np.frombuffer(base64.b64decode(page.evaluate(OPACITY, pad)), np.uint8).reshape(280, 280)
        ours = np.array(last(page, root, "unshifted"), np.int64).reshape(28, 28)
        assert ours.any(), "the drawing left no ink"
        worst.append(np.abs(ours - preprocess_drawing(opacity)).max())
    assert max(worst) == 0, f"largest difference {max(worst)}/255 (each drawing: {worst})"


# Whether every map's pixels on a canvas of maps have the colour of the scale's bottom
# (viridis at 0: rgb(68, 1, 84)) or the white gap between maps.
DARKEST = """canvas => {
  const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let n = 0; n < rgba.length; n += 4) {
    const white = rgba[n] === 255 && rgba[n + 1] === 255 && rgba[n + 2] === 255;
    if (!white && (Math.abs(rgba[n] - 68) > 2 || Math.abs(rgba[n + 1] - 1) > 2 || Math.abs(rgba[n + 2] - 84) > 2)) return false;
  }
  return true;
}"""


def test_everything_works_from_the_keyboard(explorer, keras_reference):
    from course_utils.shifted_digits import shift_images

    page, root, _ = explorer
    slider = root.query_selector("input[name='digit']")
    slider.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    images = keras_reference["images"]
    assert np.array_equal(np.array(last(page, root, "input")).reshape(28, 28), images[1])
    assert "Test digit 1" in root.query_selector(".cnn-explorer__status").text_content()
    pad = root.query_selector("[data-part='pad']")
    pad.focus()
    for key in ["ArrowLeft", "ArrowLeft", "ArrowDown"]:
        page.keyboard.press(key)
    expected = shift_images(images[1:2], dy=1, dx=-2)[0]
    assert np.array_equal(np.array(last(page, root, "input")).reshape(28, 28), expected)
    assert "shifted 1 px down and 2 px left" in root.query_selector(".cnn-explorer__status").text_content()
    # Tab from the drawing area reaches every button and the slider, in order.
    reached = []
    for _ in range(7):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.getAttribute('aria-label') || "
                                     "document.activeElement.name"))
    assert reached == ["Undo the last stroke", "Clear the drawing", "Shift the digit left by one pixel",
                       "Shift the digit right by one pixel", "Shift the digit up by one pixel",
                       "Shift the digit down by one pixel", "digit"], reached
    # Enter on Clear empties the input; a stroke, a second one, and Undo leave the first.
    root.query_selector("button[data-action='clear']").focus()
    page.keyboard.press("Enter")
    assert not any(last(page, root, "input"))
    # On the empty drawing every conv1 map is constant (the ReLU of its bias): all drawn dark.
    assert "0 of 32 respond" in root.query_selector("[data-part='conv1']").get_attribute("aria-label")
    assert page.evaluate(DARKEST, root.query_selector("[data-part='conv1']")), "a constant map is drawn bright"
    draw(page, pad, SEVEN)
    first = last(page, root, "input")
    draw(page, pad, [[(60, 150), (220, 150)]])
    assert last(page, root, "input") != first
    root.query_selector("button[data-action='undo']").focus()
    page.keyboard.press("Enter")
    assert last(page, root, "input") == first


@pytest.mark.parametrize("path", [PAGE, JA_PAGE])
def test_a_phone_can_draw_and_nothing_scrolls_sideways(shared, server, path):
    page, root, log = open_explorer(shared, server, path, width=390, height=844)
    root.scroll_into_view_if_needed()
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    lang = root.get_attribute("lang")
    sticking_out = page.evaluate("r => Array.from(r.querySelectorAll('*')).filter(e => "
                                 "e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + "
                                 "'.' + e.className)", root)
    draw(page, root.query_selector("[data-part='pad']"), SEVEN)
    probabilities = last(page, root, "probabilities")
    page.close()
    assert lang == "en", f"the explorer's English text is marked lang={lang!r}"
    assert wide <= 390, f"the page scrolls sideways: {wide} px wide at 390 px"
    assert not sticking_out, sticking_out
    assert int(np.argmax(probabilities)) == 7
    assert not log.errors and not log.blocked, (log.errors, log.blocked)


def test_axe_finds_no_violation_in_the_explorer(explorer):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test-browser` installs axe-core from npm")
    page, root, _ = explorer
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async r => (await axe.run(r, {resultTypes: ['violations']})).violations"
                               ".map(v => [v.id, v.impact, v.nodes.map(n => n.target.join(' '))])", root)
    assert not violations, violations


def test_the_extra_download_is_under_2_mb_and_the_libraries_come_once():
    page = (HTML / PAGE).read_text(encoding="utf-8")
    start = page.index('<div class="cnn-explorer cnn-explorer--draw"')
    end = page.index("</div>", page.index("CnnDrawDigit.start(root, DATA);", start)) + len("</div>")
    libraries = ["cnn_explorers.js", "cnn_draw_digit.js"]
    extra = len(page[start:end].encode()) + sum((STATIC / name).stat().st_size for name in libraries)
    assert extra < BUDGET, f"the explorer adds {extra:,d} bytes to its page"
    for name in libraries:
        assert len(re.findall(rf'<script src="[^"]*_static/{name}"', page)) == 1, f"{name} is not loaded once"
        assert (STATIC / name).read_text(encoding="utf-8") not in page, f"{name} is still inlined in the page"
