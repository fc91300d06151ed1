"""BearerTokenGuard: every request carries CLARA_STATUS_TOKEN, or it gets a 401."""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from ._responses import json_response

__all__ = ["BearerTokenGuard"]

#: Said to whoever sends no token or a wrong one: how to send it, never what was sent.
REFUSAL = "missing or wrong token: send Authorization: Bearer <CLARA_STATUS_TOKEN>"


class BearerTokenGuard:
    """ASGI middleware: 401 unless the request carries the token (Bearer, or Basic password).

    Exactly one ``Authorization`` header is read: two are refused rather than guessed
    between. Compares in constant time; never logs or echoes what was sent.

    Args:
        app: what a request with the token reaches.
        token: the token (``CLARA_STATUS_TOKEN``).
        open_paths: paths served without it (the OAuth callback, whose state is its own
            credential).
    """

    def __init__(self, app: ASGIApp, token: str, *, open_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self._token = token.encode()
        self._open = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self._open or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = json_response(
            {"error": REFUSAL},
            401,
            headers={"WWW-Authenticate": 'Bearer realm="clara", Basic realm="clara"'},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        sent = [value for name, value in scope.get("headers", ()) if name == b"authorization"]
        if len(sent) != 1:
            return False
        scheme, _, credentials = sent[0].strip().partition(b" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == b"bearer":
            return hmac.compare_digest(credentials, self._token)
        if scheme == b"basic":
            try:
                decoded = base64.b64decode(credentials, validate=True)
            except (binascii.Error, ValueError):
                return False
            _, colon, password = decoded.partition(b":")
            return bool(colon) and hmac.compare_digest(password, self._token)
        return False
