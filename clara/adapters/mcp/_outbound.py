"""HTTP requests to URLs a remote server named: checked, aimed at the checked address, bounded.

OAuth discovery follows URLs that a remote MCP server chooses (its 401's
``resource_metadata``, then its authorization server, then that server's endpoints). Each
one is a request Clara makes on the server's word, so each goes through ``Outbound``:

- **what a URL may reach** (``Reach``) follows from where the MCP server itself is
  (``reach_of``): a public server may name public hosts only, over https. A server on this
  machine (its URL on loopback: the operator named it, ``_sources``) may also name loopback
  hosts, over http too; one on the local network may also name private hosts, over https.
  Link-local, multicast, unspecified and reserved addresses are never reached (``_hosts``).
- **every address checked, then used**: the host is resolved once, every address it resolves
  to must be allowed, and the request goes to that checked address (the name stays in the
  ``Host`` header and in TLS's SNI and certificate check), so a second lookup cannot
  rebind it to an internal address.
- **no redirects**: a 3xx is an answer like any other (the caller refuses it), never followed.
- **nothing reflected**: an answer's body is read up to ``MAX_BODY`` and returned to the
  caller, which reports the status code and which URL failed, never the text. A
  transport error is reported by its kind (``ConnectError``), not its text.

``trusted_origins`` (``http://127.0.0.1:8123``) are reached whatever the rules say: for tests,
whose fake servers live on loopback, and for nothing else unless someone wires it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ...errors import OAuthError
from ._hosts import BadHost, Network, Resolver, check_addresses, system_resolver
from ._urls import Url, parse_url

__all__ = ["MAX_BODY", "Answer", "Outbound", "Reach", "reach_of"]

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
"""Bytes of an answer read at most (metadata and token answers are a few hundred)."""


@dataclass(frozen=True)
class Reach:
    """Which hosts URLs named by one MCP server may lead Clara to."""

    networks: frozenset[Network]
    plain_http: bool
    """``http://`` allowed (to loopback hosts only)."""


def reach_of(resource: str) -> Reach:
    """What the MCP server at ``resource`` may make Clara reach.

    Raises:
        OAuthError: ``resource`` is not a URL Clara would have installed.
    """
    try:
        network = parse_url(resource).host.network
    except BadHost as error:
        raise OAuthError(f"the server's URL: {error}") from None
    if network is Network.LOOPBACK:
        return Reach(frozenset({Network.PUBLIC, Network.LOOPBACK}), plain_http=True)
    if network is Network.PRIVATE:
        return Reach(frozenset({Network.PUBLIC, Network.PRIVATE}), plain_http=False)
    return Reach(frozenset({Network.PUBLIC}), plain_http=False)


@dataclass(frozen=True)
class Answer:
    """What a checked request got back: the status and the body (bounded)."""

    status: int
    body: bytes
    origin: str
    """``scheme://host:port`` it came from (for error messages)."""


class Outbound:
    """Requests to server-named URLs, over ``http`` (which is never asked to redirect).

    Args:
        http: the client; its pool, timeouts and proxy settings are used.
        resolve: how host names are resolved (the system's resolver by default).
        trusted_origins: origins reached whatever the rules say (tests' loopback fakes).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        resolve: Resolver = system_resolver,
        trusted_origins: Sequence[str] = (),
    ) -> None:
        self.http = http
        self.resolve = resolve
        trusted: set[str] = set()
        for origin in trusted_origins:
            try:
                trusted.add(parse_url(origin).origin)
            except BadHost as error:
                raise ValueError(f"trusted_origins: {origin!r}: {error}") from None
        self.trusted_origins = frozenset(trusted)

    def check(self, text: str, reach: Reach, what: str) -> Url:
        """``text`` as a checked URL that ``reach`` allows (its host's literal class; names
        are resolved when requested).

        Raises:
            OAuthError: naming ``what`` and the reason (malformed, plain http, the class).
        """
        try:
            url = parse_url(text)
        except BadHost as error:
            raise OAuthError(f"{what}: {error}") from None
        if url.origin in self.trusted_origins:
            return url
        loopback = url.host.network is Network.LOOPBACK
        if url.scheme == "http" and not (reach.plain_http and loopback):
            raise OAuthError(
                f"{what}: {url.origin} is plain http; OAuth URLs must be https (http only to "
                "this machine, for a server on this machine)"
            )
        if url.host.network not in reach.networks:
            raise OAuthError(
                f"{what}: {url.host.reason}, which this MCP server may not make Clara reach"
            )
        return url

    async def request(
        self, method: str, text: str, *, reach: Reach, what: str, **content: Any
    ) -> Answer:
        """Send ``method`` to ``text`` (with ``content``: ``data=`` or ``json=``), checked.

        Raises:
            OAuthError: the URL or an address it resolves to is refused, the connection
                failed, or the answer is larger than ``MAX_BODY``.
        """
        url = self.check(text, reach, what)
        allowed: Collection[Network] = (
            frozenset(Network) if url.origin in self.trusted_origins else reach.networks
        )
        try:
            addresses = await check_addresses(url.host, url.effective_port, allowed, self.resolve)
        except BadHost as error:
            raise OAuthError(f"{what}: {error}") from None
        headers = {"Accept": "application/json"}
        extensions: dict[str, Any] = {}
        if url.host.is_name:
            headers["Host"] = url.authority
            if url.scheme == "https":
                extensions["sni_hostname"] = url.host.text
        for index, address in enumerate(addresses):
            request = self.http.build_request(
                method, url.text(address), headers=headers, extensions=extensions, **content
            )
            try:
                response = await self.http.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError:
                if index + 1 < len(addresses):
                    continue  # the next checked address of the same name
                raise OAuthError(f"{what}: cannot connect to {url.origin}") from None
            except httpx.HTTPError as error:
                raise OAuthError(
                    f"{what}: {url.origin} did not answer ({type(error).__name__})"
                ) from None
            try:
                body = await _read_bounded(response, what, url.origin)
            finally:
                await response.aclose()
            logger.debug("%s: %s %s -> HTTP %s", what, method, url.origin, response.status_code)
            return Answer(status=response.status_code, body=body, origin=url.origin)
        raise OAuthError(f"{what}: {url.host.text} has no address to connect to")


async def _read_bounded(response: httpx.Response, what: str, origin: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY:
                raise OAuthError(
                    f"{what}: the answer from {origin} is larger than {MAX_BODY // 1024} KB"
                )
            chunks.append(chunk)
    except httpx.HTTPError as error:
        raise OAuthError(f"{what}: {origin}'s answer broke off ({type(error).__name__})") from None
    return b"".join(chunks)
