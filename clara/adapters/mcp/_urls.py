"""The one strict URL grammar for URLs someone else chose: install sources and OAuth documents.

Why not ``urllib.parse`` alone: parsers disagree on odd URLs (``https://a\\@b/``,
``https://a#@b``, ``https://a@b@c``), and a check made with one parser while another one
connects is a bypass. So a URL is split here by one small grammar, refused when anything is
odd (credentials, backslashes, spaces, a fragment, a port outside 1 to 65535, a host that
``_hosts.parse_host`` refuses), and the URL Clara then uses is rebuilt from the checked parts:
what was checked is what is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._hosts import BadHost, Host, IpAddress, parse_host

__all__ = ["BadUrl", "Url", "parse_url"]


class BadUrl(BadHost):
    """A URL that is malformed or odd; the message says what is wrong (never the whole URL's
    query, which may carry something private)."""


_SHAPE = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?$",
    re.DOTALL,
)
# Characters no URL here may have: controls, spaces, and those parsers read differently.
_ODD = re.compile(r"[\x00-\x20\x7f\\\"<>^`{|}]")
_PORT = re.compile(r"^[0-9]{1,5}$")
MAX_URL = 2048


@dataclass(frozen=True)
class Url:
    """A checked absolute http(s) URL."""

    scheme: str
    host: Host
    port: int | None
    path: str
    query: str | None

    @property
    def authority(self) -> str:
        return self.host.in_url + (f":{self.port}" if self.port is not None else "")

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.authority}"

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 443 if self.scheme == "https" else 80

    def text(self, address: IpAddress | None = None) -> str:
        """The URL rebuilt from its checked parts; with ``address``, aimed at that address
        (the checked one) instead of the name, so no second lookup can send it elsewhere."""
        host = self.host.in_url
        if address is not None:
            host = f"[{address.compressed}]" if address.version == 6 else address.compressed
        port = f":{self.port}" if self.port is not None else ""
        query = f"?{self.query}" if self.query is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}{query}"

    def __str__(self) -> str:
        return self.text()


def _split_authority(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise BadUrl(f"the host {authority!r} opens '[' without closing it")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise BadUrl(f"the authority {authority!r} has something after its IPv6 host")
        return host, rest[1:] if rest else None
    if authority.count(":") > 1:
        raise BadUrl(f"the authority {authority!r} has more than one ':' (IPv6 needs '[…]')")
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def parse_url(text: str) -> Url:
    """Split and check ``text``: an absolute ``https://`` or ``http://`` URL.

    Which scheme and which host classes are acceptable is the caller's policy; this refuses
    only what is malformed or odd, and hosts that are never reached (``_hosts``).

    Raises:
        BadUrl: malformed or odd. BadHost: the host is malformed or never reached.
    """
    if len(text) > MAX_URL:
        raise BadUrl(f"the URL is {len(text)} characters; {MAX_URL} at most")
    if not text.isascii():
        raise BadUrl("the URL has non-ASCII characters (look-alike hosts are refused)")
    odd = _ODD.search(text)
    if odd is not None:
        raise BadUrl(f"the URL contains {odd.group()!r} (spaces, backslashes, quotes, controls)")
    shape = _SHAPE.match(text)
    if shape is None:
        raise BadUrl("it is not an absolute URL (scheme://host/path)")
    scheme = shape["scheme"].lower()
    if scheme not in ("https", "http"):
        raise BadUrl(f"the URL scheme {scheme!r} is refused: use https")
    authority = shape["authority"]
    if "@" in authority:
        raise BadUrl("the URL carries credentials ('user@host'), which are refused")
    if shape["fragment"] is not None:
        raise BadUrl("the URL has a fragment ('#…'), which is refused")
    host_text, port_text = _split_authority(authority)
    port: int | None = None
    if port_text is not None:
        if not _PORT.match(port_text) or not 1 <= int(port_text) <= 65535:
            raise BadUrl(f"the URL's port {port_text[:12]!r} is not a number from 1 to 65535")
        port = int(port_text)
    host = parse_host(host_text)
    return Url(scheme=scheme, host=host, port=port, path=shape["path"], query=shape["query"])
