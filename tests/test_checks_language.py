"""The checkers speak English or Japanese (course_utils.i18n): every marked message has a
Japanese translation with the same placeholders, the committed .mo is the .po compiled,
the language is chosen as documented, and a Japanese verdict carries no English."""

from __future__ import annotations

import ast
import gettext
import re
import string
import sys
import threading

import numpy as np
import pytest

from conftest import ROOT
from course_utils import checks, i18n
from course_utils.i18n import using_language

PO = ROOT / "course_utils" / "locale" / "ja" / "LC_MESSAGES" / "course_utils.po"
MO = PO.with_suffix(".mo")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")   # kana and kanji


@pytest.fixture(scope="module")
def tools():
    """scripts/compile_messages.py, which needs Babel (pinned in requirements.txt)."""
    pytest.importorskip("babel")
    sys.path.insert(0, str(ROOT / "scripts"))
    import compile_messages

    return compile_messages


@pytest.fixture(scope="module")
def catalogue(tools):
    with PO.open("rb") as handle:
        return tools.read_po(handle, locale="ja")


@pytest.fixture
def english(monkeypatch):
    """No language setting in the environment: the English default."""
    monkeypatch.delenv("COURSE_LANGUAGE", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


@pytest.fixture
def japanese(english, monkeypatch):
    monkeypatch.setenv("COURSE_LANGUAGE", "ja")


def flipped(x, h):
    """A convolution that flips its filter (the true convolution): the typical mistake."""
    H, out = h.shape[0], x.shape[0] - h.shape[0] + 1
    return np.array([[np.sum(x[i:i + H, j:j + H] * h[::-1, ::-1]) for j in range(out)] for i in range(out)])


def correct(x, h):
    H, out = h.shape[0], x.shape[0] - h.shape[0] + 1
    return np.array([[np.sum(x[i:i + H, j:j + H] * h) for j in range(out)] for i in range(out)])


FLIPPED_EN = ("Not yet: single-channel convolution, case 1 of 5 (x 5x5, h 3x3): 9 of 9 values differ; first at "
              "index (0, 0): expected -1.46898, got 2.26468. Hint: your filter is flipped (true convolution); "
              "Keras and this course compute the cross-correlation")
FLIPPED_JA = ("未合格: 単一チャネルの畳み込み、5 ケース中 1 番目 (x 5x5, h 3x3): 9 個の値のうち 9 個が異なる。"
              "最初はインデックス (0, 0): 期待値は -1.46898、戻り値は 2.26468。ヒント: フィルタが反転している "
              "(本来の畳み込み)。Keras と本コースが計算するのは相互相関である")
PASSED_EN = "Passed: single-channel convolution, all 5 cases."
PASSED_JA = "合格: 単一チャネルの畳み込み、5 ケースすべて正解。"


# --- the catalogue ------------------------------------------------------------------------

def test_every_marked_message_has_a_japanese_translation(tools, catalogue):
    """The .po holds exactly the messages marked in the code, each translated, none fuzzy
    (a fuzzy or empty msgstr is not compiled: the student would read English)."""
    marked = {message.id for message in tools.extract() if message.id}
    held = {message.id: message for message in catalogue if message.id}
    assert len(marked) > 100
    assert not marked - set(held), f"not in the .po (run python scripts/compile_messages.py): {marked - set(held)}"
    assert not set(held) - marked, f"in the .po but no longer in the code: {set(held) - marked}"
    missing = [message.id for message in held.values() if not message.string.strip() or message.fuzzy]
    assert not missing, f"untranslated or fuzzy: {missing}"
    assert all(JAPANESE.search(message.string) for message in held.values()), "a msgstr without Japanese"


def placeholders(text: str) -> set[tuple]:
    """The ``{name!conversion:spec}`` fields of a str.format message."""
    return {(name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(text)
            if name is not None}


def test_every_translation_keeps_the_placeholders_of_its_message(catalogue):
    wrong = []
    for message in catalogue:
        if message.id:
            try:
                same = placeholders(message.string) == placeholders(message.id)
            except ValueError as error:          # a lone brace
                same = error
            if same is not True:
                wrong.append(f"{message.id!r} -> {message.string!r}: {same or 'other placeholders'}")
    assert not wrong, "\n".join(wrong)


def test_placeholder_reader_sees_a_changed_field():
    assert placeholders("{a} of {b:.6g}") == {("a", None, ""), ("b", None, ".6g")}
    assert placeholders("{a} of {b:g}") != placeholders("{a} of {b:.6g}")
    with pytest.raises(ValueError):
        placeholders("{a} of {b")


def test_committed_mo_is_the_po_compiled(tools, catalogue):
    """Compared as catalogues: the .mo's header names the Babel version that wrote it."""
    compiled = tools.mo_messages(tools.mo_bytes(catalogue))
    committed = tools.mo_messages(MO.read_bytes())
    assert committed == compiled, "course_utils.mo is stale: run python scripts/compile_messages.py"
    with MO.open("rb") as handle:                # and gettext, which reads it at run time, agrees
        runtime = gettext.GNUTranslations(handle)
    assert runtime.info()["language"] == "ja" and runtime.charset() == "utf-8"
    assert all(runtime.gettext(msgid) == msgstr for msgid, msgstr in compiled.items())


def test_compile_script_adds_new_messages_empty_and_reports_obsolete_ones(tools):
    """What scripts/compile_messages.py does when the code changes: a new message comes in
    untranslated (no fuzzy guess from a similar one), a removed one is reported as obsolete,
    the other translations are kept, and only translated messages are compiled."""
    template = tools.extract()
    template.delete("Not yet: no function named {name}")
    template.add("Not yet: no function called {name}", locations=[("course_utils/checks.py", 1)])
    catalog = tools.read(PO, "ja")
    added, obsolete = tools.update(catalog, template)
    assert added == ["Not yet: no function called {name}"] and not catalog["Not yet: no function called {name}"].string
    assert obsolete == ["Not yet: no function named {name}"]
    assert catalog["Passed: {exercise}, all {n} cases."].string == "合格: {exercise}、{n} ケースすべて正解。"
    assert tools.untranslated(catalog) == ["Not yet: no function called {name}"]
    compiled = tools.mo_messages(tools.mo_bytes(catalog))
    assert "Not yet: no function called {name}" not in compiled and len(compiled) == len(template) - 1
    assert b'#~ msgid "Not yet: no function named {name}"' in tools.po_bytes(catalog)
    assert b"no function named" not in tools.po_bytes(catalog, drop_obsolete=True)


def test_messages_are_marked_with_fixed_strings():
    """``_`` and ``N_`` get a literal (or, for ``_``, a name or item holding one marked with
    ``N_``): an f-string, a concatenation or a .format() inside cannot be looked up."""
    wrong = []
    for path in sorted((ROOT / "course_utils").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_"):
                [argument] = node.args
                literal = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
                if not (literal or node.func.id == "_" and isinstance(argument, (ast.Name, ast.Subscript))):
                    wrong.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "\n".join(wrong)


# --- verdicts in Japanese -------------------------------------------------------------------

def test_course_language_ja_gives_a_japanese_verdict_with_its_hint(japanese):
    result = checks.check_conv2d_single(flipped)
    assert not result.passed and result.message == FLIPPED_JA
    assert result.exercise == "single-channel convolution"      # the key stays English


def missing_function_verdict() -> str:
    """The grader's verdict on a notebook that defines no my_conv (nothing is run)."""
    from types import SimpleNamespace

    from course_utils.grading.submission import _grade_exercise

    return _grade_exercise("ex-conv-single", SimpleNamespace(found={})).message


def test_course_language_ja_gives_a_japanese_pass(japanese):
    result = checks.check_conv2d_single(correct)
    assert result.passed and result.message == PASSED_JA


def test_english_is_unchanged(english):
    assert checks.check_conv2d_single(flipped).message == FLIPPED_EN
    assert checks.check_conv2d_single(correct).message == PASSED_EN
    assert missing_function_verdict() == "Not yet: no function named my_conv"


def test_every_exercise_has_its_japanese_name(japanese):
    for name, checker in checks.EXERCISES.values():
        message = checker(26).message
        verdict = re.fullmatch(r"未合格: ([^:]+): 関数を渡すところに int が渡された。\(\) を付けずに関数そのものを渡すこと。",
                               message)
        assert verdict and JAPANESE.search(verdict[1]), message
    assert missing_function_verdict() == "未合格: my_conv という名前の関数がない"


def recorded_cases(monkeypatch) -> dict[str, list[str]]:
    """Every exercise's case descriptions, as its checker builds them now (nothing is run)."""
    seen = {}
    with monkeypatch.context() as patch:
        patch.setattr(checks, "run_checker", lambda exercise, student, reference, cases, *a, **k:
                      seen.setdefault(exercise, [case.description for case in cases]))
        for name, checker in checks.EXERCISES.values():
            checker(None)
    return seen


# Words a Japanese case description may keep: the code's names, shapes and values.
CODE_WORDS = {"x", "h", "b", "z", "du", "N", "W", "H", "K", "M", "M1", "M2", "P", "s", "u", "size", "stride",
              "units", "layers", "None", "learning_rate", "rho", "eps", "momentum", "exp", "ReLU", "valid", "same"}


def test_case_descriptions_with_words_are_translated(japanese, monkeypatch):
    english_words = {}
    for exercise, descriptions in recorded_cases(monkeypatch).items():
        for description in descriptions:
            numbers_aside = re.sub(r"\d+(x\d+)+|\d[\d.]*e-\d+", " ", description)    # 5x5x1, 1e-07
            words = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", numbers_aside)) - CODE_WORDS
            if words:
                english_words[f"{exercise}: {description}"] = words
    assert not english_words, english_words


# --- how the language is chosen ---------------------------------------------------------

@pytest.mark.parametrize("path, expected", [
    ("/x/ja/book/01_convolution.ipynb", "ja"),
    ("ja/book/01_convolution.ipynb", "ja"),
    ("/home/me/student/ja/book/appendix/notation.ipynb", "ja"),
    (r"C:\course\ja\book\01_convolution.ipynb", "ja"),
    ("/x/book/01_convolution.ipynb", "en"),
    ("/x/ja/01_convolution.ipynb", "en"),
    ("/x/japan/book/01_convolution.ipynb", "en"),
    ("/x/ja/book", "en"),                     # a notebook named book, not a folder
    ("", "en"),
])
def test_jupyter_session_name_selects_the_edition(english, monkeypatch, path, expected):
    monkeypatch.setenv("JPY_SESSION_NAME", path)
    assert i18n.language() == expected
    message = checks.check_conv2d_single(correct).message
    assert message == (PASSED_JA if expected == "ja" else PASSED_EN)


def test_course_language_comes_before_the_notebook_path(english, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/x/ja/book/01_convolution.ipynb")
    monkeypatch.setenv("COURSE_LANGUAGE", "en")
    assert i18n.language() == "en"
    monkeypatch.setenv("COURSE_LANGUAGE", "fr")      # unknown: ignored, the path decides
    assert i18n.language() == "ja"
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert i18n.language() == "en"
    monkeypatch.setenv("COURSE_LANGUAGE", " JA ")
    assert i18n.language() == "ja"


def test_using_language_overrides_the_environment(english, monkeypatch):
    monkeypatch.setenv("COURSE_LANGUAGE", "en")
    with using_language("ja"):
        assert checks.check_conv2d_single(flipped).message == FLIPPED_JA
        with using_language("en"):
            assert checks.check_conv2d_single(flipped).message == FLIPPED_EN
        with using_language(None):               # no override: the environment decides
            assert i18n.language() == "en"
        assert i18n.language() == "ja"
    assert checks.check_conv2d_single(correct).message == PASSED_EN
    monkeypatch.setenv("COURSE_LANGUAGE", "ja")
    monkeypatch.setenv("JPY_SESSION_NAME", "/x/ja/book/01_convolution.ipynb")
    with using_language("en"):
        assert checks.check_conv2d_single(correct).message == PASSED_EN
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        with using_language("fr"):
            pass


def test_using_language_stays_in_its_own_thread(english):
    seen = []
    with using_language("ja"):
        thread = threading.Thread(target=lambda: seen.append(i18n.language()))
        thread.start()
        thread.join()
        assert i18n.language() == "ja"
    assert seen == ["en"]


def test_empty_message_is_not_the_catalogue_header(japanese):
    assert i18n._("") == ""
    assert i18n.N_("Passed: {exercise}, all {n} cases.") == "Passed: {exercise}, all {n} cases."
