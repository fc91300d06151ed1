"""HTTP for providers: one POST, SSE streams, and every failure mapped to Clara's errors."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from ...errors import (
    MalformedResponse,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from ._scrub import describe_body, error_reason

__all__ = ["post_json", "probe", "retry_after_seconds", "stream_sse"]

_decoder = msgspec.json.Decoder()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header in seconds: delta-seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _host(url: str) -> str:
    """Where a request went, for an error: host and port, never userinfo, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "the provider"
    return f"{host}:{parts.port}" if parts.port else host


def check_response(provider: str, response: httpx.Response) -> None:
    """Raise the error a provider's HTTP answer means (429, 5xx, other 4xx); nothing on success.

    Also what ``clara.testing.FakeProvider`` raises for a scripted failure, so the two agree.
    """
    status = response.status_code
    if status < 400:
        return
    reason = error_reason(response)
    if status == 429:
        wait = retry_after_seconds(response.headers.get("retry-after"))
        raise ProviderRateLimited(provider, f"rate limited (429): {reason}", wait)
    if status >= 500:
        raise ProviderUnavailable(provider, f"server error {status}: {reason}")
    raise ProviderRejected(provider, f"refused the request ({status}): {reason}")


async def post_json(
    client: httpx.AsyncClient,
    provider: str,
    *,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """POST ``body`` as JSON and return the JSON object answered.

    Raises:
        ProviderTimeout, ProviderUnavailable, ProviderRateLimited, ProviderRejected,
        MalformedResponse: as the names say; the message never holds the request's headers.
    """
    response = await _send(
        client,
        provider,
        client.build_request(
            "POST", url, headers=headers, content=msgspec.json.encode(body), timeout=timeout
        ),
        timeout,
    )
    try:
        answer = _decoder.decode(response.content)
    except msgspec.DecodeError:
        raise MalformedResponse(
            provider, f"the answer is not JSON ({describe_body(response)})"
        ) from None
    if not isinstance(answer, dict):
        raise MalformedResponse(
            provider, f"the answer is not a JSON object but a {type(answer).__name__}"
        )
    return answer


async def probe(
    client: httpx.AsyncClient, provider: str, *, url: str, headers: dict[str, str], timeout: float
) -> None:
    """GET ``url`` (a cheap listing such as /models): return if it answers 2xx.

    Raises the same errors as ``post_json``.
    """
    request = client.build_request("GET", url, headers=headers, timeout=timeout)
    await _send(client, provider, request, timeout)


async def _send(
    client: httpx.AsyncClient, provider: str, request: httpx.Request, timeout: float
) -> httpx.Response:
    """Send ``request``; transport failures and non-2xx answers become provider errors."""
    url = str(request.url)
    try:
        response = await client.send(request)
    except httpx.TimeoutException:
        raise ProviderTimeout(
            provider, f"no answer from {_host(url)} within {timeout:g}s"
        ) from None
    except httpx.HTTPError as error:
        raise ProviderUnavailable(
            provider, f"cannot reach {_host(url)}: {type(error).__name__}"
        ) from None
    check_response(provider, response)
    return response


async def stream_sse(
    client: httpx.AsyncClient,
    provider: str,
    *,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: float,
) -> AsyncIterator[tuple[str, Any]]:
    """POST and read a server-sent event stream: yields (event name, decoded JSON data).

    ``data: [DONE]`` ends it (OpenAI's convention); so does the end of the response.
    """
    try:
        async with client.stream(
            "POST", url, headers=headers, content=msgspec.json.encode(body), timeout=timeout
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                check_response(provider, response)
            event = "message"
            async for line in response.aiter_lines():
                if not line:
                    event = "message"
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    event = value
                elif field == "data":
                    if value == "[DONE]":
                        return
                    try:
                        yield event, _decoder.decode(value)
                    except msgspec.DecodeError:
                        raise MalformedResponse(
                            provider, f"a streamed event is not JSON ({len(value)} characters)"
                        ) from None
    except httpx.TimeoutException:
        raise ProviderTimeout(
            provider, f"no answer from {_host(url)} within {timeout:g}s"
        ) from None
    except httpx.HTTPError as error:
        raise ProviderUnavailable(
            provider, f"cannot reach {_host(url)}: {type(error).__name__}"
        ) from None
