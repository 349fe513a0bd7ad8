"""The claims check: every number a page's prose states is tied to the value one of its
cells prints, or cited.

Usage: python scripts/check_claims.py [--markdown] [book/06_training.md ...]   (no page: every page)
       python scripts/check_claims.py --write-ties [PAGE.md ...]   (propose ties for review)

**Ties.** ``tests/claims/ties/<page>.yml`` lists, for each number the prose states, the
cell that prints it and the value as printed::

    - number: "99.3%"                 # as written in the prose
      cell: 'print(describe(run))'    # a piece of that code cell's source, unique on the page
      printed: "0.99268"              # the value as the cell prints it
      context: "test accuracy"        # optional, as for citations (see below)

A number passes only if an entry names it, the named cell's stored output still contains
that value, and the value rounds *half up* to the number (below). So a number edited in
the prose alone has no tie and fails, and a tie edited with it fails unless that one printed
value rounds to the new number: a last-digit change (0.9927 to 0.9928) is caught, which a
rule that accepts any printed value on the page was not (79% of such changes were caught).
A context that contains the number itself ("by 1.6x") must hold at the number, which keeps
two numbers of one paragraph apart. ``--write-ties`` proposes the nearest printing cell for
every untied number; review what it writes, since the nearest value that rounds to a number
is not always the one the sentence means.

A page is a chapter ``book/NN_*.md`` with its paired ``.ipynb``, the glossary, or an
appendix page (no notebook: its numbers must all be cited). The rules:

**Which text is prose.** Markdown cells only. Code cells, fenced code blocks, ``{math}``
blocks, ``$...$`` and ``$$...$$`` math (and the ``(label)`` after a ``$$``), code spans and
roles (``{eq}`eq-conv```), directive option lines (``:label: ...``, ``:class: ...``, a
``---`` option block, so also a code cell's figure caption and alt text), label targets
(``(eq-conv)=``), the arguments of ``{solution}``/``{figure}``-like directives (a label, a
path), URLs, link targets, HTML tags and comments are not. Titles of directives
(``{exercise} Max pooling``) and their bodies (a ``{figure}``'s caption) are. The blocks are
MyST's as markdown-it-py parses them (the parser myst-parser builds on), so a code block
inside a quotation or a list is code, and a line that starts with "600)" continues its item.

**Which numbers are claims.** Decimals (0.9915), percentages (99.1%, 98–99%), integers of
three or more digits (10,000; 197,482), speed-ups (1,070x, 6.1x), sizes (40 GB, 2.9 MB),
times (76 minutes, 2.5 s) and scaled counts (1.2 million). A unit written after a range
applies to both ends ("16 to 26 minutes"). Not claims: integers below 100 without a unit,
years (1900–2099 without a unit), versions (x.y.z, or a decimal right after a library
name such as "TensorFlow 2.0"), numbers glued to letters ("conv2d", "3D"), dimensions
("3x3", "28 x 28") and numbers after "section", "equation", "figure", "table".

**When a printed value supports a claim** (the value a tie names; the message for an untied
number suggests one). The chapter's notebook outputs (``text/plain``,
``text/html`` with tags, scripts and styles removed, ``text/markdown``, ``text/latex``, streams) are scanned
for numbers; thousands separators are dropped and signs ignored. A printed value supports
a claim written with ``d`` decimals when it rounds to the claim at ``d`` decimals (half up;
a suggestion also accepts half even) and was printed with at least ``d`` decimals (after the scaling below): a
printed 0.99268 supports 0.9927 and 99.3%, a printed 0.9927 does not support 0.99268, and
a printed 1.0 does not support "1.00". Equivalences tried:

- a percentage ``p%`` is supported by a printed ``p`` (``99.1`` or ``99.1%``) or by a
  printed fraction ``p/100`` (0.99146 supports 99.1%; 0.99 supports 99% but not 99.1%);
- a plain decimal ``f`` is supported by a printed ``f`` or by a printed percentage
  ``100 f %`` (99.15% supports 0.9915);
- a size or a time is supported by a printed value with a unit of the same kind,
  converted to the claim's unit (4578 s supports 76 minutes; for GB/MB/kB both 1000- and
  1024-based conversions are accepted), or by a printed value without a unit that has
  decimals (39.81 in a column of GB supports 40 GB); a bare printed integer does not
  (a shape's 16 is no evidence of "16 GB");
- a scaled count ("1.2 million") by a printed 1,199,882 (divided by the scale);
- a speed-up ("1,070x") by the number printed (with or without an x).

**Or it is cited** in ``tests/claims/allowlist/<page>.yml``: a list of
``{number: "0.9915", source: "..."}`` entries; ``number`` is written as in the text
(units included: ``"99.1%"``, ``"40 GB"``, ``"1,070x"``); ``source`` is a quote of the
source article, a paper, a library's documentation (with its URL), or ``defined in the
text`` for a constant the text itself sets (a batch size of 128). An optional ``context``
restricts the entry to paragraphs that contain that text. A cited number passes even when
a cell also prints it (the source's 0.9915 printed beside our own result). An entry that
matches no number of the page's prose is reported, so the lists cannot rot.

**Qualitative claims** (``QUALITATIVE`` below: "an order of magnitude", "nearly the same",
"as fast as", "much faster", "slightly", ...) must sit next to a number that backs them:
the same paragraph (or list item) states a number that passes the check, or the
paragraph comes right after a code cell whose output prints numbers, or it ends with a
colon and the code cell right after it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST_DIR = ROOT / "tests" / "claims" / "allowlist"
TIES_DIR = ROOT / "tests" / "claims" / "ties"

# Qualitative comparisons that a printed number must back (case-insensitive regexes).
QUALITATIVE = [
    r"orders? of magnitude",
    r"(?:nearly|almost|about|roughly|essentially|practically|virtually) the same",
    r"as (?:fast|slow|quickly|good|accurate|cheap|expensive|small|large)(?:\s+[\w'’-]+){0,5}?\s+as",
    r"(?:well|good|accurate|fast) enough",
    r"(?:much|far|many times|several times|a lot|considerably|significantly) "
    r"(?:faster|slower|better|worse|larger|smaller|bigger|higher|lower|more|less|fewer|cheaper)",
    r"slightly",
    r"several times",
    r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"a hundred|a thousand|a million|hundreds of|thousands of) times",
    r"(?:a|one) (?:tenth|hundredth|thousandth|millionth)",
    r"(?:about|around|roughly|nearly|almost|under|over|less than|more than|within|in) "
    r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|several|half an?) "
    r"(?:seconds?|minutes?|hours?|days?|weeks?)",  # an estimated time in words: "about a minute on a GPU"
    r"twice (?:as|the)",
    r"half as",
    r"less than half",
    r"faster than",
    r"slower than",
    r"negligibl[ey]",
    r"significantly",
    r"considerably",
    r"substantially",
    r"dramatically",
    r"drastically",
    r"stark",
    r"(?:almost|nearly) all",
    r"vast majority",
]
QUALITATIVE_RE = re.compile(r"\b(?:" + "|".join(QUALITATIVE) + r")\b", re.IGNORECASE)

VERSION_PREFIX = re.compile(
    r"(?:TensorFlow|tf\.keras|Keras|Python|NumPy|SciPy|Matplotlib|Sphinx|jupyter-book|Jupyter Book|"
    r"MyST|CUDA|Debian|Ubuntu|version|versions|release|v)\s*$", re.IGNORECASE)
REFERENCE_PREFIX = re.compile(r"(?:section|sections|equation|equations|eq\.|figure|fig\.|table|step)\s*$",
                              re.IGNORECASE)

SIZE_UNITS = {"b": 1, "byte": 1, "bytes": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
              "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
TIME_UNITS = {"ms": Decimal("0.001"), "s": 1, "sec": 1, "second": 1, "seconds": 1,
              "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600}
SCALES = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9}

_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_UNIT = (r"(?:\s?(?P<pct>%)|\s(?P<pct_word>percent)\b"
         r"|\s?(?P<x>[x×])(?![\w×])"
         r"|\s?(?P<size>[KMGT]i?B|kB|bytes?)\b"
         r"|\s?(?P<time>ms|s|sec|seconds?|min|minutes?|h|hours?)\b"
         r"|\s(?P<scale>thousand|million|billion)\b)?")
CLAIM_RE = re.compile(r"(?<![\w.,])" + _NUMBER + _UNIT)
RANGE_JOIN = re.compile(r"^\s*(?:to|–|—|-|and|or)\s*$")

PRINTED_RE = re.compile(
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?:\s?(?P<pct>%)|\s?(?P<unit>[KMGT]i?B|kB|bytes?|ms|s|sec|seconds?|min|minutes?|h|hours?)\b)?")


@dataclass(frozen=True)
class Claim:
    """A number stated in prose: its text, value, decimals and kind."""

    text: str          # as written, e.g. "1,070x", "99.1%"
    value: Decimal     # the number, without its unit
    decimals: int      # decimals as written
    kind: str          # "decimal", "count", "percent", "speedup", "size", "time", "scale"
    unit: str = ""     # normalised unit: "gb", "min", "million", ...
    start: int = 0
    end: int = 0

    @property
    def canonical(self) -> str:
        """The form an allowlist entry is matched by: no thousands separators, unit normalised."""
        number = self.text_number
        suffix = {"percent": "%", "speedup": "x", "decimal": "", "count": ""}.get(self.kind, " " + self.unit)
        return number + suffix

    @property
    def text_number(self) -> str:
        return format(self.value, "f")


@dataclass(frozen=True)
class Printed:
    """A number printed by a cell: value (absolute), decimals printed, and unit if any."""

    value: Decimal
    decimals: int
    percent: bool = False
    unit: str = ""


@dataclass
class Problem:
    """One failure of the check, with where it is and what to do."""

    kind: str          # "number", "qualitative" or "unused"
    page: str
    line: int
    sentence: str
    number: str
    message: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.number!r}: {self.message}\n    sentence: {self.sentence}"


@dataclass
class Block:
    """A prose paragraph (or list item), or a code cell with its outputs."""

    kind: str                       # "prose" or "code"
    text: str = ""                  # prose: the original text
    clean: str = ""                 # prose: same length, non-prose blanked
    outputs: list = field(default_factory=list)  # code: printed numbers
    source: str = ""                # code: the cell's source


# ---------------------------------------------------------------- prose extraction

def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


INLINE_BLANKS = [
    re.compile(r"<!--.*?-->", re.DOTALL),
    re.compile(r"\$\$.*?\$\$(?:\s*\([\w:.-]+\))?", re.DOTALL),
    re.compile(r"(?<![\\$])\$(?!\s)[^$]+?(?<![\s\\])\$(?!\d)", re.DOTALL),
    re.compile(r"(?:\{[\w:-]+\})?(`+).+?\1", re.DOTALL),
    re.compile(r"\]\([^)]*\)"),             # link targets
    re.compile(r"<https?://[^>]*>"),
    re.compile(r"https?://\S+"),
    re.compile(r"</?[A-Za-z][^>]*>"),      # HTML tags
    re.compile(r"\[\^[\w-]+\]"),           # footnote references
    re.compile(r"^\s*\([\w:.-]+\)=\s*$", re.MULTILINE),  # label targets
]


def clean_prose(text: str) -> str:
    """Return ``text`` with everything that is not prose replaced by spaces (same length)."""
    for pattern in INLINE_BLANKS:
        text = pattern.sub(_blank, text)
    return text


# MyST's blocks as the book enables them (_config.yml: colon_fence, dollarmath, amsmath, and
# myst-parser's targets and comments). Not deflist: a glossary entry, its term and its
# definition, stays one paragraph.
MYST = (MarkdownIt("commonmark").enable("table").use(colon_fence_plugin).use(dollarmath_plugin)
        .use(amsmath_plugin).use(myst_block_plugin))
_PROSE_BLOCKS = {"paragraph_open", "heading_open", "table_open"}
_FENCES = {"fence", "colon_fence"}
_ARGUMENT_NOT_PROSE = {"solution", "solution-start", "solution-end", "figure", "image", "include",
                       "glue:figure", "toctree", "tableofcontents", "bibliography"}
_VERBATIM = {"code-cell", "code", "code-block", "sourcecode", "math", "raw", "literalinclude",
             "nb-exec-table", "mermaid", "csv-table", "glue", "glue:figure"}


def directive_name(info: str) -> str | None:
    """The directive a fence opens ('{exercise} A title' -> 'exercise'); None for code."""
    match = re.match(r"\{([\w:-]+)\}", info.strip())
    return match.group(1) if match else None


def _option_lines(lines: list[str]) -> int:
    """How many of a directive's first lines are options: a --- block, or :name: lines."""
    if lines and lines[0].strip() == "---":
        return next((i + 1 for i in range(1, len(lines)) if lines[i].strip() == "---"), len(lines))
    count = 0
    while count < len(lines) and re.match(r"^\s*:[\w-]+:", lines[count]):
        count += 1
    return count


