"""What of a provider's error may be shown: its own short message, never an echo.

A provider's (or a proxy's) error body is foreign text, and it ends up where operators
look: the breaker's last error, ``/status``, ``/readyz``, logs. Some echo the request they
refused, which holds the API key (in a header) and what people said (in the body). So an
error's reason is only the ``message``/``type``/``code`` of a JSON error object, cut short,
with the request's header values and token-shaped strings masked; and when it repeats a
piece of the request's text, it is withheld altogether. A body that is not a JSON error
object (an HTML page from a proxy, an echo) is described, not shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec

from ...logs import SecretFilter

__all__ = ["ECHO_WITHHELD", "describe_body", "error_reason", "fields_of", "scrub"]

#: The longest reason kept.
REASON_LIMIT = 200
#: A reason sharing a run of this many characters with the request's text is an echo.
ECHO_RUN = 16
#: What stands for a reason that echoed the request.
ECHO_WITHHELD = "(the provider's error text repeated the request; withheld)"

_decoder = msgspec.json.Decoder()


def error_reason(response: httpx.Response) -> str:
    """A short, safe reason for a failed answer: the JSON error's own message, scrubbed."""
    try:
        body = _decoder.decode(response.content)
    except msgspec.DecodeError:
        return describe_body(response)
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        parts = [error.get(key) for key in ("message", "type", "code")]
        text = next((str(part) for part in parts if isinstance(part, (str, int)) and part), "")
    elif isinstance(error, str):
        text = error
    else:
        text = ""
    if not text:
        return f"no error message ({describe_body(response)})"
    return scrub(text, _request_of(response))


def scrub(text: str, request: httpx.Request | None) -> str:
    """``text`` cut short, with secrets masked and echoes of ``request`` withheld."""
    text = " ".join(text.split())[: REASON_LIMIT * 2]  # one line; a bound before the work
    if request is not None:
        if _echoes(text, request):
            return ECHO_WITHHELD
        secrets = [value for _, value in request.headers.multi_items() if len(value) >= 8]
        secrets += [value.split(" ", 1)[1] for value in secrets if " " in value]
    else:
        secrets = []
    masked = SecretFilter(secrets).mask(text)
    return masked if len(masked) <= REASON_LIMIT else masked[: REASON_LIMIT - 1] + "…"


def describe_body(response: httpx.Response) -> str:
    """What a body is (its type and size), for an error that must not show it."""
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip() or "untyped"
    return f"{len(response.content)} bytes of {kind}, not shown"


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a response built by hand (tests, fakes) has none
        return None


def _echoes(text: str, request: httpx.Request) -> bool:
    """Whether ``text`` holds a run of ``ECHO_RUN`` characters of the request's strings."""
    try:
        content = request.content
    except httpx.RequestNotRead:
        return False
    try:
        body = _decoder.decode(content) if content else None
    except msgspec.DecodeError:
        body = None
    folded = " ".join(text.split())
    for found in _strings(body):
        value = " ".join(found.split())
        if len(value) < ECHO_RUN:
            continue
        step = ECHO_RUN // 2
        for start in range(0, len(value) - ECHO_RUN + 1, step):
            if value[start : start + ECHO_RUN] in folded:
                return True
    return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def fields_of(answer: object) -> str:
    """The top-level field names of a malformed answer (its values are not shown: they may
    hold what people said or what the model made of it)."""
    if not isinstance(answer, dict):
        return f"none, a {type(answer).__name__}"
    names = [str(name)[:30] for name in list(answer)[:8]]
    return ", ".join(names) + (", …" if len(answer) > 8 else "") if names else "none"
