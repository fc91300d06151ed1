"""The status endpoint's ASGI application (Starlette): routes and their answers.

Whatever data a body carries is masked (``Masker``: configured secrets and token shapes):
/status as its documents are built (``_stream.py``), /readyz's reasons, /metrics' label
values (``_metrics.py``), the OAuth callback's text, and error messages, which repeat what
a request sent. The page, the schema and /healthz are constants of the code and hold no
data (the page fetches /status); masking them could only break them, since a configured
secret may be a short word (a database password ``clara``) that the page's code contains.
"""

from __future__ import annotations

import html
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ._context import StatusContext
from ._document import OVERVIEW
from ._guard import BearerTokenGuard
from ._limits import RequestLimits
from ._metrics import CONTENT_TYPE
from ._page import PAGE
from ._query import BadQuery, parse_status_query
from ._readiness import readiness_view
from ._responses import FAILED_TO_ANSWER, PiecesResponse, json_response
from ._schema import SCHEMA_PATH
from ._stream import build_status, stream_status

__all__ = ["OAUTH_CALLBACK_PATH", "make_status_app"]

OAUTH_CALLBACK_PATH = "/oauth/callback"

logger = logging.getLogger(__name__)

#: How much of an unknown path a 404 repeats.
_SHOWN_PATH = 200


def make_status_app(context: StatusContext, token: str | None) -> ASGIApp:
    """The ASGI app serving /, /status, /status/schema, /healthz, /readyz and /metrics.

    With ``token``, every request must carry ``Authorization: Bearer <token>`` (or HTTP Basic
    with the token as password, which is what a browser can send); others get 401. Odd
    requests are refused before any of that (``RequestLimits``).
    """
    masker = context.masker
    schema_body = SCHEMA_PATH.read_bytes()

    async def status(request: Request) -> Response:
        try:
            query = parse_status_query(request.query_params.multi_items())
        except BadQuery as error:
            return json_response(
                {"error": masker.text(str(error)), "parameter": masker.text(error.parameter)},
                400,
            )
        if query.view == OVERVIEW:
            # Small whatever the tree: one body with its length costs the HTTP stack less
            # than a few chunks.
            return Response(await build_status(context, query), media_type="application/json")
        return PiecesResponse(stream_status(context, query))

    async def schema(request: Request) -> Response:
        return Response(schema_body, media_type="application/schema+json")

    async def healthz(request: Request) -> Response:
        return json_response({"status": "alive"})

    async def readyz(request: Request) -> Response:
        view = readiness_view(context.root(), context.readiness, masker)
        body: dict[str, object] = {"ready": view.ready, "reasons": view.reasons}
        if view.details:
            body["details"] = view.details
        return json_response(body, 200 if view.ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(await context.metrics().render(), media_type=CONTENT_TYPE)

    async def home(request: Request) -> Response:
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
            f"<p style='font:16px system-ui;margin:3em'>{html.escape(masker.text(text))}</p>"
        )
        return HTMLResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        shown = path if len(path) <= _SHOWN_PATH else path[:_SHOWN_PATH] + "…"
        return json_response({"error": f"no such page: {masker.text(shown)}"}, 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return json_response(
            {"error": f"{request.method[:20]} is not allowed here; use GET"},
            405,
            headers={"Allow": "GET, HEAD"},
        )

    async def crashed(request: Request, exc: Exception) -> Response:
        # Starlette sends this, then raises on to RequestLimits, which logs the error.
        return json_response({"error": FAILED_TO_ANSWER}, 500)

    routes = Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/status", status, methods=["GET"]),
            Route("/status/schema", schema, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route(OAUTH_CALLBACK_PATH, oauth_callback, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed, Exception: crashed},
    )
    # "/status/" is a 404, not a redirect built from the request's Host header.
    routes.router.redirect_slashes = False
    app: ASGIApp = routes
    if token is not None:
        # The authorization server sends a browser there: its unguessable state is the
        # credential.
        app = BearerTokenGuard(app, token, open_paths=(OAUTH_CALLBACK_PATH,))
    return RequestLimits(app)
