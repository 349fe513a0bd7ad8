"""Sphinx extension for the course book: no duplicated scripts on any page.

jupyter-book 1.0 registers sphinx-thebe's inline configuration script twice, which
browsers report as "Identifier 'THEBE_JS_URL' has already been declared". This keeps the
first copy of every script. (The book uses no live-code cells, so thebe never loads.)
"""


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


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
