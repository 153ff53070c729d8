"""MkDocs hooks for the documentation site (`mkdocs.yml`, `hooks:`).

Docstrings say that a scheduled argument is moved by `StrengthScheduler`
with the short reference `[`StrengthScheduler`][scheduled]`; here it
becomes a link to the guide's section that explains it, relative to the
page it appears on, before mkdocs-autorefs looks for a target of that
name (it knows only Python objects).
"""

import posixpath
import re

_REFERENCE = re.compile(
    r'<autoref[^>]*identifier="scheduled"[^>]*>(.*?)</autoref>', re.S)
_TARGET = "guides/schedules-and-strengths/"


def on_page_content(html, page, config, files):
    href = posixpath.relpath(_TARGET, page.url or ".") + "/#scheduled"
    return _REFERENCE.sub(rf'<a href="{href}">\1</a>', html)
