"""RequestLimits: what the endpoint refuses before any route sees a request.

hypercorn (h11) already refuses what it cannot parse at all (a malformed request line,
HTTP/1.1 without a Host header, a bad Content-Length, raw bytes that are not ASCII in the
target) with a bodiless 400, and headers that keep coming past 16 KB with a 431, closing
the connection; a connection that never finishes its request is closed after the
keep-alive timeout. What parses reaches this middleware, the outermost, which answers in
JSON with a one-line reason:

- a method other than GET or HEAD: 405 on every path (nothing here takes a body);
- a request target (path and query) longer than ``MAX_TARGET`` bytes: 414;
- more than ``MAX_HEADERS`` headers, or more than ``MAX_HEADER_BYTES`` bytes of them: 431;
- a WebSocket upgrade: 400 (hypercorn alone would answer 403 without a reason).

It also turns an exception a route raises into a 500 with one line, the error logged (the
log filter masks it) and never a traceback sent.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._responses import FAILED_TO_ANSWER, json_response

__all__ = ["MAX_HEADERS", "MAX_HEADER_BYTES", "MAX_TARGET", "RequestLimits"]

logger = logging.getLogger(__name__)

MAX_TARGET = 4096
MAX_HEADERS = 64
MAX_HEADER_BYTES = 8192
_METHODS = ("GET", "HEAD")


class RequestLimits:
    """ASGI middleware: refuses odd requests with a reason, and hides a route's crash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await _refuse_websocket(send)
            return
        if kind != "http":  # lifespan: Starlette's own business
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope)
        if refusal is not None:
            status, text, headers = refusal
            await json_response({"error": text}, status, headers)(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            # Logged here with its traceback (masked by the log filter); the client gets
            # one line. Cancellation is not an Exception and passes through.
            logger.error(
                "status endpoint: %s %r raised %s",
                scope.get("method"),
                scope.get("path", "")[:200],
                type(error).__name__,
                exc_info=error,
            )
            if not started:
                await json_response({"error": FAILED_TO_ANSWER}, 500)(scope, receive, send)


def _refusal(scope: Scope) -> tuple[int, str, dict[str, str] | None] | None:
    method = str(scope.get("method", ""))
    if method not in _METHODS:
        return 405, f"{method[:20]} is not allowed here; use GET", {"Allow": "GET, HEAD"}
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    if target > MAX_TARGET:
        return 414, f"the request target is {target:,} bytes; at most {MAX_TARGET:,}", None
    headers = scope.get("headers") or ()
    if len(headers) > MAX_HEADERS:
        return 431, f"{len(headers)} request headers; at most {MAX_HEADERS}", None
    size = sum(len(name) + len(value) for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return 431, f"request headers are {size:,} bytes; at most {MAX_HEADER_BYTES:,}", None
    return None


async def _refuse_websocket(send: Send) -> None:
    """Answer an upgrade with an HTTP response (hypercorn offers the extension for it)."""
    body = json_response({"error": "no WebSocket here: the status endpoint serves HTTP GET"})
    await send(
        {"type": "websocket.http.response.start", "status": 400, "headers": body.raw_headers}
    )
    await send({"type": "websocket.http.response.body", "body": body.body})
