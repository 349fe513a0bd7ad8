"""The Japanese edition (ja/) cannot drift from the English one: every page is translated,
with the same code, the same numbers, the same labels and equations, the English notebook's
outputs, and a record of the English prose it translates (scripts/translations.py). The
last tests plant each fault these checks exist to catch."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_claims  # noqa: E402
import translations  # noqa: E402

ENGLISH = check_claims.pages(ROOT)
PAGES = [translations.english_to_japanese(p) for p in ENGLISH]
ids = [p.relative_to(ROOT / "ja").as_posix() for p in PAGES]


def test_every_english_page_has_a_japanese_page():
    missing = [p.relative_to(ROOT).as_posix() for p in PAGES if not p.exists()]
    assert not missing, f"untranslated pages: {missing}"
    extra = sorted(set((ROOT / "ja" / "book").rglob("*.md")) - set(PAGES))
    assert not extra, f"Japanese pages with no English page: {extra}"


# Each way a Japanese page must agree with its English page, and why:
CHECKS = {
    "code cells are the English ones": translations.code_differences,
    # so the English claims check, which ties every number to a printed output or a
    # citation, covers the Japanese prose: it states exactly those numbers
    "prose states the English numbers": translations.number_differences,
    "labels, references and equations are the English ones": translations.structure_differences,
    "translates the current English prose": translations.staleness,
    # outputs are not executed twice: nbval on the English notebooks covers both
    "notebook holds the English outputs": translations.output_differences,
}


@pytest.mark.parametrize("check", CHECKS, ids=lambda name: name.replace(" ", "-"))
@pytest.mark.parametrize("page", PAGES, ids=ids)
def test_japanese_page_agrees_with_the_english_one(page, check):
    problems = CHECKS[check](page)
    assert not problems, f"{page.relative_to(ROOT)}: {check}? no: " + "; ".join(problems)


# ---------------------------------------------------------------- the two books

# What an edition may set differently; anything else in ja/_config.yml is the English value.
EDITION_KEYS = {("title",), ("author",), ("repository", "path_to_book"),
                ("sphinx", "config", "language"), ("sphinx", "config", "course_edition"),
                ("sphinx", "config", "html_static_path"), ("sphinx", "local_extensions", "offline_book"),
                ("html", "favicon"),    # a path, relative to the edition's folder
                ("sphinx", "extra_extensions"), ("exclude_patterns",)}


def _differences(english, japanese, path=()):
    if isinstance(english, dict) and isinstance(japanese, dict):
        for key in set(english) | set(japanese):
            yield from _differences(english.get(key), japanese.get(key), path + (key,))
    elif english != japanese:
        yield path


def test_japanese_config_differs_only_where_an_edition_must():
    english = yaml.safe_load((ROOT / "_config.yml").read_text())
    japanese = yaml.safe_load((ROOT / "ja" / "_config.yml").read_text())
    assert set(_differences(english, japanese)) <= EDITION_KEYS, \
        f"ja/_config.yml differs from _config.yml in {set(_differences(english, japanese)) - EDITION_KEYS}"
    assert japanese["sphinx"]["config"]["language"] == "ja"
    assert [e for e in japanese["sphinx"]["extra_extensions"] if e != "sphinx_tsegsearch"] == \
        english["sphinx"]["extra_extensions"]
    assert [e for e in japanese["exclude_patterns"]] == [e for e in english["exclude_patterns"] if e != "ja/*"]


def _toc_files(toc: dict) -> list[str]:
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def test_japanese_toc_lists_the_english_pages_in_order():
    english = yaml.safe_load((ROOT / "_toc.yml").read_text())
    japanese = yaml.safe_load((ROOT / "ja" / "_toc.yml").read_text())
    assert _toc_files(japanese) == _toc_files(english)
    assert len(japanese["parts"]) == len(english["parts"])


# ---------------------------------------------------------------- planted faults

CHAPTER = "book/06_training"


@pytest.fixture
def copy(tmp_path):
    """A repository of one English chapter and its translation, both notebooks included."""
    for path in (f"{CHAPTER}.md", f"{CHAPTER}.ipynb", f"ja/{CHAPTER}.md", f"ja/{CHAPTER}.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, tmp_path / path)
    page = tmp_path / "ja" / f"{CHAPTER}.md"
    assert translations.check(page, tmp_path) == [], "the copy must start in step"
    return tmp_path, page


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _first_code_line(page):
    """A line of code (not a comment, not an option) of the page's second code cell."""
    source = translations.code_cells(page)[1]
    return next(line for line in source.splitlines() if line.strip() and not line.lstrip().startswith(("#", "%")))


