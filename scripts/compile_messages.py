"""Keep the checkers' Japanese message catalogue in step with the code, and compile it.

Usage: python scripts/compile_messages.py [--check] [--drop-obsolete]

1. Extracts every message marked in course_utils with ``_("...")`` or ``N_("...")``
   (babel.messages.extract, Python's own tokenizer: a fixed string, never an f-string).
2. Updates course_utils/locale/ja/LC_MESSAGES/course_utils.po: a new message is added with
   an empty msgstr for the translator (no fuzzy guesses from similar messages); a message no
   longer in the code is reported and kept at the end as obsolete (``#~``), or removed with
   ``--drop-obsolete``. Locations name the file only, so that moving code does not touch
   the catalogue; its dates are kept, so that an unchanged catalogue is rewritten unchanged.
3. Compiles it to course_utils.mo beside it (babel.messages.mofile.write_mo), which the
   package reads at run time (course_utils.i18n). Both files are committed: Colab installs
   the package from git, where nothing compiles.

Untranslated messages are listed (the English shows until they are translated), and the
exit status is 1 while there are any, 0 otherwise. ``--check`` writes nothing and exits 1
if either file is not what this script would write. tests/test_checks_language.py checks
the same things.
"""

from __future__ import annotations

import argparse
import datetime
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import __version__  # noqa: E402
from course_utils.atomic_files import write_atomic  # noqa: E402
from course_utils.i18n import DOMAIN  # noqa: E402

PACKAGE = ROOT / "course_utils"
LOCALES = ("ja",)
KEYWORDS = {"_": None, "N_": None}          # one argument each: the message
GENERATED_BY = re.compile(rb'^"Generated-By: [^"]*"\n', re.M)


def po_path(locale: str) -> Path:
    return PACKAGE / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract(package: Path = PACKAGE) -> Catalog:
    """The template: every marked message of ``package``, with the files that use it."""
    template = Catalog(project=DOMAIN, charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            package, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("Translators:",),
            strip_comment_tags=True):
        if isinstance(message, tuple):      # not with these keywords; kept simple on purpose
            raise SystemExit(f"error: {filename}:{lineno}: plural messages are not supported")
        location = (f"{package.name}/{Path(filename).as_posix()}", lineno)
        template.add(message, locations=[location], auto_comments=comments, context=context)
    return template


HEADER = """\
# {language} messages of course_utils' exercise checkers.
# Translate the msgstr lines, keeping each {{placeholder}} of the msgid;
# python scripts/compile_messages.py adds new messages and compiles the
# .mo beside this file (commit both). tests/test_checks_language.py checks.
# Distributed under the same license as the course_utils package (MIT)."""
LANGUAGE_NAMES = {"ja": "Japanese"}


def read(path: Path, locale: str) -> Catalog:
    """The catalogue of ``locale`` as committed, or a new, empty one."""
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
    else:
        now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
        catalog = Catalog(locale=locale, domain=DOMAIN, charset="utf-8", fuzzy=False, creation_date=now,
                          revision_date=now, header_comment=HEADER.format(language=LANGUAGE_NAMES[locale]),
                          last_translator="the course book's maintainers",
                          language_team=f"{LANGUAGE_NAMES[locale]} edition of the course book")
    catalog.project, catalog.version = "course-utils", __version__
    catalog.msgid_bugs_address = "the course book's issue tracker"
    return catalog


def update(catalog: Catalog, template: Catalog) -> tuple[list[str], list[str]]:
    """Bring ``catalog`` in step with ``template``; returns (added, obsolete) message ids."""
    before = {message.id for message in catalog if message.id}
    created = catalog.creation_date
    catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
    catalog.creation_date = created
    added = sorted(message.id for message in catalog if message.id and message.id not in before)
    return added, sorted(catalog.obsolete)


def po_bytes(catalog: Catalog, drop_obsolete: bool = False) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=76, include_lineno=False, ignore_obsolete=drop_obsolete, sort_by_file=False)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    """The compiled catalogue: translated, non-fuzzy messages only (the rest show in English)."""
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def same_po(a: bytes, b: bytes) -> bool:
    """Whether two .po files are the same but for the Babel version that wrote them."""
    return GENERATED_BY.sub(b"", a) == GENERATED_BY.sub(b"", b)


def mo_messages(data: bytes) -> dict:
    """A compiled catalogue's messages, header aside: {msgid: msgstr}."""
    return {message.id: message.string for message in read_mo(io.BytesIO(data)) if message.id}


def same_mo(a: bytes, b: bytes) -> bool:
    """Whether two .mo files hold the same messages (their headers name the Babel version)."""
    return a == b or mo_messages(a) == mo_messages(b)


def untranslated(catalog: Catalog) -> list[str]:
    return [message.id for message in catalog if message.id and (not message.string or message.fuzzy)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    parser.add_argument("--drop-obsolete", action="store_true", help="remove messages no longer in the code")
    args = parser.parse_args(argv)
    template = extract()
    status = 0
    for locale in LOCALES:
        path = po_path(locale)
        catalog = read(path, locale)
        added, obsolete = update(catalog, template)
        po, mo = po_bytes(catalog, args.drop_obsolete), mo_bytes(catalog)
        relative = path.relative_to(ROOT)
        for message in added:
            print(f"{relative}: new, to translate: {message!r}")
        for message in obsolete:
            print(f"{relative}: obsolete (no longer in the code{', removed' if args.drop_obsolete else ''}): "
                  f"{message!r}")
        missing = untranslated(catalog)
        for message in missing:
            if message not in added:
                print(f"{relative}: untranslated or fuzzy: {message!r}")
        mo_path = path.with_suffix(".mo")
        stale = [p for p, data, same in ((path, po, same_po), (mo_path, mo, same_mo))
                 if not p.exists() or not same(p.read_bytes(), data)]
        if args.check:
            for p in stale:
                print(f"{p.relative_to(ROOT)} is out of date: run python scripts/compile_messages.py")
            status |= bool(stale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            for p, data in ((path, po), (mo_path, mo)):
                if p in stale:
                    write_atomic(p, data)
                    print(f"wrote {p.relative_to(ROOT)}")
        print(f"{relative}: {len(template)} messages in the code, {len(template) - len(missing)} translated")
        status |= bool(missing)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
