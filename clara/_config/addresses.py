"""Addresses: URLs and host names, checked here rather than where a connection first fails.

URLs are ASCII (percent-encoded, host names in punycode): a value a client would have to
re-encode, or would read differently from the operator, is refused. A URL's password never
appears in a message (``masked_url``).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from ..errors import ConfigError
from .values import Parser, shown

__all__ = ["host", "is_loopback", "masked_url", "url"]

_HOST = re.compile(r"[A-Za-z0-9._:%\[\]-]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_SECRET_PARAMETER = re.compile(r"(?i)([?&;][^=&;#]*(?:pass|secret|token)[^=&;#]*=)[^&;#]*")


def is_loopback(name: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def masked_url(value: str) -> str:
    """``value`` with its password (``user:PASSWORD@``, ``?password=``) replaced by ``****``.

    Not ``urlsplit``: a password may hold any character, unencoded ``/``, ``#`` or ``@``
    included, and a parser that stops at the first of those would show the rest. So
    everything between ``://`` and the last ``@`` is user information, and every query
    parameter whose name holds ``pass``, ``secret`` or ``token`` is masked. Masking too much
    is harmless here; too little is not. A value that is not ``SCHEME://...`` is returned as
    it is, unless it holds an ``@`` or a ``pass`` (then it is masked whole, like a database
    setting in keyword form, ``masked_dsn``).
    """
    scheme, separator, rest = value.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return "****" if "@" in value or "pass" in value.lower() else value
    if "@" in rest:
        userinfo, _, after = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if colon:
            rest = f"{user}:****@{after}"
    rest = _SECRET_PARAMETER.sub(r"\1****", rest)
    return f"{scheme}://{rest}"


def url(*schemes: str, loopback_only: tuple[str, ...] = ()) -> Parser:
    """A URL with one of ``schemes``; those in ``loopback_only`` only towards this machine.

    ``unix://`` URLs name a socket by its path (``unix:///run/podman.sock``); the others need
    a host, and a port, when given, in ASCII digits from 0 to 65535.
    """
    accepted = " or ".join(scheme + "://" for scheme in schemes)

    def read(name: str, raw: str) -> str:
        value = raw.strip()
        got = shown(masked_url(value))
        if not value.isascii() or any(char.isspace() for char in value):
            raise ConfigError(
                f"{name} must be a URL starting with {accepted}, in ASCII without spaces "
                f"(percent-encode other characters; host names in punycode); got {got}"
            )
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - reading it is the check: a bad port raises
        except ValueError as error:
            raise ConfigError(
                f"{name} must be a URL starting with {accepted}; got {got} ({error})"
            ) from None
        if parts.scheme not in schemes:
            raise ConfigError(f"{name} must be a URL starting with {accepted}; got {got}")
        if parts.scheme == "unix":
            if parts.netloc or not parts.path.startswith("/"):
                raise ConfigError(
                    f"{name} must name a socket by its absolute path, unix:///PATH; got {got}"
                )
        elif not parts.hostname:
            raise ConfigError(f"{name} must be a URL with a host, {accepted}HOST; got {got}")
        if parts.scheme in loopback_only and not is_loopback(parts.hostname or ""):
            others = [scheme for scheme in schemes if scheme not in loopback_only]
            raise ConfigError(
                f"{name} must start with {' or '.join(s + '://' for s in others)}: "
                f"{parts.scheme}:// is accepted only for this machine (a loopback address), "
                f"where no one can read or change what travels; got {got}"
            )
        return value.rstrip("/")

    return Parser("url", read)


def _host(name: str, raw: str) -> str:
    value = raw.strip()
    if not _HOST.fullmatch(value):
        raise ConfigError(
            f"{name} must be a host name or an IP address (ASCII letters, digits, '.', '-', "
            f"':'); got {shown(value)}"
        )
    return value


host = Parser("host", _host)
