"""Small fixes to the HTML that Jupyter Book 1.x writes, so pages load without console errors.

- sphinx-thebe registers its inline configuration script once per read phase; when Sphinx reads
  the sources more than once (as Jupyter Book does) a page declares `const THEBE_JS_URL` twice
  and the browser reports a SyntaxError. Keep only the first copy of each script.
"""
from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # An inline script is registered with filename None or "" depending on the caller.
        name = getattr(script, "filename", script) or ""
        key = (str(name), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)  # after every other handler
    return {"parallel_read_safe": True, "parallel_write_safe": True}
