"""`GET /`: the drawing page, one self-contained HTML document (`page.html` beside this module).

The page's one inline `<style>` and one inline `<script>` are allowed by their SHA-256 hashes, so
its Content-Security-Policy needs no `'unsafe-inline'` and nothing else can run or load. Two
policies, which browsers both enforce:

- in the document (`<meta>`), so a saved copy opened from disk stays locked down: it may connect to
  any http(s) API, since its `?api=` can name any;
- in the response header, per request: connections only to this origin and to the origin the
  `?api=` query parameter names, which is the page's API base (the script reads the same parameter).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from api.app.http import Request, Response

PAGE_FILE = Path(__file__).with_name("page.html")
CSP_MARKER = "{csp}"
# The document's own policy; header-only directives (frame-ancestors) are ignored in <meta>.
BASE_POLICY = (
    "default-src 'none'; script-src {script}; style-src {style}; img-src data:; "
    "connect-src {connect}; base-uri 'none'; form-action 'none'"
)
HEADER_ONLY = "frame-ancestors 'none'"
# Revalidate every time (the ETag makes that a 304): a new deploy shows at once.
CACHE_CONTROL = "no-cache"
HTML_TYPE = "text/html; charset=utf-8"
# A host as the browser's URL parser leaves it: DNS labels (IDN already in punycode) or an IPv6
# literal. Anything else could smuggle CSP syntax (spaces, ';', quotes) into the header.
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]+\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Page:
    """The served document, its ETag, and the CSP hashes of its inline script and style."""

    html: str
    etag: str
    script_hash: str
    style_hash: str

    def policy(self, connect: str, *, header: bool) -> str:
        """The Content-Security-Policy allowing `connect` (connect-src), for the header or the <meta>."""
        policy = BASE_POLICY.format(script=self.script_hash, style=self.style_hash, connect=connect)
        return f"{policy}; {HEADER_ONLY}" if header else policy


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _inline(template: str, tag: str) -> str:
    """The text of the document's one inline `<tag>` element (exactly what the browser hashes)."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", template, flags=re.DOTALL)
    if len(found) != 1:
        raise RuntimeError(f"{PAGE_FILE.name} must have exactly one inline <{tag}>, has {len(found)}")
    return found[0]


@functools.cache
def page() -> Page:
    """The page, read and hashed once per process (on the first `GET /`, never at import)."""
    template = PAGE_FILE.read_text(encoding="utf-8")
    script_hash, style_hash = _csp_hash(_inline(template, "script")), _csp_hash(_inline(template, "style"))
    meta = BASE_POLICY.format(script=script_hash, style=style_hash, connect="http: https:")
    html = template.replace(CSP_MARKER, meta, 1)
    etag = '"' + hashlib.sha256(html.encode("utf-8")).hexdigest()[:32] + '"'
    return Page(html, etag, script_hash, style_hash)


def api_origin(value: str | None) -> str | None:
    """The origin (`scheme://host[:port]`) of an absolute http(s) URL, or None if it is not one."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
        host = parts.hostname or ""
        # urlsplit drops an IPv6 literal's brackets; other hosts go to punycode as browsers send them.
        host = f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if parts.scheme not in _DEFAULT_PORTS or not _HOST.fullmatch(host):
        return None
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}:{port}"
    return f"{parts.scheme}://{host}"


def drawing_page(request: Request) -> Response:
    """`GET /` and `HEAD /`: the page, with its policy for this request's `?api=`."""
    document = page()
    origin = api_origin(request.query.get("api"))
    connect = f"'self' {origin}" if origin else "'self'"
    headers = {
        "Content-Type": HTML_TYPE,
        "Content-Security-Policy": document.policy(connect, header=True),
        "Cache-Control": CACHE_CONTROL,
        "ETag": document.etag,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if _matches(request.headers.get("if-none-match", ""), document.etag):
        return Response(304, headers=headers, raw="")
    return Response(200, headers=headers, raw="" if request.method == "HEAD" else document.html)


def _matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, as RFC 9110 asks for it)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
