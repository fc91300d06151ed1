"""The status endpoint's ASGI application (Starlette): routes, token check, error bodies."""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ...actors import ActorState, ActorSystem
from ...health import Readiness
from ...supervisors import SupervisorBase
from ._document import EncodingCache, stream_status
from ._metrics import CONTENT_TYPE, TreeMetrics
from ._page import PAGE
from ._query import BadQuery, parse_status_query
from ._schema import SCHEMA_PATH

__all__ = ["OAUTH_CALLBACK_PATH", "StatusContext", "make_status_app"]

OAUTH_CALLBACK_PATH = "/oauth/callback"

logger = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class StatusContext:
    """What the status endpoint reads: the tree, the system, readiness, who we are.

    Args:
        root: returns the root supervisor (a callable: the root is built after its children).
        system: the actor system of that tree.
        readiness: the readiness checks of the process.
        version: Clara's version.
        started_at: the process start, ``time.time()``.
        oauth_callback: finishes an OAuth flow: ``(state, code, error)`` → the text to show
            the person whose browser was sent back (served at ``/oauth/callback``).
    """

    def __init__(
        self,
        root: Callable[[], SupervisorBase],
        system: ActorSystem,
        readiness: Readiness,
        *,
        version: str,
        started_at: float,
        oauth_callback: Callable[[str, str, str], Awaitable[str]] | None = None,
    ) -> None:
        self.oauth_callback = oauth_callback
        self.root = root
        self.system = system
        self.readiness = readiness
        self.version = version
        self.started_at = started_at
        self._metrics: TreeMetrics | None = None
        self.encodings = EncodingCache()

    def metrics(self) -> TreeMetrics:
        if self._metrics is None:
            self._metrics = TreeMetrics(
                self.root(), self.system, version=self.version, started_at=self.started_at
            )
        return self._metrics


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(body), status_code=status, media_type="application/json", headers=headers
    )


def make_status_app(context: StatusContext, token: str | None) -> ASGIApp:
    """The ASGI app serving /, /status, /healthz, /readyz and /metrics.

    With ``token``, every request must carry ``Authorization: Bearer <token>`` (or HTTP Basic
    with the token as password, which is what a browser can send); others get 401.
    """

    async def status(request: Request) -> Response:
        try:
            query = parse_status_query(request.query_params.multi_items())
        except BadQuery as error:
            return _json({"error": str(error), "parameter": error.parameter}, 400)
        pieces = stream_status(
            context.root(),
            context.system.dead_letters,
            query,
            version=context.version,
            started_at=context.started_at,
            cache=context.encodings,
        )
        return StreamingResponse(pieces, media_type="application/json")

    async def schema(request: Request) -> Response:
        return Response(SCHEMA_PATH.read_bytes(), media_type="application/schema+json")

    async def healthz(request: Request) -> Response:
        return _json({"status": "alive"})

    async def readyz(request: Request) -> Response:
        root = context.root()
        reasons: dict[str, str] = {}
        if root.state is not ActorState.RUNNING:
            reasons["tree"] = f"the root supervisor is {root.state.value}"
        for name, reason in context.readiness.evaluate().items():
            if reason is not None:
                reasons[name] = reason
        if reasons:
            return _json({"ready": False, "reasons": reasons}, 503)
        return _json({"ready": True, "reasons": {}})

    async def metrics(request: Request) -> Response:
        body = await context.metrics().render()
        return Response(body, media_type=CONTENT_TYPE)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def oauth_callback(request: Request) -> Response:
        handler = context.oauth_callback
        params = request.query_params
        state = params.get("state", "")
        if handler is None:
            text, code = "Nothing here waits for an authorization.", 404
        elif not state or len(state) > 200:
            text, code = "The link has no valid state parameter.", 400
        else:
            error = params.get("error", "")
            description = params.get("error_description", "")
            text = await handler(
                state, params.get("code", "")[:2000], f"{error} {description}".strip()[:300]
            )
            code = 200
        body = (
            "<!doctype html><meta charset=utf-8><title>Clara</title>"
            f"<p style='font:16px system-ui;margin:3em'>{html.escape(text)}</p>"
        )
        return HTMLResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json({"error": f"no such page: {request.url.path}"}, 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _json({"error": f"{request.method} is not allowed here; use GET"}, 405)

    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/status", status, methods=["GET"]),
            Route("/status/schema", schema, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route(OAUTH_CALLBACK_PATH, oauth_callback, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )
    if token is None:
        return app
    # The authorization server sends a browser there: its unguessable state is the credential.
    return BearerTokenGuard(app, token, open_paths=(OAUTH_CALLBACK_PATH,))


class BearerTokenGuard:
    """ASGI middleware: 401 unless the request carries the token (Bearer, or Basic password).

    Compares in constant time; never logs or echoes what was sent.
    """

    def __init__(self, app: ASGIApp, token: str, *, open_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self._token = token.encode()
        self._open = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self._open or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = _json(
            {"error": "missing or wrong token: send Authorization: Bearer <CLARA_STATUS_TOKEN>"},
            401,
            headers={"WWW-Authenticate": 'Bearer realm="clara", Basic realm="clara"'},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name != b"authorization":
                continue
            scheme, _, credentials = value.partition(b" ")
            scheme = scheme.lower()
            if scheme == b"bearer":
                return hmac.compare_digest(credentials.strip(), self._token)
            if scheme == b"basic":
                try:
                    decoded = base64.b64decode(credentials.strip(), validate=True)
                except (binascii.Error, ValueError):
                    return False
                _, _, password = decoded.partition(b":")
                return hmac.compare_digest(password, self._token)
            return False
        return False
