"""Where and how to hand a message to an SMTP server."""

from __future__ import annotations

import msgspec

__all__ = ["SECURITY", "SmtpEndpoint"]

#: ``starttls``: plain connect, then STARTTLS before anything else (port 587); ``ssl``: TLS
#: from the first byte (port 465); ``plain``: no TLS at all (a relay on loopback).
SECURITY = ("starttls", "ssl", "plain")


class SmtpEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """An SMTP server and, when ``username`` is set, the login to use. ``repr`` never shows
    the password (it is only ever handed to ``login``).

    Raises:
        ValueError: ``security`` is not one of ``SECURITY``, the port is out of range or the
            timeout not positive.
    """

    host: str
    port: int
    security: str = "starttls"
    username: str = ""
    """Empty: no login (a relay that takes mail without one)."""
    password: str = ""
    timeout: float = 30.0
    """Seconds to connect, and for each command's answer."""

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ValueError(
                f"SmtpEndpoint.security must be one of {', '.join(SECURITY)}; got {self.security!r}"
            )
        if not 0 < self.port < 65536:
            raise ValueError(f"SmtpEndpoint.port must be 1 to 65535; got {self.port!r}")
        if not self.timeout > 0:
            raise ValueError(f"SmtpEndpoint.timeout must be positive; got {self.timeout!r}")

    def __repr__(self) -> str:
        return (
            f"SmtpEndpoint(host={self.host!r}, port={self.port!r}, security={self.security!r}, "
            f"username={self.username!r}, password=***, timeout={self.timeout!r})"
        )

    __str__ = __repr__

    @property
    def label(self) -> str:
        """``user@host:port`` (or ``host:port`` without a login), for messages and logs."""
        where = f"{self.host}:{self.port}"
        return f"{self.username}@{where}" if self.username else where
