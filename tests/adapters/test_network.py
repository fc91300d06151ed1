"""The one private-host check behind every server a person names (mail, calendar feeds)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.adapters.network import host_is_private, is_private_address

pytestmark = pytest.mark.trio


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("10.1.2.3", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:192.168.1.5", True),  # an IPv4 private address mapped into IPv6
        ("224.0.0.1", True),  # multicast
        ("fe80::1%eth0", True),
        ("93.184.215.14", False),
        ("localhost", True),
        ("printer.local", True),
        ("nas.home.arpa", True),
        ("intranet", True),  # no dot: never the internet
        ("mail.example.org", False),
        ("sneaky.example.org", True),  # resolves to a private address
    ],
)
async def test_what_is_near_clara(host: str, private: bool) -> None:
    async def resolve(name: str, port: int) -> list[str]:
        return ["10.0.0.9"] if name.startswith("sneaky") else ["93.184.215.14"]

    assert await host_is_private(host, 443, resolve=resolve, timeout=5.0) is private


async def test_a_name_that_does_not_resolve_or_too_slowly_is_an_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def missing(name: str, port: int) -> list[str]:
        raise OSError("no such name")

    async def slow(name: str, port: int) -> list[str]:
        await trio.sleep(60)
        return ["93.184.215.14"]

    with pytest.raises(OSError):
        await host_is_private("nowhere.example", 443, resolve=missing, timeout=5.0)
    with pytest.raises(trio.TooSlowError):
        await host_is_private("slow.example", 443, resolve=slow, timeout=5.0)


async def test_an_address_is_checked_as_an_address() -> None:
    assert is_private_address("172.16.0.1") and not is_private_address("8.8.8.8")
    with pytest.raises(ValueError):
        is_private_address("example.org")
