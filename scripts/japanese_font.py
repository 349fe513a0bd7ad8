"""Serve Japanese with the book: Noto Sans JP cut down to the characters the built pages use.

Usage: python scripts/japanese_font.py FONTSOURCE_DIR BUILD_DIR [BUILD_DIR ...]

FONTSOURCE_DIR is the npm package @fontsource/noto-sans-jp (SIL Open Font License 1.1),
which ships the font in slices, each with its ``unicode-range``, as Google Fonts serves it.
This keeps, of the regular and the bold weight (without a bold face, browsers draw bold
Japanese by thickening the regular one, which Chromium prints as outlines, not as the
font), only the slices holding a character that appears in
some built page or script of the BUILD_DIRs, each subset (fontTools) to those characters,
and writes them with ``japanese.css`` (one ``@font-face`` per slice, its ``unicode-range``
the characters it holds) into every BUILD_DIR's ``_static/fonts/``, beside the licence. A
page's browser then downloads only the slices of the characters on that page, and Japanese
renders on a machine with no Japanese font, online or off, in the HTML and in the PDF.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

FAMILY = "Course Noto Sans JP"
WEIGHTS = (400, 700)
# Japanese and the full-width forms: the characters the theme's own fonts may lack.
JAPANESE = re.compile(r"[\u3000-\u30ff\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


# Where the theme sets text bold: emphasis, headings, table heads, definition terms, the
# sidebar's part captions. Only these characters get the bold weight, which keeps a page's
# download small (a character in bold elsewhere falls back to a thickened regular glyph).
BOLD = re.compile(r"<(strong|b|h[1-6]|th|dt)\b[^>]*>(.*?)</\1>|<p class=\"caption[^\"]*\"[^>]*>(.*?)</p>", re.S)


def used_characters(build_dirs: list[Path]) -> tuple[set[str], set[str]]:
    """The Japanese characters of the built pages and scripts, and those of them set in bold."""
    chars, bold = set(), set()
    for build in build_dirs:
        for path in build.rglob("*"):
            if path.suffix in {".html", ".js"} and "_static/fonts" not in path.as_posix():
                text = path.read_text(encoding="utf-8", errors="ignore")
                chars.update(JAPANESE.findall(text))
                if path.suffix == ".html":
                    for match in BOLD.finditer(text):
                        bold.update(JAPANESE.findall(match.group(2) or match.group(3) or ""))
    return chars, bold


def _code_points(unicode_range: str) -> set[int]:
    points = set()
    for part in unicode_range.replace("U+", "").split(","):
        low, _, high = part.strip().partition("-")
        points.update(range(int(low, 16), int(high or low, 16) + 1))
    return points


def slices(fontsource: Path, weight: int) -> list[tuple[Path, set[int]]]:
    """One weight's slices: (woff2 file, code points it covers), from its CSS."""
    css = (fontsource / f"{weight}.css").read_text(encoding="utf-8")
    found = []
    for face in re.findall(r"@font-face\s*{(.*?)}", css, re.S):
        file = re.search(r"url\(\./files/([^)]+\.woff2)\)", face)
        ranges = re.search(r"unicode-range:\s*([^;]+);", face)
        if file and ranges:
            found.append((fontsource / "files" / file.group(1), _code_points(ranges.group(1))))
    if not found:
        raise SystemExit(f"{fontsource}: no font slices found in {weight}.css")
    return found


def _range_text(points: list[int]) -> str:
    runs, start = [], None
    for n, point in enumerate(points):
        if start is None:
            start = point
        if n + 1 == len(points) or points[n + 1] != point + 1:
            runs.append(f"U+{start:X}" + (f"-{point:X}" if point != start else ""))
            start = None
    return ",".join(runs)


def subset(fontsource: Path, chars: set[str], out: Path, bold: set[str] | None = None) -> list[str]:
    """Write the subset slices into ``out`` (the bold weight: only the characters of
    ``bold``, by default all); return their @font-face rules."""
    from fontTools import subset as ft_subset

    out.mkdir(parents=True, exist_ok=True)
    wanted = {400: {ord(c) for c in chars}, 700: {ord(c) for c in (chars if bold is None else bold)}}
    rules = []
    for weight, (path, covered) in ((w, s) for w in WEIGHTS for s in slices(fontsource, w)):
        points = sorted(wanted[weight] & covered)
        if not points:
            continue
        options = ft_subset.Options()
        options.flavor = "woff2"
        options.layout_features = ["*"]      # vertical forms, kerning: as the font has them
        options.name_IDs = ["*"]             # keep the licence and the font's names
        font = ft_subset.load_font(str(path), options)
        subsetter = ft_subset.Subsetter(options)
        subsetter.populate(unicodes=points)
        subsetter.subset(font)
        name = path.stem + ".subset.woff2"
        ft_subset.save_font(font, str(out / name), options)
        rules.append("@font-face {\n"
                     f"  font-family: \"{FAMILY}\";\n  font-style: normal;\n  font-weight: {weight};\n"
                     f"  font-display: swap;\n  src: url(./{name}) format(\"woff2\");\n"
                     f"  unicode-range: {_range_text(points)};\n}}\n")
    return rules


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fontsource", type=Path, help="the npm package folder @fontsource/noto-sans-jp")
    parser.add_argument("builds", type=Path, nargs="+", help="built HTML folders (each gets _static/fonts)")
    args = parser.parse_args(argv)
    if not (args.fontsource / "400.css").is_file():
        parser.error(f"{args.fontsource}: not the npm package @fontsource/noto-sans-jp (no 400.css); "
                     "`make book` installs it")
    for build in args.builds:
        if not (build / "_static").is_dir():
            parser.error(f"{build}: not a built book (no _static folder)")
    chars, bold = used_characters(args.builds)
    first = args.builds[0] / "_static" / "fonts"
    shutil.rmtree(first, ignore_errors=True)
    rules = subset(args.fontsource, chars, first, bold)
    header = (f"/* {FAMILY}: Noto Sans JP (SIL Open Font License 1.1, LICENSE here), subset to the\n"
              f"   {len(chars)} Japanese characters of this book ({len(bold)} of them in bold) by\n"
              f"   scripts/japanese_font.py. */\n")
    (first / "japanese.css").write_text(header + "".join(rules), encoding="utf-8")
    licence = next((p for p in args.fontsource.glob("LICENSE*")), None)
    if licence:
        shutil.copy(licence, first / "LICENSE")
    for build in args.builds[1:]:
        target = build / "_static" / "fonts"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(first, target)
    size = sum(p.stat().st_size for p in first.glob("*.woff2"))
    print(f"Japanese font: {len(chars)} characters ({len(bold)} also bold) in {len(rules)} slices, "
          f"{size / 1024:.0f} kB in all, "
          f"into {', '.join(str(b) for b in args.builds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
