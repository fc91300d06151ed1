"""Readiness: named checks that say whether Clara can serve, and if not, why.

Adapters register a check when they start (``discord``: "gateway not connected yet") and
the status endpoint's ``/readyz`` reports them all. A check returns None when ready, or a
short reason. One ``Readiness`` is made by ``run.py`` and handed to whoever needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["Readiness", "ReadinessCheck"]

logger = logging.getLogger(__name__)

#: Returns None when ready, or why not.
ReadinessCheck = Callable[[], str | None]


class Readiness:
    """The readiness checks of one process, by name."""

    def __init__(self) -> None:
        self._checks: dict[str, ReadinessCheck] = {}

    def register(self, name: str, check: ReadinessCheck) -> None:
        """Add (or replace) the check called ``name``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"readiness check name must be a non-empty str; got {name!r}")
        if not callable(check):
            raise TypeError(f"readiness check {name!r} must be callable; got {check!r}")
        self._checks[name] = check

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    def evaluate(self) -> dict[str, str | None]:
        """Every check's answer: None when ready, else the reason (a raising check is not ready)."""
        answers: dict[str, str | None] = {}
        for name, check in list(self._checks.items()):
            try:
                answers[name] = check()
            except Exception as exc:
                logger.warning("readiness check %s raised %s: %s", name, type(exc).__name__, exc)
                answers[name] = f"the check raised {type(exc).__name__}: {exc}"
        return answers
