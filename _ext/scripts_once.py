"""Link each script once: a Sphinx 7.4 workaround, loaded by _config.yml (`local_extensions`).

Sphinx 7.4 links an inline script twice when an extension adds it after the builder started
(its registry keeps the file name as None, the builder as ''). sphinx-thebe does, so every page
declared `const THEBE_JS_URL` twice: a SyntaxError in the console (tests/test_site.py).
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _link_each_script_once(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: the list is the builder's own, which later handlers may still add to.
    scripts[:] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _link_each_script_once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
