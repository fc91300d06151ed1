"""The mailroom's messages: one class per intent."""

from __future__ import annotations

import msgspec

__all__ = ["Describe", "Wake"]


class Wake(msgspec.Struct, frozen=True):
    """Tell the desk there may be work: new mail recorded, or an operator decided. The
    work itself is always read from the store, so a wake lost in a crash costs nothing (the
    next start reads it all)."""


class Describe(msgspec.Struct, frozen=True):
    """Ask an actor of the mailroom for its state now (the reply is its ``describe()``)."""
