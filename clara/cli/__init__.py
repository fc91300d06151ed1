"""``python -m clara``: operator commands (``status``; later ``config``, ``db``, ``keys``)."""

from ._main import main

__all__ = ["main"]
