"""The OAuth providers mail accounts sign in with (IMAP XOAUTH2), built from the settings.

Two are built in and offered only when the operator registered Clara with them:

- ``google``: Gmail. ``CLARA_EMAIL_GOOGLE_CLIENT_ID`` and ``..._CLIENT_SECRET`` (Google's token
  endpoint wants the secret from every client). Scope ``https://mail.google.com/`` (the only
  one IMAP takes); ``access_type=offline&prompt=consent``, without which Google gives no
  refresh token (or only the first time).
- ``microsoft``: Outlook.com and Microsoft 365. ``CLARA_EMAIL_MICROSOFT_CLIENT_ID``, and
  ``..._CLIENT_SECRET`` for a web app (a public client has none); the tenant is
  ``CLARA_EMAIL_MICROSOFT_TENANT`` (``common``). Scopes
  ``https://outlook.office.com/IMAP.AccessAsUser.All offline_access``.

Any other (a self-hosted Keycloak in front of dovecot, the tests' fake) is the operator's:
``CLARA_EMAIL_OAUTH_PROVIDERS`` is a JSON object of ``name → {authorization_url, token_url,
scopes, imap_host, imap_port, imap_tls, client_id, client_secret, authorization_params}``.
URLs must be https (http only to this machine); IMAP without TLS only to this machine too,
as XOAUTH2 sends a bearer token that anyone on the path could replay. Every problem is a
``ConfigError`` that names the variable, the provider and the field, never a secret.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec

from ...config import EmailSettings, Secret
from ...errors import ConfigError

__all__ = ["BUILT_IN_PROVIDERS", "OAuthProvider", "oauth_providers"]

#: The built-in providers' names (an operator's provider may not take one).
BUILT_IN_PROVIDERS = ("google", "microsoft")

_VARIABLE = "CLARA_EMAIL_OAUTH_PROVIDERS"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,99}")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_PARAM = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FIELDS = frozenset(
    {
        "title",
        "authorization_url",
        "token_url",
        "scopes",
        "imap_host",
        "imap_port",
        "imap_tls",
        "client_id",
        "client_secret",
        "authorization_params",
    }
)
#: Parameters the flow sets itself; an operator's may not replace them.
_FLOW_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "state",
        "scope",
        "resource",
    }
)


class OAuthProvider(msgspec.Struct, frozen=True, kw_only=True):
    """One place mail accounts sign in with OAuth, and the IMAP server that takes its tokens.

    ``repr`` never shows the client secret.
    """

    name: str
    """Clara's name for it: what ``/email connect provider:<name>`` takes."""
    title: str
    """For people: ``Google``."""
    authorization_url: str
    token_url: str
    scopes: tuple[str, ...]
    imap_host: str
    imap_port: int = 993
    imap_tls: bool = True
    client_id: str
    client_secret: Secret | None = None
    authorization_params: tuple[tuple[str, str], ...] = ()
    """More query parameters of the link (Google's ``access_type=offline``)."""

    def __repr__(self) -> str:
        secret = "None" if self.client_secret is None else "'****'"
        return (
            f"OAuthProvider(name={self.name!r}, authorization_url={self.authorization_url!r}, "
            f"token_url={self.token_url!r}, scopes={self.scopes!r}, imap_host="
            f"{self.imap_host!r}, imap_port={self.imap_port!r}, imap_tls={self.imap_tls!r}, "
            f"client_id={self.client_id!r}, client_secret={secret})"
        )

    __str__ = __repr__


def _google(email: EmailSettings) -> OAuthProvider | None:
    if not email.google_client_id:
        if email.google_client_secret is not None:
            raise ConfigError(
                "CLARA_EMAIL_GOOGLE_CLIENT_SECRET is set, so CLARA_EMAIL_GOOGLE_CLIENT_ID (the "
                "client it belongs to) is required; it is not set"
            )
        return None
    if email.google_client_secret is None:
        raise ConfigError(
            "CLARA_EMAIL_GOOGLE_CLIENT_ID is set, so CLARA_EMAIL_GOOGLE_CLIENT_SECRET is "
            "required (Google's token endpoint wants it from every client); it is not set"
        )
    _check_client_id("CLARA_EMAIL_GOOGLE_CLIENT_ID", email.google_client_id)
    return OAuthProvider(
        name="google",
        title="Google",
        authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        scopes=("https://mail.google.com/",),
        imap_host="imap.gmail.com",
        client_id=email.google_client_id,
        client_secret=email.google_client_secret,
        authorization_params=(("access_type", "offline"), ("prompt", "consent")),
    )


def _microsoft(email: EmailSettings) -> OAuthProvider | None:
    if not email.microsoft_client_id:
        if email.microsoft_client_secret is not None:
            raise ConfigError(
                "CLARA_EMAIL_MICROSOFT_CLIENT_SECRET is set, so CLARA_EMAIL_MICROSOFT_CLIENT_ID "
                "(the application it belongs to) is required; it is not set"
            )
        return None
    _check_client_id("CLARA_EMAIL_MICROSOFT_CLIENT_ID", email.microsoft_client_id)
    tenant = email.microsoft_tenant
    if not _TENANT.fullmatch(tenant):
        raise ConfigError(
            "CLARA_EMAIL_MICROSOFT_TENANT must be common, organizations, consumers, a tenant "
            f"id or a domain (letters, digits, '.', '-'); got {tenant!r}"[:300]
        )
    base = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
    return OAuthProvider(
        name="microsoft",
        title="Microsoft",
        authorization_url=f"{base}/authorize",
        token_url=f"{base}/token",
        scopes=("https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"),
        imap_host="outlook.office365.com",
        client_id=email.microsoft_client_id,
        client_secret=email.microsoft_client_secret,
    )


