"""Readiness: named checks that say whether Clara can serve, and if not, why.

Adapters register a check when they start (``discord``: "gateway not connected yet") and
the status endpoint's ``/readyz`` reports them all. Details (``register_details``) are shown
beside the verdict and never change it. A check returns None when ready, or a
short reason. One ``Readiness`` is made by ``run.py`` and handed to whoever needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Readiness", "ReadinessCheck", "ReadinessDetail"]

logger = logging.getLogger(__name__)

#: Returns None when ready, or why not.
ReadinessCheck = Callable[[], str | None]
#: Returns what an operator should know beside readiness (JSON-able), never a verdict.
ReadinessDetail = Callable[[], dict[str, Any]]


class Readiness:
    """The readiness checks of one process, by name."""

    def __init__(self) -> None:
        self._checks: dict[str, ReadinessCheck] = {}
        self._details: dict[str, ReadinessDetail] = {}

    def register(self, name: str, check: ReadinessCheck) -> None:
        """Add (or replace) the check called ``name``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"readiness check name must be a non-empty str; got {name!r}")
        if not callable(check):
            raise TypeError(f"readiness check {name!r} must be callable; got {check!r}")
        self._checks[name] = check

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)
        self._details.pop(name, None)

    def register_details(self, name: str, detail: ReadinessDetail) -> None:
        """Add (or replace) details shown beside readiness, which never change its verdict:
        what is wrong for one person (their mail account in error) but not for Clara."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"readiness detail name must be a non-empty str; got {name!r}")
        if not callable(detail):
            raise TypeError(f"readiness detail {name!r} must be callable; got {detail!r}")
        self._details[name] = detail

    def details(self) -> dict[str, dict[str, Any]]:
        """Every detail's answer (one that raises says so, in its place)."""
        answers: dict[str, dict[str, Any]] = {}
        for name, detail in list(self._details.items()):
            try:
                answers[name] = dict(detail())
            except Exception as exc:
                logger.warning("readiness detail %s raised %s: %s", name, type(exc).__name__, exc)
                answers[name] = {"error": f"the detail raised {type(exc).__name__}"}
        return answers

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
