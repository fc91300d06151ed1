"""Which hosts Clara may reach because someone else named them: host grammar and address classes.

An install source (``https://…``) and the OAuth documents of a remote MCP server name hosts
Clara then connects to. Left unchecked, that is a request-forgery probe: a chat command or a
hostile server could make Clara talk to the cloud metadata service (``169.254.169.254``), a
database on loopback or a router on the local network. So every host goes through two checks:

- **grammar** (``parse_host``): a DNS name of LDH labels (no trailing dot, no punycode
  look-alikes, no underscores), or an IP address in its standard spelling. ``2130706433``,
  ``0x7f.1`` and ``0177.0.0.1`` are IPv4 in disguise (resolvers accept them), so they are
  refused by name.
- **address class** (``classify``): every address a host is or resolves to is ``PUBLIC``,
  ``PRIVATE`` (RFC 1918, shared CGNAT space, unique-local IPv6), ``LOOPBACK``, or one that is
  never reached (link-local, unspecified, multicast, broadcast, documentation, benchmarking,
  reserved, Teredo). IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) are
  judged by that IPv4 address. Names are classed by what they say too: ``localhost`` is
  loopback; a single label or a local-network suffix (``.internal``, ``.local``, ``.lan`` …)
  is private.

Which classes a caller accepts is the caller's policy (``_sources``, ``_outbound``).
``BadHost`` (a ``ValueError``) says why a host is refused; callers translate it into their
own error (``SourceError``, ``OAuthError``).
"""

from __future__ import annotations

import enum
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

import trio

__all__ = [
    "BadHost",
    "Host",
    "IpAddress",
    "Network",
    "Resolver",
    "check_addresses",
    "classify",
    "parse_host",
    "system_resolver",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port)`` to the addresses it resolves to (as text); ``OSError`` when it does not."""


class BadHost(ValueError):
    """A host that is malformed, or an address Clara does not reach; the message says why."""


class Network(enum.Enum):
    """Where an address is, as far as who may make Clara connect to it is concerned."""

    PUBLIC = "public"
    PRIVATE = "private"
    LOOPBACK = "loopback"


@dataclass(frozen=True)
class Host:
    """A checked host: its canonical text, its address if it is one, and its class."""

    text: str
    """Lower-case name, or the address in its standard form (IPv6 without brackets)."""
    address: IpAddress | None
    network: Network
    reason: str
    """Why it is in that class, for error messages (``127.0.0.1 is a loopback address``)."""

    @property
    def is_name(self) -> bool:
        return self.address is None

    @property
    def in_url(self) -> str:
        """The host as a URL's authority writes it (IPv6 in brackets)."""
        if isinstance(self.address, ipaddress.IPv6Address):
            return f"[{self.text}]"
        return self.text


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Ranges never reached, whoever names them. Order matters: the first match names the reason.
_NEVER_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/32"), "the unspecified address"),
    (_V4("0.0.0.0/8"), "a 'this network' address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("192.0.0.0/24"), "an IETF protocol address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a 6to4 relay address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)
_INSIDE_V4: tuple[tuple[ipaddress.IPv4Network, Network, str], ...] = (
    (_V4("127.0.0.0/8"), Network.LOOPBACK, "a loopback address"),
    (_V4("10.0.0.0/8"), Network.PRIVATE, "a private address"),
    (_V4("172.16.0.0/12"), Network.PRIVATE, "a private address"),
    (_V4("192.168.0.0/16"), Network.PRIVATE, "a private address"),
    (_V4("100.64.0.0/10"), Network.PRIVATE, "a shared (carrier-grade NAT) address"),
)
_NEVER_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "the unspecified address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("2001::/32"), "a Teredo tunnel address"),
    (_V6("2001:10::/28"), "a reserved address"),
    (_V6("2001:20::/28"), "a reserved address"),
    (_V6("100::/64"), "a discard-only address"),
)
# IPv6 forms that carry an IPv4 address in their low (or, for 6to4, high) bits.
_NAT64 = _V6("64:ff9b::/96")
_LOCAL_NAT64 = _V6("64:ff9b:1::/48")  # RFC 8215: a network's own translator, inside it
_LOCAL_NAME_SUFFIXES = (
    ".internal",
    ".local",
    ".localdomain",
    ".lan",
    ".home",
    ".home.arpa",
    ".corp",
    ".intranet",
    ".private",
)
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_MAX_NAME = 253


def _classify_v4(address: ipaddress.IPv4Address) -> tuple[Network, str]:
    for block, why in _NEVER_V4:
        if address in block:
            raise BadHost(f"{address} is {why}")
    for block, where, why in _INSIDE_V4:
        if address in block:
            return where, f"{address} is {why}"
    if not address.is_global:
        raise BadHost(f"{address} is not a public address")
    return Network.PUBLIC, f"{address} is a public address"


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "an IPv4-mapped address"
    if address.sixtofour is not None:
        return address.sixtofour, "a 6to4 address"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64 address"
    return None


