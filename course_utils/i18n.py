"""The language of the checkers' messages: English or Japanese, with Python's ``gettext``.

The English text is written in the code and is the message id; the Japanese translations
are in ``course_utils/locale/ja/LC_MESSAGES/course_utils.po``, compiled to the ``.mo``
beside it (both committed: Colab installs the package from git, where nothing compiles;
``python scripts/compile_messages.py`` extracts, updates and compiles them).

The language is resolved at each call of :func:`_`, first match wins:

1. an override set by :func:`using_language` in this context (the grader answers in the
   language of the notebook it grades);
2. the environment variable ``COURSE_LANGUAGE``: ``ja`` or ``en`` (any other value is ignored);
3. ``JPY_SESSION_NAME``, the notebook's path that Jupyter Server gives its kernels: a path
   with a ``ja/book/`` folder is the Japanese edition (``ja/book/01_convolution.ipynb``,
   ``student/ja/book/...``);
4. English.

>>> with using_language("ja"):
...     language()
'ja'

Messages are written ``_("Passed: {exercise}, all {n} cases.").format(exercise=..., n=...)``:
the id passed to ``_`` is a fixed string (never an f-string), so that it can be extracted
and looked up. A message defined as data, before the language is known (an exercise's name,
a hint), is marked with :func:`N_` where it is written and translated with ``_`` where it
is shown.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import os
from pathlib import PurePosixPath

DOMAIN = "course_utils"
LOCALE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")
LANGUAGES = ("en", "ja")

_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("course_utils_language", default=None)


def _known(value) -> str | None:
    """``"en"`` or ``"ja"`` for those values (any case, surrounding spaces allowed), else None."""
    value = str(value or "").strip().lower()
    return value if value in LANGUAGES else None


def _is_japanese_edition(path: str) -> bool:
    """Whether a notebook path lies in a ``ja/book/`` folder (POSIX or Windows separators)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts[:-1]   # the folders, not the file
    return any(parts[i:i + 2] == ("ja", "book") for i in range(len(parts) - 1))


def language() -> str:
    """The language of the messages now: ``"en"`` or ``"ja"`` (see the module's docstring)."""
    chosen = _override.get() or _known(os.environ.get("COURSE_LANGUAGE"))
    if chosen:
        return chosen
    return "ja" if _is_japanese_edition(os.environ.get("JPY_SESSION_NAME", "")) else "en"


@contextlib.contextmanager
def using_language(lang: str | None):
    """Messages in ``lang`` (``"en"`` or ``"ja"``) inside the ``with`` block, whatever the
    environment says; ``None`` removes an enclosing override. A context variable: other
    threads and tasks keep their own language."""
    if lang is not None and _known(lang) is None:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    token = _override.set(_known(lang))
    try:
        yield
    finally:
        _override.reset(token)


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (read once); a pass-through when there is none (English)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def _(message: str) -> str:
    """``message`` translated into the current :func:`language` (unchanged when untranslated;
    ``""`` stays ``""``, where gettext would return the catalogue's header)."""
    return translations(language()).gettext(message) if message else message


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translate it later with ``_``)."""
    return message
