"""A fake OAuth provider on loopback for the OAuth mail tests (no tests here).

Real HTTP in a thread of its own (dovecot's auth process calls it, outside trio's clock):

- ``GET /authorize``: the consent page. Checks the client and PKCE's S256, then sends the
  browser back to ``redirect_uri`` with a one-time code (or ``error=access_denied`` when
  ``deny`` is set).
- ``POST /token``: ``authorization_code`` (the code once, the same ``redirect_uri``, the PKCE
  verifier that hashes to the challenge, the client secret) and ``refresh_token`` grants;
  each issues a new access token (``expires_in`` seconds) and refresh token, and retires the
  previous access token. A refused grant is ``400 {"error": "invalid_grant"}``.
- ``POST /introspect`` (RFC 7662, for dovecot's oauth2 passdb): ``{"active": true,
  "username": ...}`` for a live access token, ``{"active": false}`` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeProvider"]


class FakeProvider:
    """The provider's state, and its server (``start`` / ``close``)."""

    def __init__(
        self,
        *,
        client_id: str = "clara-test-client",
        client_secret: str = "client-secret-0123456789",
        expires_in: int = 3600,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.deny = False
        self.user: str | None = None
        """Who the person signs in as; None: the ``login_hint`` of the link."""
        self.codes: dict[str, dict[str, str]] = {}
        self.live_access: dict[str, str] = {}
        """Access token → user, for the tokens introspection calls active."""
        self.refresh_tokens: dict[str, str] = {}
        self.grants: list[str] = []
        """Every grant type asked for, refused ones included."""
        self.refused: list[str] = []
        self.authorizations: list[dict[str, str]] = []
        self.introspections = 0
        self.issued: list[str] = []
        """Every code and token handed out (none may ever appear in a log or a page)."""
        self._server: ThreadingHTTPServer | None = None

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider._get(self)

            def do_POST(self) -> None:
                provider._post(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what a test does to it ---------------------------------------------------------------

    def retire_access_tokens(self) -> None:
        """Every access token is refused from now on (revoked before its expiry)."""
        with self.lock:
            self.live_access.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token is refused from now on (the person revoked Clara's access)."""
        with self.lock:
            self.refresh_tokens.clear()

    def current_access_token(self) -> str:
        with self.lock:
            (token,) = self.live_access
            return token

    # -- HTTP ---------------------------------------------------------------------------------

    def _get(self, request: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/authorize":
            return _answer(request, 404, {"error": "not_found"})
        with self.lock:
            self.authorizations.append(query)
        good = (
            query.get("response_type") == "code"
            and query.get("client_id") == self.client_id
            and query.get("code_challenge_method") == "S256"
            and len(query.get("code_challenge", "")) == 43
            and query.get("redirect_uri", "").startswith("http")
            and query.get("state")
        )
        if not good:
            return _answer(request, 400, {"error": "invalid_request"})
        back: dict[str, str] = {"state": query["state"]}
        if self.deny:
            back.update(error="access_denied", error_description="The person said no")
        else:
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = {
                    "challenge": query["code_challenge"],
                    "redirect_uri": query["redirect_uri"],
                    "user": self.user or query.get("login_hint", ""),
                }
                self.issued.append(code)
            back["code"] = code
        request.send_response(302)
        request.send_header("Location", query["redirect_uri"] + "?" + urllib.parse.urlencode(back))
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(request.rfile.read(length).decode()))
        path = urllib.parse.urlsplit(request.path).path
        if path == "/introspect":
            with self.lock:
                self.introspections += 1
                user = self.live_access.get(form.get("token", ""))
            answer: dict[str, Any] = (
                {"active": True, "username": user} if user else {"active": False}
            )
            return _answer(request, 200, answer)
        if path != "/token":
            return _answer(request, 404, {"error": "not_found"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return _answer(request, 401, {"error": "invalid_client"})
        grant = form.get("grant_type", "")
        with self.lock:
            self.grants.append(grant)
            user = self._grant(grant, form)
            if user is None:
                self.refused.append(grant)
                return _answer(request, 400, {"error": "invalid_grant"})
            access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            self.live_access = {
                token: owner for token, owner in self.live_access.items() if owner != user
            }
            self.live_access[access] = user
            self.refresh_tokens[refresh] = user
            self.issued += [access, refresh]
        return _answer(
            request,
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": refresh,
                "scope": "mail",
            },
        )

    def _grant(self, grant: str, form: dict[str, str]) -> str | None:
        """The user a grant is for, or None when it is refused (called with the lock)."""
        if grant == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None or code["redirect_uri"] != form.get("redirect_uri"):
                return None
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code["challenge"]:
                return None
            return code["user"]
        if grant == "refresh_token":
            # A refresh token is used once: the answer carries the next one.
            return self.refresh_tokens.pop(form.get("refresh_token", ""), None)
        return None


def _answer(request: BaseHTTPRequestHandler, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)
