"""The Japanese edition kept in step with the English one.

Usage: python scripts/translations.py check [ja/book/PAGE.md ...]   (no page: every page)
       python scripts/translations.py stamp ja/book/PAGE.md ...     (after updating a translation)
       python scripts/translations.py notebooks [ja/book/PAGE.md ...]  (the .ipynb, with the English outputs)

Every page ``book/X.md`` has a translation ``ja/book/X.md``. ``check`` reports, per page:

- **code**: the code cells differ from the English page's (compared with comments removed;
  comments may be translated);
- **numbers**: the prose states a number the English prose does not, or leaves one out
  (compared as the claims check reads them, with 分/秒/時間/倍/万 read as their units), so
  the English claims check, which ties each number to a printed output, covers both;
- **structure**: a label, a cross-reference target, an equation or a piece of inline math
  differs from the English page's;
- **outputs**: the Japanese notebook's stored outputs are not the English notebook's
  (``notebooks`` copies them, cell by cell, so nothing is executed twice);
- **stale**: the English prose changed since the translation was last stamped. The page's
  front matter records the digest of the English prose it translates (``translation:
  prose_sha256``); ``stamp`` writes it once the translation says what the English says.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tokenize
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JA = ROOT / "ja"
sys.path.insert(0, str(ROOT / "scripts"))
import check_claims  # noqa: E402


def ja_pages(root: Path = ROOT) -> list[Path]:
    """Every Japanese page, in the order of the English ones."""
    return [english_to_japanese(p, root) for p in check_claims.pages(root)]


def english_to_japanese(path: Path, root: Path = ROOT) -> Path:
    return root / "ja" / Path(path).resolve().relative_to(root)


def japanese_to_english(path: Path, root: Path = ROOT) -> Path:
    return root / Path(path).resolve().relative_to(root / "ja")


def front_matter(text: str) -> dict:
    """The YAML front matter of a page ({} when it has none)."""
    import yaml
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text[4:text.index("\n---\n", 4)]) or {}


def _read(path: Path):
    """A page as jupytext reads it; a plain page's own front matter (no jupytext header) is
    not a cell of it."""
    import jupytext
    text = Path(path).read_text(encoding="utf-8")
    if text.startswith("---\n") and "jupytext" not in front_matter(text):
        text = text[text.index("\n---\n", 4) + 5:]
    return jupytext.reads(text, fmt="md")


# ---------------------------------------------------------------- code cells

def without_comments(source: str) -> str:
    """A code cell's source with comments and blank lines removed, lines right-stripped.

    IPython's ``%magic`` lines are not Python; a line whose tokenizing fails is compared
    after removing a ``#`` comment that follows no quote character.
    """
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type != tokenize.COMMENT]
        text = tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        text = "\n".join(re.sub(r"#[^'\"]*$", "", line) for line in source.splitlines())
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def code_cells(path: Path) -> list[str]:
    return [c.source for c in _read(path).cells if c.cell_type == "code"]


def code_differences(ja_path: Path, root: Path = ROOT) -> list[str]:
    english = code_cells(japanese_to_english(ja_path, root))
    japanese = code_cells(ja_path)
    problems = []
    if len(english) != len(japanese):
        problems.append(f"{len(japanese)} code cells, the English page has {len(english)}")
    for n, (en, jp) in enumerate(zip(english, japanese), 1):
        if without_comments(en) != without_comments(jp):
            first = next((a for a, b in zip(en.splitlines(), jp.splitlines()) if a != b), en.splitlines()[0])
            problems.append(f"code cell {n} differs from the English one (first differing line: {first!r})")
    return problems


def output_differences(ja_path: Path, root: Path = ROOT) -> list[str]:
    """Where the Japanese notebook's stored outputs differ from the English notebook's: they
    must be equal, cell by cell, so that nbval on the English notebooks covers both."""
    english_path = japanese_to_english(ja_path, root).with_suffix(".ipynb")
    ja_ipynb = Path(ja_path).with_suffix(".ipynb")
    if not english_path.exists():
        return [f"{ja_ipynb.name} exists, the English page has no notebook"] if ja_ipynb.exists() else []
    if not ja_ipynb.exists():
        return [f"no {ja_ipynb.name}: run `python scripts/translations.py notebooks`"]

    def stored(path):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [(c["execution_count"], c["outputs"]) for c in cells if c["cell_type"] == "code"]

    english, japanese = stored(english_path), stored(ja_ipynb)
    if len(english) != len(japanese):
        return [f"{len(japanese)} code cells, the English notebook {len(english)}"]
    return [f"code cell {n}: outputs differ from the English notebook's: run "
            "`python scripts/translations.py notebooks`"
            for n, (en, jp) in enumerate(zip(english, japanese), 1) if en != jp]


# ---------------------------------------------------------------- prose digest

def prose_digest(english_path: Path) -> str:
    """SHA-256 of the English page's prose: its markdown cells and its code cells' metadata
    (figure captions, alt text), not the code, which ``code_differences`` compares."""
    parts = []
    for cell in _read(english_path).cells:
        if cell.cell_type == "markdown":
            parts.append(["markdown", "\n".join(line.rstrip() for line in cell.source.splitlines())])
        else:
            parts.append(["code-metadata", dict(cell.metadata)])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def recorded_digest(ja_path: Path) -> str | None:
    return (front_matter(Path(ja_path).read_text(encoding="utf-8")).get("translation") or {}).get("prose_sha256")


def stamp(ja_path: Path, root: Path = ROOT) -> None:
    """Record the digest of the English prose in the Japanese page's front matter (written
    by jupytext, as ``make notebooks`` writes a chapter, so the pair stays in sync)."""
    import jupytext
    english = japanese_to_english(ja_path, root)
    record = {"source": english.relative_to(root).as_posix(), "prose_sha256": prose_digest(english)}
    if _is_notebook_page(english):
        notebook = jupytext.read(ja_path)
        notebook.metadata["translation"] = record
        # jupytext writes only the metadata its filter names into a page's front matter
        header = dict(notebook.metadata.get("jupytext", {}), notebook_metadata_filter="translation")
        notebook.metadata["jupytext"] = dict(sorted(header.items()))  # the order jupytext --sync writes
        _write(notebook, ja_path, "md:myst")
        return
    # A page without a notebook (an appendix page): a front matter of its own.
    text = ja_path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        text = text[text.index("\n---\n", 4) + 5:]
    ja_path.write_text(f"---\ntranslation:\n  source: {record['source']}\n  prose_sha256: {record['prose_sha256']}\n"
                       f"---\n\n{text.lstrip()}", encoding="utf-8")


def _is_notebook_page(english: Path) -> bool:
    """A chapter (a jupytext notebook, executed or not yet), not an appendix page."""
    text = english.read_text(encoding="utf-8")
    return text.startswith("---\n") and "\njupytext:" in text[:text.find("\n---\n", 4) + 1]


def _write(notebook, path: Path, fmt: str) -> None:
    """Write ``notebook`` to ``path`` in ``fmt``, unless the file already holds exactly that."""
    import jupytext
    from course_utils.atomic_files import write_atomic
    text = jupytext.writes(notebook, fmt=fmt)
    text = text if text.endswith("\n") else text + "\n"
    if not (path.exists() and path.read_text(encoding="utf-8") == text):
        write_atomic(path, text)


def write_notebook(ja_path: Path, root: Path = ROOT) -> Path:
    """Write ``ja/book/X.ipynb``: the Japanese page's cells with the English notebook's stored
    outputs, cell by cell (the code cells are the same), so nothing is executed twice."""
    import jupytext
    import nbformat
    notebook = jupytext.read(ja_path)
    english = json.loads(japanese_to_english(ja_path, root).with_suffix(".ipynb").read_text(encoding="utf-8"))
    stored = [c for c in english["cells"] if c["cell_type"] == "code"]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if len(stored) != len(code):
        raise SystemExit(f"{ja_path}: {len(code)} code cells, the English notebook {len(stored)}: "
                         "translate the English page's changes first")
    for cell, english_cell in zip(code, stored):
        cell.outputs = nbformat.from_dict(english_cell["outputs"])
        cell.execution_count = english_cell["execution_count"]
    for key in ("language_info",):
        if key in english["metadata"]:
            notebook.metadata[key] = english["metadata"][key]
    out = ja_path.with_suffix(".ipynb")
    _keep_cell_ids(notebook, out)
    _write(notebook, ja_path, "md:myst")
    _write(notebook, out, "ipynb")
    return out


def _keep_cell_ids(notebook, path: Path) -> None:
    """Give the cells the ids of the notebook already at ``path`` (when it has as many cells):
    the Markdown page stores no ids, and fresh random ones would change every notebook on
    every run."""
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (ValueError, KeyError):
        return
    if len(old) == len(notebook.cells):
        for cell, previous in zip(notebook.cells, old):
            if previous.get("id"):
                cell["id"] = previous["id"]


# ---------------------------------------------------------------- numbers

_CJK = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
_JA_UNITS = [(r"(?<=\d)\s*分(?!の)", " minutes"), (r"(?<=\d)\s*秒", " s"), (r"(?<=\d)\s*時間", " hours"),
             (r"(?<=\d)\s*倍", " "), (r"(?<=\d)\s*(?:パーセント|％)", "%"),
             (r"(?:ステップ|式|図|表)\s*(?=\d)", " step ")]


def _man_to_million(match: re.Match) -> str:
    """'120 万' (ten-thousands) as the English writes it: '1.2 million'."""
    value = Decimal(match.group(1).replace(",", "")) / 100
    return format(value.normalize(), "f") + " million"


def japanese_claim_text(text: str) -> str:
    """Japanese prose rewritten so that the claims check reads its numbers as in English."""
    text = re.sub(r"(\d[\d,]*(?:\.\d+)?)\s*万", _man_to_million, text)
    for pattern, replacement in _JA_UNITS:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"(?<=\d)\s*[〜～]\s*(?=\d)", " to ", text)
    # Not a space: "TensorFlow は 0.75" must not read as the version "TensorFlow 0.75".
    return _CJK.sub("¦", text)


def claim_key(claim) -> tuple:
    """What must be equal: the value as written. A ratio is "1.8 times" or "1.8x" in English
    and 1.8 倍 in Japanese, so a speed-up compares as a plain number."""
    if claim.kind == "scale":
        return ("count", claim.value * check_claims.SCALES[claim.unit])
    if claim.kind in ("speedup", "decimal", "count"):
        return ("number", "", claim.text_number, claim.decimals)
    return (claim.kind, claim.unit, claim.text_number, claim.decimals)


def prose_numbers(path: Path, japanese: bool) -> Counter:
    """The numbers the claims check finds in a page's prose, as a multiset of keys."""
    found = Counter()
    for cell in _read(path).cells:
        if cell.cell_type != "markdown":
            continue
        for paragraph in check_claims.markdown_paragraphs(cell.source):
            clean = check_claims.clean_prose(paragraph)
            if japanese:
                clean = japanese_claim_text(clean)
            found.update(claim_key(c) for c in check_claims.find_claims(clean))
    return found


