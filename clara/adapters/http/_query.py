"""Query parameters of /status: validated, or a 400 that says what is wrong."""

from __future__ import annotations

from collections.abc import Iterable

from ...actors import ActorState
from ._document import StatusQuery

__all__ = ["BadQuery", "parse_status_query"]

_STATES = {state.value: state for state in ActorState}
_ALLOWED = ("path", "state", "limit")
_MAX_PATH = 1000
_MAX_LIMIT = 1_000_000


class BadQuery(ValueError):
    """A query parameter is malformed; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def parse_status_query(items: Iterable[tuple[str, str]]) -> StatusQuery:
    """Turn ``?path=&state=&limit=`` into a StatusQuery.

    ``state`` may repeat or hold a comma-separated list.

    Raises:
        BadQuery: an unknown parameter, a repeated ``path``/``limit``, or a bad value.
    """
    path: str | None = None
    limit: int | None = None
    states: set[ActorState] = set()
    seen_state = False
    for name, value in items:
        if name == "path":
            if path is not None:
                raise BadQuery("path", "path may be given once")
            path = _path(value)
        elif name == "state":
            seen_state = True
            for word in value.split(","):
                states.add(_state(word.strip()))
        elif name == "limit":
            if limit is not None:
                raise BadQuery("limit", "limit may be given once")
            limit = _limit(value)
        else:
            raise BadQuery(
                name, f"unknown query parameter {name!r}; allowed: {', '.join(_ALLOWED)}"
            )
    return StatusQuery(
        path=path or "", states=frozenset(states) if seen_state else None, limit=limit
    )


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise BadQuery("path", f"path must start with '/' (e.g. /clara/channels); got {value!r}")
    if len(value) > _MAX_PATH:
        raise BadQuery("path", f"path must be at most {_MAX_PATH} characters; got {len(value)}")
    if any(ord(char) < 32 or char.isspace() for char in value):
        raise BadQuery("path", "path must not contain spaces or control characters")
    return value.rstrip("/") or "/"


def _state(word: str) -> ActorState:
    state = _STATES.get(word.lower())
    if state is None:
        raise BadQuery("state", f"state must be one of {', '.join(_STATES)}; got {word!r}")
    return state


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise BadQuery("limit", f"limit must be an integer; got {value!r}") from None
    if not 1 <= limit <= _MAX_LIMIT:
        raise BadQuery("limit", f"limit must be from 1 to {_MAX_LIMIT:,}; got {limit}")
    return limit
