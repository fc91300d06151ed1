"""Parsing one environment value: each kind of setting says what it expects and what it got."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError

__all__ = [
    "Parser",
    "Secret",
    "boolean",
    "choice",
    "dsn",
    "host",
    "id_list",
    "integer",
    "is_loopback",
    "mask",
    "masked_dsn",
    "seconds",
    "secret",
    "secret_list",
    "text",
    "text_list",
    "tier_models",
    "url",
]

#: A parser takes (variable name, raw value) and returns the value, or raises ConfigError.
Parser = Callable[[str, str], Any]


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


def is_loopback(name: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def text(name: str, raw: str) -> str:
    return raw.strip()


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(name: str, raw: str) -> int:
        expected = "an integer"
        if minimum is not None and maximum is not None:
            expected = f"an integer from {minimum} to {maximum}"
        elif minimum is not None:
            expected = f"an integer of at least {minimum}"
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be {expected}; got {raw!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError(f"{name} must be {expected}; got {raw!r}")
        return value

    parse.expected = "integer"  # type: ignore[attr-defined]
    return parse


def seconds(*, allow_zero: bool = False) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            expected = (
                "a number of seconds, 0 or more" if allow_zero else ("a positive number of seconds")
            )
            raise ConfigError(f"{name} must be {expected}; got {raw!r}")
        return value

    return parse


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (or 1/0, yes/no, on/off); got {raw!r}")


def choice(*allowed: str, case_insensitive: bool = True) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        key = value.lower() if case_insensitive else value
        for option in allowed:
            if key == (option.lower() if case_insensitive else option):
                return option
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {raw!r}")

    return parse


def text_list(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated words; blanks ignored."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def id_list(name: str, raw: str) -> tuple[int, ...]:
    """Comma-separated Discord ids (snowflakes)."""
    values = []
    for item in text_list(name, raw):
        if not item.isdigit() or len(item) > 20:
            raise ConfigError(
                f"{name} must be comma-separated Discord ids (digits); got {item!r} in {raw!r}"
            )
        values.append(int(item))
    return tuple(values)


TIERS = ("high", "mid", "low")


def tier_models(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``high:MODEL,mid:MODEL,low:MODEL`` (any subset): per-tier model overrides."""
    pairs: list[tuple[str, str]] = []
    for item in text_list(name, raw):
        tier, _, model = item.partition(":")
        tier = tier.strip().lower()
        if tier not in TIERS or not model.strip():
            raise ConfigError(
                f"{name} must be tier:model pairs, comma-separated, with tiers from "
                f"{', '.join(TIERS)} (e.g. high:gpt-4.1,low:gpt-4.1-nano); got {item!r}"
            )
        pairs.append((tier, model.strip()))
    return tuple(pairs)


def url(*schemes: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise ConfigError(
                f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}; "
                f"got {value!r}"
            )
        return value.rstrip("/")

    return parse


def host(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or any(char.isspace() or char in "/?#@" for char in value):
        raise ConfigError(f"{name} must be a host name or an IP address; got {raw!r}")
    return value


def secret(min_length: int = 1) -> Parser:
    def parse(name: str, raw: str) -> Secret:
        value = raw.strip()
        if len(value) < min_length:
            raise ConfigError(f"{name} must be at least {min_length} characters; got {mask(value)}")
        return Secret(value)

    parse.secret = True  # type: ignore[attr-defined]
    return parse


def secret_list(validate: Callable[[str, str, int], None] | None = None) -> Parser:
    """Comma-separated secrets (e.g. rotating keys, newest first)."""

    def parse(name: str, raw: str) -> tuple[Secret, ...]:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        for index, item in enumerate(items):
            if validate is not None:
                validate(name, item, index)
        return tuple(Secret(item) for item in items)

    parse.secret = True  # type: ignore[attr-defined]
    return parse


_DSN_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")


def dsn(name: str, raw: str) -> Secret:
    """A database URL (SQLAlchemy form); kept secret because it may hold a password."""
    value = raw.strip()
    scheme = value.split(":", 1)[0] if ":" in value else ""
    if scheme not in _DSN_SCHEMES:
        raise ConfigError(
            f"{name} must be a database URL starting with sqlite:/// or postgresql://; "
            f"got {masked_dsn(value)!r}"
        )
    if scheme.startswith("postgres") and not urlsplit(value).netloc:
        raise ConfigError(f"{name} must name a host: postgresql://USER@HOST/DB; got {value!r}")
    return Secret(value)


dsn.secret = True  # type: ignore[attr-defined]


def masked_dsn(value: str) -> str:
    """A database URL with its password replaced by ``****``."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "****"
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_secret(parser: Parser) -> bool:
    return bool(getattr(parser, "secret", False))


def describe(values: Sequence[str]) -> str:
    return ", ".join(values)