def _show(key: tuple) -> str:
    return str(key[1]) if key[0] == "count" and len(key) == 2 else f"{key[2]}{'' if key[1] in ('', '%', 'x') else ' '}{key[1]}"


def number_differences(ja_path: Path, root: Path = ROOT) -> list[str]:
    english = prose_numbers(japanese_to_english(ja_path, root), japanese=False)
    japanese = prose_numbers(ja_path, japanese=True)
    problems = [f"states {_show(k)} {n} more time(s) than the English prose" for k, n in (japanese - english).items()]
    problems += [f"leaves out {_show(k)} ({n} time(s)), which the English prose states" for k, n in (english - japanese).items()]
    return problems


# ---------------------------------------------------------------- structure

_STRUCTURE = [
    ("label", re.compile(r"^\s*\(([\w:-]+)\)=\s*$", re.M)),
    ("directive label", re.compile(r"^\s*:label:\s*(\S+)", re.M)),
    ("reference", re.compile(r"\{(?:eq|numref|ref|doc|download|term)\}`(?:[^`<]*<)?([^`>]+)>?`")),
    ("math", re.compile(r"(?<![\\$])\$\$?([^$]+)\$\$?")),
]


def directives(text: str) -> list[tuple[str, str]]:
    """(name, body) of every directive of a MyST text, nested ones too, none inside code
    (the parse the claims check reads prose with)."""
    return [(name, token.content) for token, _ in check_claims.myst_blocks(text)
            if token.type in ("fence", "colon_fence") and (name := check_claims.directive_name(token.info))]


