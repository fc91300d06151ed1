"""Query parameters of /status: validated, or a 400 that says what is wrong.

No parameter at all asks for the overview (``_overview.py``); ``view=tree``, or any of
``path``, ``state``, ``limit`` and ``offset``, asks for the tree as before, filtered and
paged as given.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...actors import ActorState
from ._document import OVERVIEW, TREE, StatusQuery

__all__ = ["BadQuery", "parse_status_query"]

_STATES = {state.value: state for state in ActorState}
_ALLOWED = ("view", "path", "state", "limit", "offset")
_VIEWS = (OVERVIEW, TREE)
_MAX_PATH = 1000
_MAX_LIMIT = 1_000_000
_MAX_OFFSET = 10_000_000
#: How much of a bad value an error message repeats.
_SHOWN = 60


class BadQuery(ValueError):
    """A query parameter is malformed; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def parse_status_query(items: Iterable[tuple[str, str]]) -> StatusQuery:
    """Turn ``?view=&path=&state=&limit=&offset=`` into a StatusQuery.

    ``state`` may repeat or hold a comma-separated list; the others may be given once.

    Raises:
        BadQuery: an unknown parameter, a repeated one, a bad value, or ``view=overview``
            with a parameter of the tree.
    """
    view: str | None = None
    path: str | None = None
    limit: int | None = None
    offset: int | None = None
    states: set[ActorState] = set()
    seen_state = False
    for name, value in items:
        if name == "view":
            _once(name, view)
            if value not in _VIEWS:
                raise BadQuery(name, f"view must be overview or tree; got {_shown(value)}")
            view = value
        elif name == "path":
            _once(name, path)
            path = _path(value)
        elif name == "state":
            seen_state = True
            for word in value.split(","):
                states.add(_state(word.strip()))
        elif name == "limit":
            _once(name, limit)
            limit = _number(name, value, 1, _MAX_LIMIT)
        elif name == "offset":
            _once(name, offset)
            offset = _number(name, value, 0, _MAX_OFFSET)
        else:
            raise BadQuery(
                _shown(name, quoted=False),
                f"unknown query parameter {_shown(name)}; allowed: {', '.join(_ALLOWED)}",
            )
    tree_asked = path is not None or seen_state or limit is not None or offset is not None
    if view == OVERVIEW and tree_asked:
        raise BadQuery(
            "view",
            "view=overview takes no other parameter; use view=tree with path, state, "
            "limit or offset",
        )
    return StatusQuery(
        view=view or (TREE if tree_asked else OVERVIEW),
        path=path or "",
        states=frozenset(states) if seen_state else None,
        limit=limit,
        offset=offset or 0,
    )


def _once(name: str, previous: object) -> None:
    if previous is not None:
        raise BadQuery(name, f"{name} may be given once")


def _shown(value: str, *, quoted: bool = True) -> str:
    """A client's value as an error message repeats it: cut short, quoted."""
    cut = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return repr(cut) if quoted else cut


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise BadQuery(
            "path", f"path must start with '/' (e.g. /clara/channels); got {_shown(value)}"
        )
    if len(value) > _MAX_PATH:
        raise BadQuery("path", f"path must be at most {_MAX_PATH} characters; got {len(value)}")
    if any(ord(char) < 32 or char.isspace() for char in value):
        raise BadQuery("path", "path must not contain spaces or control characters")
    return value.rstrip("/") or "/"


def _state(word: str) -> ActorState:
    state = _STATES.get(word.lower())
    if state is None:
        raise BadQuery("state", f"state must be one of {', '.join(_STATES)}; got {_shown(word)}")
    return state


def _number(name: str, value: str, lowest: int, highest: int) -> int:
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    # int() would also take "1_000", "+5" and other scripts' digits, and a long string of
    # digits costs it time: plain ASCII digits only.
    if not (digits.isascii() and digits.isdigit()):
        raise BadQuery(name, f"{name} must be an integer; got {_shown(value)}")
    if len(digits) > 12:
        raise BadQuery(
            name, f"{name} must be from {lowest} to {highest:,}; got {len(digits)} digits"
        )
    number = int(text)
    if not lowest <= number <= highest:
        raise BadQuery(name, f"{name} must be from {lowest} to {highest:,}; got {number}")
    return number