def classify(address: IpAddress) -> tuple[Network, str]:
    """The class of ``address`` and the reason, or ``BadHost`` if it is never reached."""
    if isinstance(address, ipaddress.IPv4Address):
        return _classify_v4(address)
    bare = ipaddress.IPv6Address(int(address))  # without a zone (``%eth0``)
    embedded = _embedded_v4(bare)
    if embedded is not None:
        inner, form = embedded
        try:
            network, why = _classify_v4(inner)
        except BadHost as error:
            raise BadHost(f"{bare} is {form} of {inner}, {_article(str(error))}") from None
        return network, f"{bare} is {form} of {inner}, {_article(why)}"
    if bare == ipaddress.IPv6Address("::1"):
        return Network.LOOPBACK, f"{bare} is a loopback address"
    for block, why in _NEVER_V6:
        if bare in block:
            raise BadHost(f"{bare} is {why}")
    if bare in _V6("::/96"):
        raise BadHost(f"{bare} is an IPv4-compatible address (deprecated)")
    if bare in _V6("fc00::/7"):
        return Network.PRIVATE, f"{bare} is a unique-local (private) address"
    if bare in _LOCAL_NAT64:
        return Network.PRIVATE, f"{bare} is a local-use NAT64 (private) address"
    if not bare.is_global:
        raise BadHost(f"{bare} is not a public address")
    return Network.PUBLIC, f"{bare} is a public address"


def _parse_name(name: str) -> Host:
    if not name:
        raise BadHost("the host is empty")
    if len(name) > _MAX_NAME:
        raise BadHost(f"the host name is {len(name)} characters; {_MAX_NAME} at most")
    if name.endswith("."):
        raise BadHost(f"the host name {name!r} ends with '.' (write it without the dot)")
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # Resolvers read a name ending in a number as IPv4: 2130706433, 0x7f.1, 0177.0.0.1.
        raise BadHost(
            f"{name!r} is an IPv4 address in a non-standard spelling (decimal, octal or hex); "
            "write it as four decimal numbers"
        )
    for label in labels:
        if not label:
            raise BadHost(f"the host name {name!r} has an empty label ('..' or a leading '.')")
        if not _LABEL.match(label):
            raise BadHost(
                f"the host name {name!r}: label {label[:63]!r} is not 1 to 63 letters, digits "
                "and inner hyphens"
            )
        if label.startswith("xn--"):
            raise BadHost(
                f"the host name {name!r} has a punycode label ({label!r}): internationalised "
                "names are refused (look-alike hosts)"
            )
    if name == "localhost" or name.endswith(".localhost"):
        return Host(name, None, Network.LOOPBACK, f"{name} is a loopback name")
    if len(labels) == 1:
        return Host(name, None, Network.PRIVATE, f"{name} is a single-label (local) name")
    for suffix in _LOCAL_NAME_SUFFIXES:
        if name.endswith(suffix):
            return Host(name, None, Network.PRIVATE, f"{name} is a local-network name ({suffix})")
    return Host(name, None, Network.PUBLIC, f"{name} is a public name")


def parse_host(text: str) -> Host:
    """Check a host as written in a URL's authority (``[v6]`` in brackets).

    Raises:
        BadHost: it is malformed, or an address that is never reached.
    """
    if text.startswith("["):
        if not text.endswith("]"):
            raise BadHost(f"the host {text!r} opens '[' without closing it")
        inner = text[1:-1]
        if "%" in inner:
            raise BadHost(f"the host {text!r} has a zone ('%…'); zones are refused")
        try:
            address: IpAddress = ipaddress.IPv6Address(inner)
        except ValueError:
            raise BadHost(f"the host {text!r} is not an IPv6 address") from None
    elif ":" in text or "[" in text or "]" in text:
        raise BadHost(f"the host {text!r} is not a host name or address (IPv6 needs '[…]')")
    elif "%" in text:
        raise BadHost(f"the host {text!r} is percent-encoded; write it plainly")
    else:
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            return _parse_name(text.lower())
    network, why = classify(address)
    return Host(address.compressed, address, network, why)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host`` (a thread, as trio does it)."""
    found = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def check_addresses(
    host: Host, port: int, allowed: Collection[Network], resolve: Resolver
) -> list[IpAddress]:
    """The addresses of ``host``, each of whose class is in ``allowed`` — every one of them,
    since a name that resolves to one public and one internal address is a rebinding trick.

    Raises:
        BadHost: it does not resolve, or an address is never reached or not ``allowed``.
    """
    if host.address is not None:
        if host.network not in allowed:
            raise BadHost(host.reason)
        return [host.address]
    try:
        texts = await resolve(host.text, port)
    except OSError as error:
        raise BadHost(f"{host.text} cannot be resolved ({type(error).__name__})") from None
    if not texts:
        raise BadHost(f"{host.text} resolves to no address")
    addresses: list[IpAddress] = []
    for text in texts:
        try:
            address = ipaddress.ip_address(text)
            network, why = classify(address)
        except ValueError as error:  # BadHost, or a resolver answer that is no address
            raise BadHost(f"{host.text} resolves to {text[:60]}: {error}") from None
        if network not in allowed:
            raise BadHost(f"{host.text} resolves to {address}, {_article(why)}")
        if isinstance(address, ipaddress.IPv6Address):
            address = ipaddress.IPv6Address(int(address))  # the zone is the resolver's business
        addresses.append(address)
    return addresses


def _article(why: str) -> str:
    """``10.0.0.1 is a private address`` → ``a private address``."""
    return why.split(" is ", 1)[1]
