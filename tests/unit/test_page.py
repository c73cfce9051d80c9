"""`GET /`, the drawing page, through the handler: one self-contained HTML document, its
Content-Security-Policy, caching headers, HEAD, and no model needed to serve it.

The browser tests (tests/slow/test_page_browser.py) show the page works; these pin the response itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api import handler
from api.runtime.model_store import ModelStore
from tests.support.api_support import LambdaContext, http_event, rest_event, serving, store_for

HTML = "text/html; charset=utf-8"


class Document(HTMLParser):
    """The parts of the page that decide what it may load and run."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.text:
            self._open = tag
            self.text[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text[self._open][-1] += data

    def meta_policy(self) -> str:
        found = [a["content"] for t, a in self.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        assert len(found) == 1
        return str(found[0])


def get(
    path: str = "/",
    *,
    method: str = "GET",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    kind: str = "http",
) -> tuple[int, dict[str, str], str]:
    event = (http_event if kind == "http" else rest_event)(method, path, content_type=None)
    event["queryStringParameters"] = query
    event["headers"] = {**(event["headers"] or {}), **(headers or {})}
    response = handler.get_number_prediction(event, LambdaContext())
    return response["statusCode"], response["headers"], response["body"]


def policy(header: str) -> dict[str, str]:
    directives = [d.strip().split(None, 1) for d in header.split(";") if d.strip()]
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture(autouse=True)
def no_model(tmp_path: Path):
    """A model store that cannot load anything: the page must not need the model."""
    store = store_for(str(tmp_path / "missing"), tmp_path)
    with serving(store):
        yield store


@pytest.mark.parametrize("kind", ["http", "rest"])
def test_the_page_is_one_html_document(no_model: ModelStore, kind: str) -> None:
    status, headers, body = get(kind=kind)
    assert status == 200 and headers["Content-Type"] == HTML
    assert body.startswith("<!doctype html>") and body.rstrip().endswith("</html>")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert no_model.loaded is None


def test_the_page_loads_nothing_from_elsewhere() -> None:
    document = Document(get()[2])
    assert len(document.text["script"]) == 1 and len(document.text["style"]) == 1
    for tag, attrs in document.tags:
        for name in ("src", "href", "action", "srcset"):
            value = attrs.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value)
    # No inline event handlers or style attributes: the policy would block them.
    assert not [(t, a) for t, a in document.tags if "style" in a or any(k.startswith("on") for k in a)]


def test_the_policy_allows_exactly_the_inline_script_and_style() -> None:
    _, headers, body = get()
    document = Document(body)
    header = policy(headers["Content-Security-Policy"])
    assert header == {
        "default-src": "'none'",
        "script-src": csp_hash(document.text["script"][0]),
        "style-src": csp_hash(document.text["style"][0]),
        "img-src": "data:",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    # The document's own policy (for a copy opened from disk) is the same but may reach any API;
    # frame-ancestors is not allowed in <meta>.
    meta = policy(document.meta_policy())
    assert meta == {**{k: v for k, v in header.items() if k != "frame-ancestors"}, "connect-src": "http: https:"}


@pytest.mark.parametrize(
    ("api", "allowed"),
    [
        ("https://abc123.execute-api.us-east-1.amazonaws.com/", "https://abc123.execute-api.us-east-1.amazonaws.com"),
        ("http://localhost:4000", "http://localhost:4000"),
        ("https://API.Example.com:443/prod/?x=1#y", "https://api.example.com"),
        ("http://example.com:80/", "http://example.com"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("http://[::1]:4000/", "http://[::1]:4000"),
        ("https://exämple.com/", "https://xn--exmple-cua.com"),
    ],
)
def test_the_api_parameter_is_allowed_to_connect(api: str, allowed: str) -> None:
    _, headers, _ = get(query={"api": api})
    assert policy(headers["Content-Security-Policy"])["connect-src"] == f"'self' {allowed}"


@pytest.mark.parametrize(
    "api",
    [
        "",
        "ftp://example.com",
        "javascript:alert(1)",
        "//example.com",
        "example.com",
        "not a url",
        "https://a.com;script-src *",
        "https://a.com 'unsafe-inline'",
        "https://a'b.com",
        "https://:80",
        "https://example.com:99999",
        "data:text/html,x",
        "https://a.com%3Bscript-src",
    ],
)
def test_a_bad_api_parameter_allows_only_this_origin(api: str) -> None:
    status, headers, _ = get(query={"api": api})
    header = policy(headers["Content-Security-Policy"])
    assert status == 200 and header["connect-src"] == "'self'"
    assert header["script-src"].startswith("'sha256-") and " " not in header["script-src"]
    assert len(header) == 8


def test_caching_revalidates_with_an_etag() -> None:
    _, headers, body = get()
    assert headers["Cache-Control"] == "no-cache"
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        status, again, empty = get(headers={"If-None-Match": condition})
        assert status == 304 and empty == "", condition
        assert again["ETag"] == etag and again["Content-Security-Policy"] == headers["Content-Security-Policy"]
    status, _, again = get(headers={"If-None-Match": '"something-else"'})
    assert status == 200 and again == body


def test_head_has_the_headers_and_no_body() -> None:
    _, get_headers, _ = get()
    status, headers, body = get(method="HEAD")
    assert status == 200 and body == "" and headers == get_headers


@pytest.mark.parametrize(("method", "status"), [("POST", 405), ("PUT", 405), ("DELETE", 405), ("OPTIONS", 204)])
def test_other_methods(method: str, status: int) -> None:
    answered, headers, body = get(method=method)
    assert answered == status
    if status == 405:
        assert headers["Allow"] == "GET, HEAD, OPTIONS" and headers["Content-Type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_the_page_behind_a_stage_prefix() -> None:
    event = http_event("GET", "/", content_type=None, stage="production")
    response = handler.get_number_prediction(event, LambdaContext())
    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == HTML


def test_an_unknown_path_names_the_page() -> None:
    status, _, body = get("/index.html")
    assert status == 404 and "/, /predict" in json.loads(body)["error"]["message"]
