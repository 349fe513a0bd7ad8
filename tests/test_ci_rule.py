"""The one rule for what counts as CI (tests/conftest.py: in_ci), where a skipped test fails
instead of passing silently; no test reads $CI itself."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Loaded by path: under a plain `pytest`, the module named `conftest` may be tests/browser's.
_spec = importlib.util.spec_from_file_location("tests_conftest", ROOT / "tests" / "conftest.py")
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)

# Files owned elsewhere that still read $CI themselves; each should call in_ci() instead.


def _set_ci(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("1", True), ("yes", True), ("TRUE", True), ("woodpecker", True),
    (None, False), ("", False), (" ", False), ("0", False), ("false", False), ("False", False),
    ("no", False), ("off", False)])
def test_what_counts_as_ci(monkeypatch, value, expected):
    _set_ci(monkeypatch, value)
    assert conftest.in_ci() is expected


def _skipped():
    return pytest.TestReport(nodeid="test_x.py::test_x", location=("test_x.py", 0, "test_x"), keywords={},
                             outcome="skipped", longrepr=("test_x.py", 1, "Skipped: no MNIST"), when="setup")


@pytest.mark.parametrize("value, outcome", [("true", "failed"), ("1", "failed"), ("false", "skipped"),
                                            (None, "skipped")])
def test_a_skip_fails_only_in_ci(monkeypatch, value, outcome):
    _set_ci(monkeypatch, value)
    report = _skipped()
    conftest._skip_fails_in_ci(report)
    assert report.outcome == outcome
    assert "no MNIST" in str(report.longrepr)      # the reason is kept


def test_no_test_reads_ci_itself():
    reads_ci = re.compile(r"""environ(?:\.get\(\s*|\[\s*)["']CI["']|getenv\(\s*["']CI["']""")
    readers = {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("*.py")
               if reads_ci.search(path.read_text(encoding="utf-8"))}
    assert readers == {"tests/conftest.py"}, "ask conftest.in_ci() instead of reading $CI"
