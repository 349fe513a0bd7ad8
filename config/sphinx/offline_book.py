"""Sphinx extension for the course book: one header, no duplicated scripts, readable links.

- pydata-sphinx-theme 0.17 fills ``navbar_persistent`` with a search field unless the
  theme options name it, and sphinx-book-theme 1.3 does not, so every page gets a second,
  full-width header bar with a second search field. Setting it empty removes that bar;
  the book theme's own search field in the sidebar stays.
- jupyter-book 1.0 registers sphinx-thebe's inline configuration script twice, which
  browsers report as "Identifier 'THEBE_JS_URL' has already been declared". This keeps the
  first copy of every script. (The book uses no live-code cells, so thebe never loads.)
- ``static/offline_book.css`` fixes what axe-core reports on the theme (link contrast
  inside exercise boxes, bright rich-text colours in outputs) and styles the in-page
  explorers of ``course_utils.explorers``; ``static/offline_book.js`` makes the primary
  sidebar a landmark. ``templates/`` overrides two theme components so that the search
  button's accessible name is the text it shows and the colour-mode icons are hidden
  from screen readers (axe-core: label-content-name-mismatch).
- Two editions, English (``_build/html``) and Japanese (``_build/html/ja``, built from
  ``ja/`` with ``course_edition: ja``): every page's header links to the same page in the
  other edition (``templates/language-switch.html``, with ``lang`` and ``hreflang``), and
  its head names the other edition as an alternate.
- The in-page explorers (``course_utils.explorers``) carry their shared JavaScript inline,
  so that each output works alone in Jupyter or Colab; in the book each such library is
  served once from ``_static`` (``course_utils/explorer_js``) and every inline copy in a
  page is replaced by one ``<script src>`` (``explorers.libraries_once``).
- Japanese characters render from a subset of Noto Sans JP served with the book
  (``_static/fonts/japanese.css``, written by ``scripts/japanese_font.py`` after the build),
  never as empty boxes on a machine without a Japanese font.
"""

import html
from pathlib import Path

from course_utils.explorers import LIBRARY_DIR, libraries_once

STATIC = Path(__file__).resolve().parent / "static"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _one_header(app, config):
    options = dict(config.html_theme_options or {})
    options.setdefault("navbar_persistent", [])
    options.setdefault("article_header_end", ["language-switch.html", "article-header-buttons.html"])
    config.html_theme_options = options
    config.html_static_path = [*config.html_static_path, str(STATIC), str(LIBRARY_DIR)]
    config.templates_path = [str(TEMPLATES), *config.templates_path]


EDITIONS = {"en": ("English", "ja", "日本語"), "ja": ("日本語", "en", "English")}


def _other_edition(app, pagename, templatename, context, doctree):
    """The same page in the other edition: ja/PAGE.html from an English page, ../PAGE.html
    from a Japanese one (the Japanese book is copied into the English one's ja/ folder)."""
    edition = app.config.course_edition
    _, other, label = EDITIONS[edition]
    up = "../" * pagename.count("/")
    href = up + ("ja/" if edition == "en" else "../") + pagename + ".html"
    context["course_other_edition"] = {"href": href, "lang": other, "label": label}
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{other}" href="{href}" />')


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # One copy has filename None, the other "": both are the same inline script.
        key = (getattr(script, "filename", script) or "",
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _explorer_libraries_once(app, pagename, templatename, context, doctree):
    body = context.get("body") or ""
    if "data-cnn-library=" in body:
        context["body"] = libraries_once(body, lambda name: context["pathto"]("_static/" + name, 1))


def _front_door(app, exception):
    """``index.html``, the address a reader opens first, as a page that forwards to the
    book's first page: written before sphinx-external-toc's (it writes a bare
    ``<meta>`` only when none exists), with the book's icon, so that the browser does not
    ask for ``/favicon.ico`` (a 404 in the console), a language and a link to follow."""
    index = Path(app.outdir, "index.html")
    if exception is not None or app.builder.format != "html" or app.config.root_doc == "index" or index.exists():
        return
    target, title = app.builder.get_target_uri(app.config.root_doc), html.escape(app.config.html_title or "")
    icon = f'<link rel="icon" href="_static/{Path(app.config.html_favicon).name}">\n' if app.config.html_favicon else ""
    index.write_text(f'<!DOCTYPE html>\n<html lang="{app.config.language or "en"}">\n<head>\n<meta charset="utf-8">\n'
                     f'<meta http-equiv="Refresh" content="0; url={target}">\n{icon}'
                     f"<title>{title}</title>\n</head>\n"
                     f'<body><p><a href="{target}">{title}</a></p></body>\n</html>\n',
                     encoding="utf-8")


def setup(app):
    app.add_config_value("course_edition", "en", "html")
    app.connect("config-inited", _one_header)
    app.connect("html-page-context", _other_edition)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", _explorer_libraries_once)
    app.connect("build-finished", _front_door, priority=400)   # before sphinx-external-toc's (500)
    app.add_css_file("offline_book.css")
    app.add_js_file("offline_book.js")
    app.add_css_file("fonts/japanese.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