def structure(path: Path) -> Counter:
    found = Counter()
    for cell in _read(path).cells:
        if cell.cell_type != "markdown":
            continue
        for name, pattern in _STRUCTURE:
            found.update((name, m.strip()) for m in pattern.findall(cell.source))
        for name, body in directives(cell.source):
            found[("directive", name)] += 1
            if name == "math":
                found[("equation", body.strip())] += 1
    return found


def structure_differences(ja_path: Path, root: Path = ROOT) -> list[str]:
    english, japanese = structure(japanese_to_english(ja_path, root)), structure(ja_path)
    problems = [f"has a {k[0]} the English page lacks: {k[1][:80]!r}" for k in (japanese - english)]
    problems += [f"lacks the English page's {k[0]}: {k[1][:80]!r}" for k in (english - japanese)]
    return problems


def staleness(ja_path: Path, root: Path = ROOT) -> list[str]:
    recorded = recorded_digest(ja_path)
    if recorded is None:
        return ["no translation digest: run `python scripts/translations.py stamp` once it is translated"]
    english = japanese_to_english(ja_path, root)
    if recorded != prose_digest(english):
        return [f"the English prose of {english.relative_to(root)} changed since this "
                "translation was stamped: translate the change, then stamp it"]
    return []


def check(ja_path: Path, root: Path = ROOT) -> list[str]:
    """Every way the Japanese page differs from its English page (see the module docstring)."""
    ja_path = Path(ja_path).resolve()
    if not ja_path.exists():
        return ["missing: no Japanese page for this English one"]
    return [f"code: {p}" for p in code_differences(ja_path, root)] + \
        [f"numbers: {p}" for p in number_differences(ja_path, root)] + \
        [f"structure: {p}" for p in structure_differences(ja_path, root)] + \
        [f"outputs: {p}" for p in output_differences(ja_path, root)] + \
        [f"stale: {p}" for p in staleness(ja_path, root)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "stamp", "notebooks"])
    parser.add_argument("pages", nargs="*", type=Path, metavar="ja/book/PAGE.md")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.pages] or ja_pages()
    if args.command == "notebooks":
        for path in paths:
            if not japanese_to_english(path).with_suffix(".ipynb").exists():
                continue      # a page without a notebook
            print(f"wrote {write_notebook(path).relative_to(ROOT)}")
        return 0
    if args.command == "stamp":
        for path in paths:
            stamp(path)
            print(f"stamped {path.relative_to(ROOT)}")
        return 0
    failed = 0
    for path in paths:
        problems = check(path)
        failed += bool(problems)
        for problem in problems:
            print(f"{path.relative_to(ROOT)}: {problem}")
    print(f"{len(paths) - failed} of {len(paths)} pages in step with the English edition")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