def myst_blocks(markdown: str, first_line: int = 0):
    """The block tokens of a MyST text, each with the line of ``markdown`` its ``map`` counts
    from. A directive that holds prose (not code, math, ...) is followed by the tokens of its
    body, options left out, parsed in turn (markdown-it keeps a fence's body as raw text)."""
    for token in MYST.parse(markdown):
        yield token, first_line
        name = directive_name(token.info) if token.type in _FENCES else None
        if name and name not in _VERBATIM:
            body = token.content.splitlines()
            options = _option_lines(body)
            yield from myst_blocks("\n".join(body[options:]), first_line + token.map[0] + 1 + options)


def markdown_paragraphs(markdown: str) -> list[str]:
    """Split one markdown cell into prose paragraphs, headings, tables and list items, each as
    its lines in ``markdown`` (line breaks kept); directive titles are paragraphs of their own.

    >>> markdown_paragraphs("# Pooling\\n\\n```{note} A title\\n:class: tip\\nBody.\\n```\\n\\n```python\\nx = 1\\n```")
    ['# Pooling', 'A title', 'Body.']
    """
    lines, paragraphs = markdown.splitlines(), []
    for token, first in myst_blocks(markdown):
        if token.type in _PROSE_BLOCKS:
            paragraphs.append("\n".join(lines[first + token.map[0]:first + token.map[1]]))
        elif token.type in _FENCES and (name := directive_name(token.info)) and name not in _VERBATIM:
            title = token.info.strip()[len(name) + 2:].strip()
            if title and name not in _ARGUMENT_NOT_PROSE:  # a label or a path is no title
                paragraphs.append(title)
    return paragraphs