def test_a_changed_line_of_code_is_caught_and_a_translated_comment_is_not(copy):
    root, page = copy
    line = _first_code_line(page)
    _edit(page, line, line + "  # 日本語のコメント")
    assert translations.code_differences(page, root) == []
    _edit(page, line, line.replace("import", "import  os,") if "import" in line else line + " + 0")
    assert translations.code_differences(page, root)


def test_a_changed_number_is_caught(copy):
    root, page = copy
    _edit(page, "0.9915", "0.9951")
    assert any("0.9951" in p for p in translations.number_differences(page, root))
    assert any("0.9915" in p for p in translations.number_differences(page, root))


def test_a_dropped_label_is_caught(copy):
    root, page = copy
    label = next(k for k in translations.structure(page) if k[0] == "label")[1]
    _edit(page, f"({label})=", "")
    assert translations.structure_differences(page, root)


def test_a_changed_directive_is_caught(copy):
    root, page = copy
    _edit(page, "```{exercise} ", "```{admonition} ")
    assert translations.structure_differences(page, root) == [
        "has a directive the English page lacks: 'admonition'", "lacks the English page's directive: 'exercise'"]


def test_changed_english_prose_makes_the_translation_stale(copy):
    root, page = copy
    english = root / f"{CHAPTER}.md"
    _edit(english, "# ", "# A new title: ")
    problems = translations.staleness(page, root)
    assert problems and "changed since" in problems[0]
    translations.stamp(page, root)
    assert translations.staleness(page, root) == []


def test_a_chapter_not_executed_yet_keeps_its_notebook_header_when_stamped(copy):
    root, page = copy
    (root / f"{CHAPTER}.ipynb").unlink(missing_ok=True)            # a new chapter: no notebook yet
    _edit(root / f"{CHAPTER}.md", "# ", "# A new title: ")
    translations.stamp(page, root)
    header = page.read_text(encoding="utf-8").split("\n---\n", 1)[0]
    assert "jupytext:" in header and "kernelspec:" in header and "prose_sha256:" in header
    assert translations.staleness(page, root) == []


def test_writing_the_notebooks_again_changes_nothing(copy):
    """The Markdown page stores no cell ids: a rewrite keeps the notebook's ids and bytes."""
    root, page = copy
    notebook = page.with_suffix(".ipynb")
    translations.write_notebook(page, root)
    first = notebook.read_bytes()
    translations.write_notebook(page, root)
    assert notebook.read_bytes() == first


def test_changed_english_code_is_not_prose(copy):
    root, page = copy
    english = root / f"{CHAPTER}.md"
    line = _first_code_line(english)
    _edit(english, line, line + "  # a comment")
    assert translations.staleness(page, root) == []


def test_an_output_differing_from_the_english_one_is_caught(copy):
    root, page = copy
    notebook = page.with_suffix(".ipynb")
    data = json.loads(notebook.read_text())
    cell = next(c for c in data["cells"] if c["cell_type"] == "code" and c["outputs"])
    cell["outputs"] = []
    notebook.write_text(json.dumps(data))
    assert translations.output_differences(page, root)


def test_equations_are_found_in_directives_and_not_in_code():
    text = ("````{exercise} Title\n:label: ex-a\n\n```{math}\n:label: eq-a\nx = 1\n```\n````\n\n"
            "- item\n\n  ```{math}\n  y = 2\n  ```\n\n"
            "````markdown\n```{math}\nshown, not typeset\n```\n````\n")
    assert translations.directives(text) == [("exercise", ":label: ex-a\n\n```{math}\n:label: eq-a\nx = 1\n```\n"),
                                             ("math", ":label: eq-a\nx = 1\n"), ("math", "y = 2\n")]


def test_a_changed_equation_is_caught(tmp_path):
    english = "# Title\n\n````{note}\n```{math}\n:label: eq-a\nx = 1\n```\n````\n"
    for path, text in (("book/p.md", english), ("ja/book/p.md", english.replace("x = 1", "x = 2"))):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert translations.structure_differences(tmp_path / "ja" / "book" / "p.md", tmp_path) == [
        "has a equation the English page lacks: ':label: eq-a\\nx = 2'",
        "lacks the English page's equation: ':label: eq-a\\nx = 1'"]
