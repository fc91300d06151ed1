"""Whether a host is on this machine or a private network: the one check every place where a
person names a server for Clara to reach (a mail server, a calendar feed) goes through, so
that nobody can make Clara fetch from the machines near her.

A host is private when it is an address that is not global (loopback, private ranges,
link-local, multicast, an IPv4 address mapped into IPv6), a name that never leads to the
internet (``localhost``, ``.local``, ``.internal``... or a name without a dot), or a name
any of whose addresses is private. Names are resolved once, when the person gives them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable

import trio

__all__ = ["LOCAL_SUFFIXES", "Resolver", "host_is_private", "is_private_address", "resolve_host"]

#: Names that never lead to the internet.
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")

#: ``resolve(host, port)``: the addresses a host name stands for.
Resolver = Callable[[str, int], Awaitable[list[str]]]


def is_private_address(address: str) -> bool:
    """Whether the address ``address`` (IPv4 or IPv6 text) is not on the internet.

    Raises:
        ValueError: ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` stands for (the system's resolver, in a thread)."""
    found = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(item[4][0]) for item in found})


async def host_is_private(host: str, port: int, *, resolve: Resolver, timeout: float) -> bool:
    """Whether ``host`` (an address or a name) is on this machine or a private network.

    Raises:
        OSError: the name does not resolve.
        trio.TooSlowError: the resolver took longer than ``timeout`` seconds.
    """
    try:
        ipaddress.ip_address(host.split("%", maxsplit=1)[0])
    except ValueError:
        pass
    else:
        return is_private_address(host)
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host:
        return True
    with trio.fail_after(timeout):
        addresses = await resolve(host, port)
    return not addresses or any(is_private_address(address) for address in addresses)