def _sentence_at(text: str, clean: str, position: int) -> str:
    """The sentence of ``text`` around ``position``, with its line breaks collapsed."""
    start = 0
    for match in re.finditer(r"[.!?:;][)\"”]?(?=\s+[A-Z(\-*])|\n(?=\s*(?:[-*+]\s|\|))", clean):
        if match.end() <= position:
            start = match.end()
        else:
            end = match.end()
            break
    else:
        end = len(text)
    return " ".join(text[start:end].split())


# ---------------------------------------------------------------- numbers

def find_claims(clean: str) -> list[Claim]:
    """Every checkable number in a cleaned prose text (see the module docstring)."""
    found = []
    for match in CLAIM_RE.finditer(clean):
        num = match.group("num")
        after = clean[match.end():]
        before = clean[:match.start()]
        if re.match(r"\.\d", clean[match.end("num"):]):
            continue                       # x.y.z version
        if match.group("x") and re.match(r"\s*\d", after):
            continue                       # a dimension: 3x3, 28 x 28
        if not match.group("x") and re.match(r"\s?[x×]\s?\d", clean[match.end("num"):]):
            continue                       # the left side of a dimension
        if re.match(r"[A-Za-z_]", after) and not any(match.group(g) for g in ("x", "size", "time")):
            continue                       # glued to a word: 3D, 2nd
        value = Decimal(num.replace(",", ""))
        decimals = len(num.split(".")[1]) if "." in num else 0
        if match.group("pct") or match.group("pct_word"):
            kind, unit = "percent", "%"
        elif match.group("x"):
            kind, unit = "speedup", "x"
        elif match.group("size"):
            kind, unit = "size", _size_unit(match.group("size"))
        elif match.group("time"):
            kind, unit = "time", _time_unit(match.group("time"))
        elif match.group("scale"):
            kind, unit = "scale", match.group("scale").lower()
        else:
            kind, unit = ("decimal" if decimals else "count"), ""
            if decimals and VERSION_PREFIX.search(before):
                continue
            if REFERENCE_PREFIX.search(before):
                continue
        found.append(Claim(match.group(0).strip(), value, decimals, kind, unit, match.start(), match.end()))
    found = _spread_range_units(found, clean)
    return [c for c in found if _checkable(c)]


