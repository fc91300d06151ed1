"""Secrets read from the environment: tokens and keys, never shown, only their length."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import ConfigError
from .values import Parser, Secret, mask

__all__ = ["secret", "secret_list", "token_list"]

_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def secret(min_length: int = 1) -> Parser:
    """A token or API key: at least ``min_length`` printable ASCII characters, no spaces.

    Every such secret travels in an HTTP header (``Authorization: Bearer ...``, an API key
    header), where a space, a control character or a non-ASCII one cannot go: a client
    could not send the value, so every request would fail (a status token like that locks
    everyone out) far from the setting that caused it.
    """

    def read(name: str, raw: str) -> Secret:
        value = raw.strip()
        if len(value) < min_length:
            raise ConfigError(f"{name} must be at least {min_length} characters; got {mask(value)}")
        if not _VISIBLE_ASCII.fullmatch(value):
            raise ConfigError(
                f"{name} must be printable ASCII without spaces (it is sent in an HTTP "
                f"header, where nothing else can go); got {mask(value)}"
            )
        return Secret(value)

    return Parser("token", read, secret=True)


def secret_list(validate: Callable[[str, str, int], None] | None = None) -> Parser:
    """Comma-separated secrets (e.g. rotating keys, newest first)."""

    def read(name: str, raw: str) -> tuple[Secret, ...]:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        for index, item in enumerate(items):
            if validate is not None:
                validate(name, item, index)
        return tuple(Secret(item) for item in items)

    return Parser("keys", read, secret=True)


def token_list(min_length: int = 1) -> Parser:
    """Comma-separated tokens or API keys (one per client), each as ``secret`` reads one;
    at least one. A message names which one is wrong by its place, never by its value."""
    one = secret(min_length)

    def read(name: str, raw: str) -> tuple[Secret, ...]:
        items = [item.strip() for item in raw.split(",")]
        if not any(items):
            raise ConfigError(f"{name} must hold at least one key; got none")
        found: list[Secret] = []
        for index, item in enumerate(items, 1):
            if not item:
                raise ConfigError(f"{name}: key {index} is empty (two commas, or a trailing one)")
            found.append(one.read(f"{name} (key {index})", item))
        if len({key.reveal() for key in found}) != len(found):
            raise ConfigError(f"{name} names one key twice; give each client its own")
        return tuple(found)

    return Parser("tokens", read, secret=True)
