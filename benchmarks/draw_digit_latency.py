"""Chapter 8's draw-a-digit explorer in headless Chromium: time from the last stroke to updated probabilities.

Usage: python benchmarks/draw_digit_latency.py [--repeats 40] [--record FILE]

Writes the explorer (``course_utils.explorers.draw_digit_explorer`` with the reference run
of the source CNN and the first 100 test digits) into a page of its own, opens it from
``file://`` in Debian's Chromium (or $CHROMIUM) with the browser tests' flags, and draws
digits with the mouse, stroke by stroke, as a reader would. For each digit it takes the
``pointerup`` event that ends the last stroke (its ``timeStamp``: when the browser made
the event) and measures the time until the explorer has run MNIST's preprocessing and the
network and written the new probabilities into the page, and until the next animation
frame (the frame that shows them). Prints the medians, quartiles and the machine: CPU,
cores, load average, Chromium's version. The goal is a median under 30 ms. It times the
explorer alone, not the book's page with its theme and other explorers.

--record writes the same lines, with a header naming the command, date and machine, to
FILE (chapter 8 prints course_utils/reference/benchmarks/draw_digit_latency.txt).
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import statistics
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from conftest import CHROMIUM, DRAWN_DIGITS, FLAGS, draw  # noqa: E402  (the browser tests' Chromium, strokes)
from blas_environment import announce, unset_build_overrides  # noqa: E402

REMOVED = unset_build_overrides()   # before NumPy loads: as on a reader's machine

DIGITS = DRAWN_DIGITS

MEASURE = """root => {
  window.latencies = [];
  let up = null;
  root.addEventListener('pointerup', e => { up = e.timeStamp; }, {capture: true});
  root.addEventListener('cnn-draw-digit-update', e => {
    if (!e.detail.announce || up === null) return;
    const start = up, updated = performance.now();
    up = null;
    requestAnimationFrame(() => window.latencies.push([updated - start, performance.now() - start]));
  });
}"""


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return f"{cpu}, {os.cpu_count()} cores visible, {platform.machine()}, {platform.system()}"


def explorer_page(folder: Path) -> Path:
    from course_utils.data import load_mnist
    from course_utils.explorers import draw_digit_explorer
    from course_utils.models import trained_source_cnn

    (_, _), (x_test, y_test) = load_mnist()
    model, _ = trained_source_cnn()
    page = folder / "draw_digit.html"
    page.write_text("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>draw a digit</title>"
                    "</head><body><main>" + draw_digit_explorer(model, x_test[:100], y_test[:100]).data +
                    "</main></body></html>", encoding="utf-8")
    return page


def quartiles(values) -> str:
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return f"median {q2:.1f} ms (quartiles {q1:.1f} to {q3:.1f}, range {min(values):.1f} to {max(values):.1f})"


def measure(repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        url = explorer_page(Path(tmp)).as_uri()
        announce(REMOVED)   # the page computes in JavaScript; the Python side (Keras, NumPy) built it
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        print(f"browser: Chromium {browser.version}, headless, flags {' '.join(FLAGS)}")
        print("page: the explorer alone, in a page of its own opened from file:// (not the book's page)")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        root = page.query_selector(".cnn-explorer--draw")
        pad, clear = root.query_selector("[data-part='pad']"), root.query_selector("button[data-action='clear']")
        page.evaluate(MEASURE, root)
        names, read = list(DIGITS), []
        for n in range(repeats + 2):                         # the first two warm the page up
            clear.click()
            draw(page, pad, DIGITS[names[n % len(names)]], steps=4)
            page.wait_for_function(f"window.latencies.length >= {n + 1}")
            read.append(page.evaluate("r => r.drawDigit.last.probabilities.indexOf("
                                      "Math.max(...r.drawDigit.last.probabilities))", root))
        latencies = page.evaluate("window.latencies")[2:]
        browser.close()
    wrong = [f"{names[n % len(names)]} read as {c}" for n, c in enumerate(read) if str(c) != names[n % len(names)]]
    print(f"{repeats + 2} digits drawn ({', '.join(names)} in turn), each with the mouse in 1 or 2 strokes, "
          f"the first 2 to warm up and {repeats} timed; classified correctly: {repeats + 2 - len(wrong)} of "
          f"{repeats + 2}" + (f" ({wrong[:3]})" if wrong else ""))
    print("last stroke's pointerup to probabilities written into the page: " + quartiles([a for a, _ in latencies]))
    print("last stroke's pointerup to the next animation frame:             " + quartiles([b for _, b in latencies]))
    print("goal: a median under 30 ms from the last stroke to the probabilities")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine slows every figure down)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="digits to draw and time (default 40)")
    parser.add_argument("--record", type=Path, help="also write the output, with a header, to this file")
    args = parser.parse_args()
    output = io.StringIO()
    with redirect_stdout(output):
        measure(args.repeats)
    print(output.getvalue(), end="")
    if args.record:
        from course_utils.atomic_files import write_atomic

        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        header = f"# python benchmarks/draw_digit_latency.py --repeats {args.repeats}, {when}\n"
        write_atomic(args.record, header + output.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
