"""A remote MCP server behind OAuth, on loopback: the far end of Clara's OAuth client.

One ASGI app plays both roles, as many real deployments do:

- the **authorization server**: RFC 8414 metadata, dynamic client registration (RFC 7591),
  ``/authorize`` (checks the client, the redirect URI and the PKCE challenge, then redirects
  with a code and the state), ``/token`` (authorization_code with the PKCE verifier checked,
  and refresh_token);
- the **resource**: the test tools (``tools_server.build_server``) over streamable HTTP at
  ``/mcp``, answering 401 with ``WWW-Authenticate: Bearer resource_metadata=…`` to a request
  without a valid access token, and RFC 9728 metadata naming the authorization server.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from clara.adapters.http import serve_http
from tests.actors.mcp.tools_server import build_server


@dataclass
class FakeOAuthServer:
    base: str = ""
    expires_in: int = 3600
    clients: dict[str, list[str]] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)
    """``authorization_code`` / ``refresh_token``, in the order they were granted."""
    refused: list[str] = field(default_factory=list)
    """Why requests to /mcp or /token were refused."""
    hint: str = ""
    """The ``resource_metadata`` URL the 401 names (empty: this server's own)."""
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        mcp_app = build_server().streamable_http_app()
        oauth_app = Starlette(
            routes=[
                Route("/.well-known/oauth-protected-resource/mcp", self._resource, methods=["GET"]),
                Route("/.well-known/oauth-authorization-server", self._metadata, methods=["GET"]),
                Route("/register", self._register, methods=["POST"]),
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
            ]
        )

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await mcp_app(scope, receive, send)  # runs the MCP session manager
            elif scope["path"].startswith("/mcp"):
                if self._authorized(scope):
                    await mcp_app(scope, receive, send)
                else:
                    metadata = self.hint or f"{self.base}/.well-known/oauth-protected-resource/mcp"
                    response = JSONResponse(
                        {"error": "invalid_token"},
                        401,
                        headers={"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"'},
                    )
                    await response(scope, receive, send)
            else:
                await oauth_app(scope, receive, send)

        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_http, app, "127.0.0.1", 0)
            self.base = url
            task_status.started(url)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                token = value.decode().removeprefix("Bearer ").strip()
                if token in self.access_tokens:
                    return True
                self.refused.append("unknown access token")
                return False
        self.refused.append("no access token")
        return False

    async def _resource(self, request: Request) -> Response:
        return JSONResponse({"resource": f"{self.base}/mcp", "authorization_servers": [self.base]})

    async def _metadata(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "registration_endpoint": f"{self.base}/register",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }
        )

    async def _register(self, request: Request) -> Response:
        body = await request.json()
        client_id = f"client-{next(self._ids)}"
        self.clients[client_id] = list(body["redirect_uris"])
        return JSONResponse({**body, "client_id": client_id}, 201)

    async def _authorize(self, request: Request) -> Response:
        """What a person's browser gets after signing in: a redirect back with a code."""
        query = request.query_params
        client = query.get("client_id", "")
        redirect = query.get("redirect_uri", "")
        if redirect not in self.clients.get(client, []):
            return JSONResponse({"error": "invalid_client"}, 400)
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "why": "PKCE S256 required"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": client,
            "redirect_uri": redirect,
            "challenge": query["code_challenge"],
            "resource": query.get("resource", ""),
        }
        state = urllib.parse.quote(query.get("state", ""))
        return RedirectResponse(f"{redirect}?code={code}&state={state}", 302)

    def _issue(self, grant: str) -> Response:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        self.grants.append(grant)
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": refresh,
            }
        )

    async def _token(self, request: Request) -> Response:
        form = dict(await request.form())
        if form.get("grant_type") == "authorization_code":
            issued = self.codes.pop(str(form.get("code", "")), None)
            if issued is None or issued["client_id"] != form.get("client_id"):
                self.refused.append("bad code")
                return JSONResponse({"error": "invalid_grant"}, 400)
            verifier = str(form.get("code_verifier", "")).encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if digest.decode() != issued["challenge"]:
                self.refused.append("PKCE verifier does not match")
                return JSONResponse({"error": "invalid_grant"}, 400)
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return self._issue("authorization_code")
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                self.refused.append("bad refresh token")
                return JSONResponse({"error": "invalid_grant"}, 400)
            self.refresh_tokens.discard(str(form["refresh_token"]))
            return self._issue("refresh_token")
        return JSONResponse({"error": "unsupported_grant_type"}, 400)
