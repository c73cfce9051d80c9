"""Path patterns for the handler's one ROUTES table: `/v2/models/{name}/versions/{version}/infer`.

A pattern is a path whose `{name}` segments match any one non-empty segment; the matched values
(still percent-encoded, as API Gateway passes `rawPath`) become the request's `params`. Each route
also says how its errors look (`ErrorStyle`), so `/v2` answers in the Open Inference Protocol's shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from api.app.http import ErrorStyle, Request, Response

Action = Callable[[Request], Response]
_PARAMETER = re.compile(r"\{([A-Za-z_]\w*)\}")


@dataclass(frozen=True)
class Route:
    """The actions of one path pattern, by method, and the shape of its errors."""

    methods: Mapping[str, Action]
    errors: ErrorStyle = ErrorStyle.API


@cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a pattern: literal text, and one `[^/]+` group per `{name}`."""
    # split() alternates literal text and parameter names.
    parts = _PARAMETER.split(pattern)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(regex + r"\Z")


def parameters(pattern: str) -> list[str]:
    """The parameter names of a pattern, in order."""
    return _PARAMETER.findall(pattern)


def resolve(routes: Mapping[str, Route], path: str) -> tuple[Route, dict[str, str]] | None:
    """The route whose pattern matches `path` (literal patterns first), and its parameters."""
    exact = routes.get(path)
    if exact is not None and "{" not in path:  # a literal pattern: the one match, found without regexes
        return exact, {}
    for pattern in sorted(routes, key=lambda p: bool(parameters(p))):
        found = compile_pattern(pattern).match(path)
        if found:
            return routes[pattern], found.groupdict()
    return None


def error_style(routes: Mapping[str, Route], path: str) -> ErrorStyle:
    """How an error on `path` looks: its route's style or, for a path no route matches, the style of
    the routes under the same first segment (so `/v2/anything` answers as the protocol does)."""
    found = resolve(routes, path)
    if found is not None:
        return found[0].errors
    first = path.strip("/").split("/", 1)[0]
    for pattern, route in routes.items():
        if pattern.strip("/").split("/", 1)[0] == first:
            return route.errors
    return ErrorStyle.API