def _spread_range_units(claims: list[Claim], clean: str) -> list[Claim]:
    """'16 to 26 minutes': the unit of a range's right end applies to its left end."""
    out = list(claims)
    for i in range(len(out) - 2, -1, -1):
        left, right = out[i], out[i + 1]
        if left.kind in ("count", "decimal") and right.kind not in ("count", "decimal") \
                and RANGE_JOIN.match(clean[left.end:right.start]):
            out[i] = Claim(left.text, left.value, left.decimals, right.kind, right.unit, left.start, left.end)
    return out


def _checkable(claim: Claim) -> bool:
    if claim.kind == "count":
        return claim.value >= 100 and not (1900 <= claim.value <= 2099 and "," not in claim.text)
    return True


def _size_unit(text: str) -> str:
    return text.lower().rstrip("s") if text.lower().startswith("byte") else text.lower()


def _time_unit(text: str) -> str:
    text = text.lower()
    return {"sec": "s", "second": "s", "seconds": "s", "minute": "min", "minutes": "min",
            "hour": "h", "hours": "h"}.get(text, text)


def printed_numbers(text: str) -> list[Printed]:
    """Every number in an output text, with its printed precision and unit."""
    numbers = []
    for match in PRINTED_RE.finditer(text):
        try:
            value = abs(Decimal(match.group("num").replace(",", "")))
        except InvalidOperation:
            continue
        exponent = value.as_tuple().exponent
        unit = match.group("unit") or ""
        if unit.lower() in SIZE_UNITS or unit.lower().startswith("byte"):
            unit = _size_unit(unit)
        elif unit:
            unit = _time_unit(unit)
        numbers.append(Printed(value, max(0, -exponent) if isinstance(exponent, int) else 0,
                               bool(match.group("pct")), unit))
    return numbers


