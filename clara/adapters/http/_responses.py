"""The endpoint's JSON responses: one encoder, one shape for errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["FAILED_TO_ANSWER", "PiecesResponse", "json_response"]

#: The whole of a 500's body: the error and its traceback go to the log (masked there).
FAILED_TO_ANSWER = "the status endpoint failed to answer; the log says why"

_encoder = msgspec.json.Encoder()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``body`` as JSON. Errors are ``{"error": "<one line>"}`` (plus ``parameter`` for a
    bad query parameter); their text is masked by whoever builds them."""
    return Response(
        _encoder.encode(body), status_code=status, media_type="application/json", headers=headers
    )


class PiecesResponse(Response):
    """A JSON body sent as its pieces come, without a length (chunked, or to the close).

    Starlette's ``StreamingResponse`` listens for the client's disconnect in a task of its
    own; under hypercorn's trio worker that kept a connection that must close (HTTP/1.0, or
    ``Connection: close``) open for good once the body was sent, so an HTTP/1.0 client
    waiting for the close waited forever. This sends the pieces and ends, nothing more: a
    client that leaves early costs the rest of one document, which hypercorn drops.
    A HEAD request is answered without making the body at all.
    """

    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        super().__init__(media_type="application/json")
        self.pieces = pieces
        del self.headers["content-length"]  # the length is not known in advance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") != "HEAD":
            async for piece in self.pieces:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
