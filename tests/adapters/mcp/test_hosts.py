"""Hosts and URLs someone else named: the classes, the resolution check, the rebuilt URL."""

from __future__ import annotations

import ipaddress

import pytest

from clara.adapters.mcp import Network, system_resolver
from clara.adapters.mcp._hosts import BadHost, check_addresses, classify, parse_host
from clara.adapters.mcp._urls import parse_url


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("8.8.8.8", Network.PUBLIC),
        ("2606:4700:4700::1111", Network.PUBLIC),
        ("::ffff:8.8.8.8", Network.PUBLIC),  # mapped, judged by the IPv4 it carries
        ("64:ff9b::808:808", Network.PUBLIC),
        ("127.0.0.1", Network.LOOPBACK),
        ("::1", Network.LOOPBACK),
        ("::ffff:127.0.0.1", Network.LOOPBACK),
        ("10.0.0.1", Network.PRIVATE),
        ("fd12:3456::1", Network.PRIVATE),
        ("2002:0a00:0001::", Network.PRIVATE),  # 6to4 of 10.0.0.1
        ("64:ff9b:1::808:808", Network.PRIVATE),  # a network's own NAT64, whatever it carries
    ],
)
def test_addresses_are_classed_by_where_they_are(address: str, network: Network) -> None:
    assert classify(ipaddress.ip_address(address))[0] is network


@pytest.mark.trio
async def test_a_literal_host_is_never_resolved() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise AssertionError("a literal address was sent to the resolver")

    host = parse_host("8.8.8.8")
    assert await check_addresses(host, 443, {Network.PUBLIC}, resolve) == [host.address]
    with pytest.raises(BadHost, match="127.0.0.1 is a loopback address"):
        await check_addresses(parse_host("127.0.0.1"), 443, {Network.PUBLIC}, resolve)


@pytest.mark.trio
async def test_every_address_of_a_name_is_checked_not_just_the_first() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:2800:220:1::", "192.168.1.20"]

    with pytest.raises(BadHost, match="resolves to 192.168.1.20, a private address"):
        await check_addresses(parse_host("mcp.example.test"), 443, {Network.PUBLIC}, resolve)
    allowed = {Network.PUBLIC, Network.PRIVATE}
    found = await check_addresses(parse_host("mcp.example.test"), 443, allowed, resolve)
    assert [str(address) for address in found] == [
        "93.184.216.34",
        "2606:2800:220:1::",
        "192.168.1.20",
    ]


@pytest.mark.trio
async def test_localhost_resolves_to_loopback_only_through_the_system_resolver() -> None:
    addresses = await system_resolver("localhost", 80)
    assert addresses
    assert all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


@pytest.mark.parametrize(
    ("text", "rebuilt"),
    [
        ("HTTPS://MCP.Example.com/a/b?c=d", "https://mcp.example.com/a/b?c=d"),
        ("https://[2606:4700:4700:0::1111]:8443/x", "https://[2606:4700:4700::1111]:8443/x"),
        ("https://mcp.example.com", "https://mcp.example.com"),
        ("https://mcp.example.com/?", "https://mcp.example.com/?"),
    ],
)
def test_a_url_is_rebuilt_from_its_checked_parts(text: str, rebuilt: str) -> None:
    assert str(parse_url(text)) == rebuilt


def test_a_url_aimed_at_its_checked_address_keeps_its_port_path_and_query() -> None:
    url = parse_url("https://mcp.example.com:8443/a?b=c")
    assert url.text(ipaddress.ip_address("93.184.216.34")) == "https://93.184.216.34:8443/a?b=c"
    assert url.text(ipaddress.ip_address("2606::1")) == "https://[2606::1]:8443/a?b=c"
    assert (url.origin, url.effective_port) == ("https://mcp.example.com:8443", 8443)
    assert parse_url("http://mcp.example.com/").effective_port == 80