ROUNDINGS = (ROUND_HALF_UP, ROUND_HALF_EVEN)


def _rounds_to_any(value: Decimal, decimals_printed: int, claim: Claim, roundings=ROUNDINGS) -> bool:
    """Does a printed value, known to ``decimals_printed`` decimals, round to the claim?
    (Half up or half even; a tie is held to half up alone, see :func:`_tie_problem`.)"""
    if decimals_printed < claim.decimals:
        return False
    quantum = Decimal(1).scaleb(-claim.decimals)
    return any(value.quantize(quantum, rounding=r) == claim.value for r in roundings)


def supports(printed: Printed, claim: Claim, roundings=ROUNDINGS) -> bool:
    """Whether one printed number supports one claim (the equivalences of the docstring)."""
    v, d = printed.value, printed.decimals

    def _rounds_to(value, decimals_printed, claim):
        return _rounds_to_any(value, decimals_printed, claim, roundings)

    if claim.kind == "percent":
        return _rounds_to(v, d, claim) or (not printed.percent and _rounds_to(v * 100, d - 2, claim))
    if claim.kind == "decimal":
        return _rounds_to(v, d, claim) or (printed.percent and _rounds_to(v / 100, d + 2, claim))
    if claim.kind == "scale":
        factor = SCALES[claim.unit]
        digits = len(str(factor)) - 1
        return _rounds_to(v, d, claim) or _rounds_to(v / factor, d + digits, claim)
    if claim.kind in ("size", "time") and printed.unit and printed.unit != claim.unit:
        table = SIZE_UNITS if claim.kind == "size" else TIME_UNITS
        if printed.unit not in table:
            return False
        factors = [Decimal(str(table[printed.unit])) / Decimal(str(table[claim.unit]))]
        if claim.kind == "size" and printed.unit in ("kb", "mb", "gb", "tb", "b", "byte") \
                and claim.unit in ("kb", "mb", "gb", "tb"):
            binary = {"kb": "kib", "mb": "mib", "gb": "gib", "tb": "tib"}
            factors.append(Decimal(str(table[printed.unit])) / Decimal(str(table[binary[claim.unit]])))
        for factor in factors:
            # precision of the converted value: one printed unit, expressed in the claim's unit
            step = Decimal(1).scaleb(-d) * factor
            if step <= Decimal(1).scaleb(-claim.decimals) and _rounds_to(v * factor, 99, claim):
                return True
        return False
    if claim.kind in ("size", "time") and not printed.unit and d == 0:
        return False  # a bare printed integer (a shape, a count) is no evidence of "16 GB"
    return _rounds_to(v, d, claim)


# ---------------------------------------------------------------- pages

def paired_notebook(md_path: Path) -> Path | None:
    ipynb = md_path.with_suffix(".ipynb")
    return ipynb if ipynb.exists() else None


