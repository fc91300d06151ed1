"""Parsing one environment value: each kind of setting says what it expects and what it got.

Every value first passes ``plain`` (the loader calls it): at most ``MAX_LENGTH`` characters,
no control characters and no undecodable bytes, whatever its kind, because such a value is
never what an operator meant and some (a NUL in a path, an escape sequence in a log line)
would fail far from the setting that caused them. Then its ``Parser`` reads it.

This module holds the parsers of words and numbers; addresses, secrets, the database URL,
folders and the MCP settings have modules of their own beside it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = [
    "INTEGER_CEILING",
    "MAX_LENGTH",
    "SECONDS_CEILING",
    "TIERS",
    "Parser",
    "Secret",
    "boolean",
    "choice",
    "id_list",
    "integer",
    "mask",
    "plain",
    "seconds",
    "shown",
    "text",
    "text_list",
    "tier_models",
]

#: The longest value any setting accepts: far beyond any real one, short of a pasted file.
MAX_LENGTH = 4096

#: The largest integer a setting without a bound of its own accepts (beyond it, counts and
#: sizes overflow C integers in the libraries they reach).
INTEGER_CEILING = 1_000_000_000

#: The longest duration a setting without a bound of its own accepts: a year, in seconds.
SECONDS_CEILING = 366 * 86_400.0

_INTEGER = re.compile(r"[+-]?[0-9]+")  # [0-9], not \d: only ASCII digits
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN = 60


@dataclass(frozen=True)
class Parser:
    """How one kind of setting is read.

    Attributes:
        kind: what kind of value it is (``integer``, ``seconds``, ``url``, ...); the settings
            fuzz picks the bad values to try by it, so a new setting of a known kind is fuzzed
            without anyone writing a test for it.
        read: ``read(variable name, raw value)`` returns the value or raises ``ConfigError``
            naming the variable, the form expected and the value given.
        secret: the value is never shown, in messages or in ``python -m clara config``.
    """

    kind: str
    read: Callable[[str, str], Any]
    secret: bool = False

    def __call__(self, name: str, raw: str) -> Any:
        return self.read(name, raw)


class Secret(str):
    """A secret setting: a str whose repr, str and format never show it (``'****'``).

    ``reveal()`` gives the value to the one place that needs it.
    """

    __slots__ = ()

    def reveal(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __format__(self, format_spec: str) -> str:
        return "****"


def mask(value: str) -> str:
    """How a secret value appears in messages: never its text, only its length."""
    return f"'****' (secret, {len(value)} characters)"


def shown(value: str) -> str:
    """How a value that is not secret appears in a message: its repr, on one line, cut short.

    ``repr`` escapes newlines and control characters, so a message stays one line whatever
    the value held; a long value is cut, so the message stays readable.
    """
    if len(value) <= _SHOWN:
        return repr(value)
    return f"{value[:_SHOWN]!r}... ({len(value)} characters)"


def plain(name: str, raw: str, *, secret: bool = False) -> str:
    """``raw`` without surrounding blanks, checked for what no kind of setting accepts.

    Raises:
        ConfigError: longer than ``MAX_LENGTH``, or holding a control character or bytes
            that are not text (undecodable bytes arrive as surrogates).
    """
    value = raw.strip()
    got = mask(value) if secret else shown(value)
    if len(value) > MAX_LENGTH:
        raise ConfigError(
            f"{name} is {len(value)} characters long; at most {MAX_LENGTH} are accepted"
        )
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            raise ConfigError(f"{name} must not contain control characters; got {got}")
        if category == "Cs":
            raise ConfigError(f"{name} must be text (it holds bytes that are not UTF-8); got {got}")
    return value


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _text_list(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated words; blanks ignored."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _non_ascii_hint(value: str) -> str:
    """Why a value that looks like a number is refused: Python reads ``'٨'`` as 8; we do not."""
    if any(char.isdigit() and not char.isascii() for char in value):
        return " (only the ASCII digits 0-9 are accepted)"
    return ""


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    """An integer in ASCII digits, within bounds (``INTEGER_CEILING`` when none is given)."""
    top = INTEGER_CEILING if maximum is None else maximum
    if minimum is not None and maximum is not None:
        expected = f"an integer from {minimum} to {maximum}"
    elif minimum is not None:
        expected = f"an integer of at least {minimum}"
    else:
        expected = "an integer"

    def read(name: str, raw: str) -> int:
        value = raw.strip()
        if not _INTEGER.fullmatch(value):
            raise ConfigError(
                f"{name} must be {expected}; got {shown(value)}{_non_ascii_hint(value)}"
            )
        # Compared as text first: int() of thousands of digits is slow, or refused outright.
        if len(value.lstrip("+-").lstrip("0")) > len(str(top)) or int(value) > top:
            raise ConfigError(f"{name} must be {expected}, at most {top}; got {shown(value)}")
        number = int(value)
        if minimum is not None and number < minimum:
            raise ConfigError(f"{name} must be {expected}; got {shown(value)}")
        return number

    return Parser("integer", read)


def seconds(*, allow_zero: bool = False, maximum: float = SECONDS_CEILING) -> Parser:
    """A duration in seconds: a finite decimal number in ASCII, within bounds."""
    expected = "a number of seconds, 0 or more" if allow_zero else "a positive number of seconds"

    def read(name: str, raw: str) -> float:
        value = raw.strip()
        number = float(value) if _NUMBER.fullmatch(value) else math.nan
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            raise ConfigError(
                f"{name} must be {expected}; got {shown(value)}{_non_ascii_hint(value)}"
            )
        if number > maximum:
            raise ConfigError(f"{name} must be {expected}, at most {maximum:g}; got {shown(value)}")
        return number

    return Parser("seconds", read)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(
        f"{name} must be true or false (or 1/0, yes/no, on/off); got {shown(raw.strip())}"
    )


def choice(*allowed: str, case_insensitive: bool = True) -> Parser:
    def read(name: str, raw: str) -> str:
        value = raw.strip()
        key = value.lower() if case_insensitive else value
        for option in allowed:
            if key == (option.lower() if case_insensitive else option):
                return option
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {shown(value)}")

    return Parser("choice", read)


_SNOWFLAKE = re.compile(r"[0-9]{1,20}")


def _id_list(name: str, raw: str) -> tuple[int, ...]:
    """Comma-separated Discord ids (snowflakes: unsigned 64-bit integers)."""
    values = []
    for item in _text_list(name, raw):
        if not _SNOWFLAKE.fullmatch(item) or int(item) >= 2**64:
            raise ConfigError(
                f"{name} must be comma-separated Discord ids (up to 20 ASCII digits); "
                f"got {shown(item)} in {shown(raw.strip())}"
            )
        values.append(int(item))
    return tuple(values)


TIERS = ("high", "mid", "low")


def _tier_models(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``high:MODEL,mid:MODEL,low:MODEL`` (any subset): per-tier model overrides."""
    pairs: list[tuple[str, str]] = []
    for item in _text_list(name, raw):
        tier, _, model = item.partition(":")
        tier = tier.strip().lower()
        if tier not in TIERS or not model.strip():
            raise ConfigError(
                f"{name} must be tier:model pairs, comma-separated, with tiers from "
                f"{', '.join(TIERS)} (e.g. high:gpt-4.1,low:gpt-4.1-nano); got {shown(item)}"
            )
        pairs.append((tier, model.strip()))
    return tuple(pairs)


text = Parser("text", _text)
boolean = Parser("boolean", _boolean)
text_list = Parser("list", _text_list)
id_list = Parser("ids", _id_list)
tier_models = Parser("tier_models", _tier_models)