def _check_client_id(variable: str, client_id: str) -> None:
    if len(client_id) > 200 or not all(33 <= ord(char) < 127 for char in client_id):
        raise ConfigError(
            f"{variable} must be the client id the provider gave (printable ASCII without "
            f"spaces, at most 200 characters); got {len(client_id)} characters"
        )


def _is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _Problem(Exception):
    """One field of one provider is wrong (becomes the ConfigError naming both)."""


def _url(entry: Mapping[str, Any], field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value:
        raise _Problem(f"{field} is required: the provider's URL")
    if len(value) > 500:
        raise _Problem(f"{field} is longer than 500 characters")
    parts = urllib.parse.urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise _Problem(f"{field} must be an https URL without a user name or password")
    if parts.scheme == "http" and not _is_loopback(host):
        raise _Problem(f"{field} must be https (http only to this machine: loopback)")
    if parts.fragment:
        raise _Problem(f"{field} must have no #fragment")
    return value


def _scopes(entry: Mapping[str, Any]) -> tuple[str, ...]:
    value = entry.get("scopes", ())
    words = value.split() if isinstance(value, str) else value
    if not isinstance(words, list | tuple) or not all(
        isinstance(word, str) and word and word.isprintable() and " " not in word for word in words
    ):
        raise _Problem("scopes must be a list of scope names (or one string, space-separated)")
    return tuple(words)


def _operator_provider(name: str, entry: Any) -> OAuthProvider:
    if not isinstance(entry, dict):
        raise _Problem("must be a JSON object of its fields")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise _Problem(
            f"has unknown fields {', '.join(unknown)[:200]}; known: {', '.join(sorted(_FIELDS))}"
        )
    host = entry.get("imap_host")
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        raise _Problem("imap_host is required: the IMAP server's host name or address")
    port = entry.get("imap_port", 993)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _Problem("imap_port must be an integer from 1 to 65535")
    tls = entry.get("imap_tls", True)
    if not isinstance(tls, bool):
        raise _Problem("imap_tls must be true or false")
    if not tls and not _is_loopback(host):
        raise _Problem(
            "imap_tls may be false only for an IMAP server on this machine (loopback): "
            "XOAUTH2 sends a bearer token anyone on the way could use"
        )
    client_id = entry.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise _Problem("client_id is required: Clara's client at the provider")
    try:
        _check_client_id("client_id", client_id)
    except ConfigError as error:
        raise _Problem(str(error)) from None
    secret = entry.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise _Problem("client_secret must be a non-empty string, or left out")
    title = entry.get("title", name)
    if not isinstance(title, str) or not title or len(title) > 64:
        raise _Problem("title must be a short name for people (at most 64 characters)")
    params = entry.get("authorization_params", {})
    if not isinstance(params, dict) or not all(
        isinstance(key, str)
        and _PARAM.fullmatch(key)
        and key not in _FLOW_PARAMS
        and isinstance(value, str)
        and len(value) <= 200
        for key, value in params.items()
    ):
        raise _Problem(
            "authorization_params must map parameter names to strings, none of the flow's "
            f"own ({', '.join(sorted(_FLOW_PARAMS))})"
        )
    return OAuthProvider(
        name=name,
        title=title,
        authorization_url=_url(entry, "authorization_url"),
        token_url=_url(entry, "token_url"),
        scopes=_scopes(entry),
        imap_host=host,
        imap_port=port,
        imap_tls=tls,
        client_id=client_id,
        client_secret=None if secret is None else Secret(secret),
        authorization_params=tuple(sorted(params.items())),
    )


def _operator_providers(text: str) -> list[OAuthProvider]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        # The position only: the text around it may be a secret.
        raise ConfigError(
            f"{_VARIABLE} must be a JSON object; it is not valid JSON (line {error.lineno} "
            f"column {error.colno}: {error.msg})"
        ) from None
    except (ValueError, RecursionError):
        raise ConfigError(f"{_VARIABLE} must be a JSON object; it cannot be read") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"{_VARIABLE} must be a JSON object of providers by name "
            '({"name": {"authorization_url": ..., ...}}); got a JSON '
            f"{type(document).__name__}"
        )
    providers = []
    for name, entry in document.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                f"{_VARIABLE}: a provider's name must be 1-32 lower-case letters, digits, '_' "
                f"or '-', starting with a letter; got {str(name)[:40]!r}"
            )
        if name in BUILT_IN_PROVIDERS:
            raise ConfigError(
                f"{_VARIABLE}: {name} is a built-in provider (set CLARA_EMAIL_"
                f"{name.upper()}_CLIENT_ID instead); give yours another name"
            )
        try:
            providers.append(_operator_provider(name, entry))
        except _Problem as problem:
            raise ConfigError(f"{_VARIABLE}: provider {name}: {problem}") from None
    return providers


def oauth_providers(email: EmailSettings) -> dict[str, OAuthProvider]:
    """Every provider the operator configured, by name: the built-in ones with a client id,
    then the operator's own (``CLARA_EMAIL_OAUTH_PROVIDERS``).

    Raises:
        ConfigError: a provider is half configured or malformed; the message names the
            variable (and the provider and field), never a secret.
    """
    found = [_google(email), _microsoft(email)]
    if email.oauth_providers is not None:
        found.extend(_operator_providers(email.oauth_providers.reveal()))
    return {provider.name: provider for provider in found if provider is not None}
