"""Keep the chat page on loopback: Chainlit's index.html links Google Fonts and KaTeX's CSS
from CDNs. :func:`strip_external` drops every tag that would load something from another
host; :func:`install` wraps Chainlit's page template with it at start (nothing inside the
installed package is edited). The page falls back to system fonts; LaTeX rendering is off
in ``.chainlit/config.toml``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# <link ... href="http(s)://..."> (stylesheets, preconnects, icons) and <script src="http(s)://...">
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*>\s*",
                            re.IGNORECASE | re.DOTALL)
_EXTERNAL_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*>\s*</script>\s*",
    re.IGNORECASE | re.DOTALL)
_installed = False


def strip_external(html: str) -> str:
    """The page without tags that load from absolute (other-host) URLs."""
    return _EXTERNAL_SCRIPT.sub("", _EXTERNAL_LINK.sub("", html))


def install() -> None:
    """Serve Chainlit's page without CDN links (idempotent; call before the server starts)."""
    global _installed
    if _installed:
        return
    from chainlit import server

    original: Callable[[str], str] = server.get_html_template

    def offline_template(root_path: str) -> str:
        return strip_external(original(root_path))

    server.get_html_template = offline_template
    _installed = True
