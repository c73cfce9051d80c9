"""How errors read, for the trainer's CLI and the API alike: one line, with a hint when one helps.

Standard library only: the Lambda bundle carries it, and the trainer imports it from here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its class name when it has none), at most `limit` long."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:limit]


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `options`, or nothing when none is close."""
    hint = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""
