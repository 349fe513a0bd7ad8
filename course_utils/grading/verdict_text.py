"""A verdict's message read back into its parts, with the hidden cases' expected values removed.

The grader keeps one message per exercise (``grades-feedback.csv``), written by
:func:`course_utils.checks.run_checker` and :mod:`course_utils.grading.submission` in the
notebook's language. The feedback handed to a student and the class report need its
parts: the kind of verdict, the first failing case, what went wrong and the hint. They are
read back with the message templates themselves, in the language the message was written
in (each template, translated by the catalogue, becomes a pattern).

What went wrong is shown only when it matches a template known to carry no secret, with
the expected value blanked: the grader draws its cases from a fresh seed, and what the
reference returned on them is not the student's to see. Anything else (a future checker's
own wording) is replaced by a plain "the answer is not the expected one".
"""

from __future__ import annotations

import dataclasses
import functools
import re

from course_utils.i18n import N_, translations

HIDDEN = "…"    # stands where an expected value was

# The message templates, as written in course_utils.checks and course_utils.grading.submission.
PASSED = "Passed: {exercise}, all {n} cases."
NOT_YET_CASE = "Not yet: {exercise}, case {number} of {total} ({description}): {problem}"
WITH_HINT = "{problem}. Hint: {hint}"
NO_CREDIT = ("No credit: {why}; the exercise asks for your own implementation. "
             "(The checker said: {message})")
# Verdicts that say everything in one line and quote nothing the reference computed.
WHOLE = ("Not yet: no function named {name}", "Not yet: {name} is an object of type {kind}, not a function",
         "Not yet: {exercise}: expected a function, got {type}. Pass the function itself, without ().",
         "Not graded: the checker failed ({error})", "Not graded: the notebook could not be read",
         "Not graded ({status})")
# What went wrong on a case: these quote no expected value ...
SAFE_PROBLEMS = ("got None: did the function forget to `return` its result?",
                 "the result contains NaN at {index}", "no answer within {limit:g} s (an endless loop?)",
                 "the function raised {type}: {error}")
# ... and these do, in the field ``expected``, which is blanked.
REDACTED_PROBLEMS = ("expected {expected}, got {got}", "expected the integer {expected}, got {got}",
                     "expected {expected}, got something that is not numeric: {type}",
                     "expected an array of shape {expected}, got shape {got}",
                     "{count} of {size} values differ; first at index {index}: expected {expected:.6g}, "
                     "got {got:.6g}")
UNKNOWN_PROBLEM = N_("the answer is not the expected one")

FIELD = re.compile(r"\{(\w+)(?:[:!][^{}]*)?\}")


@dataclasses.dataclass
class VerdictParts:
    """A verdict read back: ``kind`` is "passed", "not yet", "no credit" or "not graded"; a
    message that matches no template keeps only its kind (nothing of it is shown)."""

    kind: str
    summary: str = ""           # the whole message, when it is one line with no case (safe to show)
    case_number: int | None = None
    case_total: int | None = None
    case_description: str = ""
    problem: str = ""           # what went wrong, expected values blanked
    hint: str = ""              # the hint as shown (translated)
    hint_id: str = ""           # the hint's English text (the catalogue's id): the same in every language
    why: str = ""               # why no credit


@functools.lru_cache(maxsize=None)
def _pattern(template: str, lang: str) -> re.Pattern:
    """``template`` in ``lang`` as an anchored pattern: each field a lazy named group."""
    text = translations(lang).gettext(template)
    parts, end = [], 0
    for field in FIELD.finditer(text):
        lazy = "" if field.group(1) == "expected" else "?"   # an expected value: blank too much, never too little
        parts += [re.escape(text[end:field.start()]), f"(?P<{field.group(1)}>.*{lazy})"]
        end = field.end()
    return re.compile("^" + "".join(parts) + re.escape(text[end:]) + "$", re.S)


@functools.lru_cache(maxsize=None)
def known_hints(lang: str) -> tuple[tuple[str, str], ...]:
    """(shown, id) of every message in the catalogue, longest first: a hint is one of them."""
    catalogue = getattr(translations("ja"), "_catalog", {})
    ids = [key for key in catalogue if isinstance(key, str) and key]
    pairs = {(translations(lang).gettext(key), key) for key in ids}
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def _split_hint(problem: str, lang: str) -> tuple[str, str, str]:
    """(problem, hint shown, hint id): the hint is taken only when it is a known one."""
    separator = translations(lang).gettext(WITH_HINT).split("{problem}")[1].split("{hint}")[0]
    for shown, key in known_hints(lang):
        if problem.endswith(separator + shown):
            return problem[:-len(separator + shown)], shown, key
    return problem, "", ""


def redact_problem(problem: str, lang: str) -> str:
    """What went wrong on a case, safe to show the student (see the module's docstring)."""
    for template in SAFE_PROBLEMS:
        if _pattern(template, lang).match(problem):
            return problem
    for template in REDACTED_PROBLEMS:
        found = _pattern(template, lang).match(problem)
        if found:
            start, end = found.span("expected")
            return problem[:start] + HIDDEN + problem[end:]
    return translations(lang).gettext(UNKNOWN_PROBLEM)


def parse_verdict(message: str, lang: str) -> VerdictParts:
    """Read a verdict's message (written in ``lang``) back into its parts."""
    if _pattern(PASSED, lang).match(message):
        return VerdictParts("passed", summary=message)
    found = _pattern(NO_CREDIT, lang).match(message)
    if found:
        inner = parse_verdict(found.group("message"), lang)
        return dataclasses.replace(inner, kind="no credit", why=found.group("why"), summary="")
    found = _pattern(NOT_YET_CASE, lang).match(message)
    if found:
        problem, hint, hint_id = _split_hint(found.group("problem"), lang)
        return VerdictParts("not yet", case_number=int(found.group("number")), case_total=int(found.group("total")),
                            case_description=found.group("description"), problem=redact_problem(problem, lang),
                            hint=hint, hint_id=hint_id)
    for template in WHOLE:
        if _pattern(template, lang).match(message):
            kind = "not graded" if template.startswith("Not graded") else "not yet"
            return VerdictParts(kind, summary=message)
    not_graded = translations(lang).gettext("Not graded ({status})").split("(")[0].strip()
    return VerdictParts("not graded" if message.startswith(not_graded) else "not yet")
