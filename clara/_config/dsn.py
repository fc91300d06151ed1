"""``DATABASE_URL``: read the way SQLAlchemy will read it, and never shown with its password.

A database URL may hold a password in two places (``USER:PASSWORD@`` and a ``?password=``
parameter), and an operator may paste a libpq keyword DSN (``host=db password=...``)
instead of a URL: every message and ``python -m clara config`` show it through
``masked_dsn``, which masks both places and masks a value that is not a URL whole.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from ..errors import ConfigError
from .addresses import masked_url
from .values import Parser, Secret, mask, shown

__all__ = ["dsn", "dsn_passwords", "masked_dsn"]

_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PASSWORD_PARAMETER = re.compile(r"(?i)[?&;][^=&;#]*pass[^=&;#]*=([^&;#]*)")


def masked_dsn(value: str) -> str:
    """A database URL with its passwords replaced by ``****``; anything else, ``****``."""
    scheme, separator, _ = value.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return "****"
    return masked_url(value)


def dsn_passwords(value: str) -> list[str]:
    """The passwords in a database URL, as written and decoded (for the log filter).

    A driver or a server may echo the password alone, without the URL around it.
    """
    found: list[str] = []
    _, separator, rest = value.partition("://")
    if not separator:
        return found
    userinfo, at, _ = rest.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found.extend(match.group(1) for match in _PASSWORD_PARAMETER.finditer(rest))
    decoded = [unquote(password) for password in found]
    return [password for password in dict.fromkeys(found + decoded) if password]


def _read(name: str, raw: str) -> Secret:
    value = raw.strip()
    scheme, separator, rest = value.partition("://")
    if not separator or scheme not in _SCHEMES:
        keyword_form = not separator and "=" in value
        got = mask(value) if keyword_form else shown(masked_dsn(value))
        hint = (
            " (a keyword-form DSN, host=... dbname=..., is not accepted: write it as a URL)"
            if keyword_form
            else ""
        )
        raise ConfigError(
            f"{name} must be a database URL starting with sqlite:/// or postgresql://{hint}; "
            f"got {got}"
        )
    got = shown(masked_dsn(value))
    if scheme == "sqlite":
        path = rest.split("?", 1)[0]
        if not path.startswith("/") or path.strip("/") in ("", ":memory:"):
            raise ConfigError(
                f"{name} must name a SQLite file, sqlite:///RELATIVE/PATH or "
                f"sqlite:////ABSOLUTE/PATH (an in-memory database cannot be shared between "
                f"threads); got {got}"
            )
        return Secret(value)
    host_and_port = rest.rpartition("@")[2].split("/", 1)[0].split("?", 1)[0]
    if not host_and_port.isascii():
        raise ConfigError(
            f"{name} must write its host and port in ASCII (host names in punycode, the port "
            f"in the digits 0-9); got {got}"
        )
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - only a PostgreSQL URL needs it
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        parsed = make_url(value)
    except (ArgumentError, ValueError):
        # Not the error's text: a misplaced ':' or '@' can put part of the password in it.
        raise ConfigError(
            f"{name} is not a URL SQLAlchemy can read: postgresql://USER:PASSWORD@HOST:PORT/DB, "
            f"with a port in digits and the password percent-encoded (%40 for @, %2F for /, "
            f"%3A for :); got {got}"
        ) from None
    if parsed.port is not None and not 0 < parsed.port <= 65535:
        raise ConfigError(f"{name} must have a port from 1 to 65535; got {got}")
    if not parsed.host and "host" not in parsed.query:
        raise ConfigError(f"{name} must name a host: postgresql://USER@HOST/DB; got {got}")
    return Secret(value)


dsn = Parser("database_url", _read, secret=True)