def output_texts(cell: dict) -> list[str]:
    """The text of every output of one notebook code cell."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append("".join(output.get("text", "")))
        for mime in ("text/plain", "text/markdown", "text/latex", "text/html"):
            data = output.get("data", {}).get(mime)
            if data is not None:
                data = "".join(data)
                if mime == "text/html":   # what a reader sees: not the code and data of scripts and styles
                    data = re.sub(r"<(script|style)\b[^>]*>.*?</\1\s*>", " ", data, flags=re.S | re.I)
                    data = re.sub(r"<[^>]+>", " ", data).replace("&nbsp;", " ")
                texts.append(data)
    return texts


def page_blocks(md_path: Path, ipynb_path: Path | None = None) -> list[Block]:
    """The page as a sequence of prose paragraphs and code cells (with their printed numbers).

    Markdown cells come from the .md (the source of truth), read with jupytext; the n-th
    code cell's outputs come from the paired notebook's next code cell with the same source
    (a cell edited since the notebook was last executed has no outputs yet).
    """
    import jupytext

    notebook = jupytext.read(md_path)
    outputs = []
    if ipynb_path is not None:
        stored = json.loads(Path(ipynb_path).read_text())
        outputs = [c for c in stored["cells"] if c["cell_type"] == "code"]
    blocks, n_stored = [], 0
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for paragraph in markdown_paragraphs(cell.source):
                blocks.append(Block("prose", paragraph, clean_prose(paragraph)))
        elif cell.cell_type == "code":
            # the next stored cell with the same source; a cell edited since the last run has none
            texts = []
            for n in range(n_stored, len(outputs)):
                if "".join(outputs[n]["source"]).strip() == cell.source.strip():
                    texts, n_stored = output_texts(outputs[n]), n + 1
                    break
            blocks.append(Block("code", outputs=[p for t in texts for p in printed_numbers(t)], source=cell.source))
    return blocks


def load_allowlist(path: Path) -> list[dict]:
    """Read and validate an allowlist file; a missing file is an empty list."""
    import yaml

    if not Path(path).exists():
        return []
    entries = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of {{number, source}} entries, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not str(entry.get("number", "")).strip() \
                or not str(entry.get("source", "")).strip():
            raise ValueError(f"{path}: entry {i + 1} must have a non-empty 'number' and 'source', got {entry!r}")
        claims = find_claims(str(entry["number"]))
        if len(claims) != 1:
            raise ValueError(f"{path}: entry {i + 1}: number {entry['number']!r} is not one checkable number "
                             f"(found {[c.text for c in claims]})")
        entry["canonical"] = claims[0].canonical
    return entries


def load_ties(path: Path) -> list[dict]:
    """Read and validate a ties file (a missing file is an empty list): each entry ties one
    number of the prose to one value printed by one named cell."""
    import yaml

    if not Path(path).exists():
        return []
    entries = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of {{number, cell, printed}} entries, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(str(entry.get(k, "")).strip() for k in ("number", "cell", "printed")):
            raise ValueError(f"{path}: entry {i + 1} must have a non-empty 'number', 'cell' and 'printed', "
                             f"got {entry!r}")
        claims, printed = find_claims(str(entry["number"])), printed_numbers(str(entry["printed"]))
        if len(claims) != 1 or len(printed) != 1:
            raise ValueError(f"{path}: entry {i + 1}: 'number' and 'printed' must each be one number, "
                             f"got {entry['number']!r} and {entry['printed']!r}")
        entry["canonical"], entry["value"] = claims[0].canonical, printed[0]
    return entries


def _tie_problem(entry: dict, blocks: list[Block], claim: Claim) -> str | None:
    """Why a tie does not hold (None when it does): its cell must be one code cell of the
    page, print the tied value, and that value must round to the claim."""
    cells = [b for b in blocks if b.kind == "code" and entry["cell"] in b.source]
    if len(cells) != 1:
        return (f"its tie names cell {entry['cell']!r}, which matches {len(cells)} code cells of the page "
                f"(it must name exactly one)")
    if entry["value"] not in cells[0].outputs:
        return f"its tie's cell {entry['cell']!r} no longer prints {entry['printed']}"
    # One rounding only: with both, a printed 88.5 would support 88% and 89% alike.
    if not supports(entry["value"], claim, roundings=(ROUND_HALF_UP,)):
        return f"the value its tie names, {entry['printed']}, does not round (half up) to it"
    return None


def claim_status(claim: Claim, block: Block, blocks: list[Block], entries: list[dict],
                 tie_entries: list[dict]) -> tuple[list[int], list[int], str | None]:
    """How one claim of one paragraph is backed: the citations and the ties that name it (by
    index), and why it fails (None when a citation, or its first tie, holds)."""
    hits = [i for i, e in enumerate(entries) if e["canonical"] == claim.canonical
            and _in_context(e, block.text, claim)]
    tied = sorted((i for i, e in enumerate(tie_entries) if e["canonical"] == claim.canonical
                   and _in_context(e, block.text, claim)), key=lambda i: not tie_entries[i].get("context"))
    if hits:
        return hits, tied, None
    if tied:
        return hits, tied, _tie_problem(tie_entries[tied[0]], blocks, claim)
    return hits, tied, "untied"


def _in_context(entry: dict, text: str, claim: Claim | None = None) -> bool:
    """Whether an entry's context holds in a paragraph. A context that contains the number
    itself ("by 1.6x") must hold *at* the claim, so two numbers of one paragraph stay apart."""
    context = entry.get("context")
    if not context:
        return True
    if claim is None or claim.text not in context:
        return context in " ".join(text.split())
    pattern = r"\s+".join(map(re.escape, context.split()))
    return any(m.start() <= claim.start < m.end() for m in re.finditer(pattern, text))


def _line_of(source: str, paragraph: str, offset: int) -> int:
    position = source.find(paragraph)
    if position < 0:
        return 0
    return source.count("\n", 0, position + offset) + 1


def check_page(md_path: Path, ipynb_path: Path | None = None, allowlist: Path | None = None,
               ties: Path | None = None) -> tuple[list[Problem], list[Problem]]:
    """Check one page. Returns (problems, unused allowlist and tie entries).

    Parameters
    ----------
    md_path : the page's MyST source.
    ipynb_path : its paired notebook (default: the .ipynb beside it, if any).
    allowlist : its citations (default: ``tests/claims/allowlist/<stem>.yml``).
    ties : its ties to printed values (default: ``tests/claims/ties/<stem>.yml``).
    """
    md_path = Path(md_path)
    if ipynb_path is None:
        ipynb_path = paired_notebook(md_path)
    if allowlist is None:
        allowlist = ALLOWLIST_DIR / f"{md_path.stem}.yml"
    if ties is None:
        ties = TIES_DIR / f"{md_path.stem}.yml"
    entries, tie_entries = load_allowlist(allowlist), load_ties(ties)
    used, tie_used = [False] * len(entries), [False] * len(tie_entries)
    source = md_path.read_text()
    blocks = page_blocks(md_path, ipynb_path)
    page = md_path.name
    problems = []
    for index, block in enumerate(blocks):
        if block.kind != "prose":
            continue
        backed = False
        for claim in find_claims(block.clean):
            hits, tied, why = claim_status(claim, block, blocks, entries, tie_entries)
            for i in hits:
                used[i] = True
            for i in tied:
                tie_used[i] = True
            if why is None:
                backed = True
                continue
            if not tied:
                why = (f"it is tied to no printed value in {Path(ties).name} and {Path(allowlist).name} does not "
                       f"cite it" + _suggestion(blocks, index, claim))
            problems.append(Problem("number", page, _line_of(source, block.text, claim.start),
                                    _sentence_at(block.text, block.clean, claim.start), claim.text, why))
        for match in QUALITATIVE_RE.finditer(block.clean):
            if backed or _next_to_output(blocks, index):
                continue
            problems.append(Problem(
                "qualitative", page, _line_of(source, block.text, match.start()),
                _sentence_at(block.text, block.clean, match.start()), match.group(0),
                "qualitative claim with no number beside it: state the printed number that backs it "
                "in this paragraph, or put the paragraph right after the cell that prints it"))
    unused = [Problem("unused", page, 0, "", e["number"], f"{Path(allowlist).name} cites it but the page's prose no longer "
                      f"states it (or not in the paragraph its context names): remove the entry")
              for e, u in zip(entries, used) if not u]
    unused += [Problem("unused", page, 0, "", e["number"], f"{Path(ties).name} ties it but the page's prose no longer "
                       f"states it (or not in the paragraph its context names): remove the entry")
               for e, u in zip(tie_entries, tie_used) if not u]
    return problems, unused


def candidate_tie(blocks: list[Block], index: int, claim: Claim) -> dict | None:
    """The tie a maintainer would most likely write for a claim: the nearest code cell before
    the paragraph (else after it) that prints a value rounding to it, named by its shortest
    line that no other code cell of the page contains. None if no cell prints it."""
    order = list(range(index - 1, -1, -1)) + list(range(index + 1, len(blocks)))
    for j in order:
        block = blocks[j]
        value = next((p for p in block.outputs if supports(p, claim)), None) if block.kind == "code" else None
        if value is None:
            continue
        others = [b.source for b in blocks if b.kind == "code" and b is not block]
        names = sorted((ln.strip() for ln in block.source.splitlines() if len(ln.strip()) >= 12
                        and not any(ln.strip() in o for o in others)), key=len)
        if not names:
            continue
        number = claim.text if find_claims(claim.text) and find_claims(claim.text)[0].canonical == claim.canonical \
            else claim.canonical         # "1.8" of "1.8 and 2.4 million" is written "1.8 million"
        return {"number": number, "cell": names[0], "printed": format_printed(value)}
    return None


def format_printed(value: Printed) -> str:
    """A printed value written back as text that ``printed_numbers`` reads as the same value."""
    text = f"{value.value:.{value.decimals}f}"
    unit = {"kb": "kB", "mb": "MB", "gb": "GB", "tb": "TB", "kib": "KiB", "mib": "MiB", "gib": "GiB",
            "tib": "TiB"}.get(value.unit, value.unit)
    return text + ("%" if value.percent else "") + (f" {unit}" if unit else "")


def write_missing_ties(md_path: Path) -> list[dict]:
    """Append to the page's ties file a candidate tie (see :func:`candidate_tie`) for every
    number that is neither cited nor tied; returns what was added, for a person to review."""
    import yaml

    md_path = Path(md_path)
    ties = TIES_DIR / f"{md_path.stem}.yml"
    known = load_allowlist(ALLOWLIST_DIR / f"{md_path.stem}.yml") + load_ties(ties)
    blocks = page_blocks(md_path, paired_notebook(md_path))
    added = []
    for index, block in enumerate(blocks):
        if block.kind != "prose":
            continue
        for claim in find_claims(block.clean):
            if any(e["canonical"] == claim.canonical and _in_context(e, block.text, claim) for e in known):
                continue
            tie = candidate_tie(blocks, index, claim)
            if tie is not None:
                added.append(tie)
                known.append(dict(tie, canonical=claim.canonical))
    if added:
        header = "" if ties.exists() else (
            f"# Numbers that {md_path.stem}'s prose states, each tied to the value one of its cells prints\n"
            f"# (cell: a piece of that cell's source; printed: the value as printed). See tests/claims/README.md.\n")
        old = ties.read_text() if ties.exists() else ""
        text = yaml.safe_dump(added, allow_unicode=True, sort_keys=False, width=200)
        from course_utils.atomic_files import write_atomic
        write_atomic(ties, header + old + text)
    return added


def _suggestion(blocks: list[Block], index: int, claim: Claim) -> str:
    tie = candidate_tie(blocks, index, claim)
    if tie is None:
        return " (no cell of the page prints it: print it, cite it, or drop it)"
    return (f" (the cell containing {tie['cell']!r} prints {tie['printed']}: tie it there, or run "
            f"scripts/check_claims.py --write-ties PAGE and review what it adds)")


def _next_to_output(blocks: list[Block], index: int) -> bool:
    """Right after a code cell that prints numbers, or ending in ':' right before one."""
    before = blocks[index - 1] if index > 0 else None
    after = blocks[index + 1] if index + 1 < len(blocks) else None
    if before is not None and before.kind == "code" and before.outputs:
        return True
    text = blocks[index].text.rstrip()
    return text.endswith(":") and after is not None and after.kind == "code" and bool(after.outputs)


def pages(root: Path = ROOT) -> list[Path]:
    """Every page the check covers: chapters, the glossary, appendix pages."""
    book = Path(root) / "book"
    return sorted(book.glob("*.md")) + sorted((book / "appendix").glob("*.md"))


def main(argv: list[str]) -> int:
    """Check the pages named (default: all); ``--markdown`` prints a per-page list instead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, metavar="PAGE.md", help="pages to check (default: every page)")
    parser.add_argument("--markdown", action="store_true", help="print a per-page list of the failures")
    parser.add_argument("--write-ties", action="store_true",
                        help="append a candidate tie for every untied, uncited number, and print them for review")
    args = parser.parse_args(argv)
    if args.write_ties:
        for path in args.pages or pages():
            for tie in write_missing_ties(path.resolve()):
                print(f"{path.name}: {tie['number']} <- {tie['printed']} printed by the cell containing {tie['cell']!r}")
        return 0
    markdown = args.markdown
    paths = args.pages or pages()
    failed = 0
    for path in paths:
        problems, unused = check_page(path.resolve())
        failed += len(problems) + len(unused)
        if markdown:
            print(f"## {path.name}: " + (f"{len(problems)} claim(s), {len(unused)} stale allowlist entries\n"
                                          if problems or unused else "passes\n"))
            for p in problems + unused:
                print(f"- line {p.line}, {p.kind}: **{p.number}**: {p.sentence}")
            print()
            continue
        for problem in problems + unused:
            print(problem)
        print(f"{path}: {len(problems)} unsupported claims and qualitative claims, "
              f"{len(unused)} unused allowlist entries")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
