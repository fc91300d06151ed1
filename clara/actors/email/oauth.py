"""Connecting a mail account by signing in with OAuth (Gmail, Outlook, the operator's own).

``EmailOAuth.start`` makes a flow (the MCP servers' ``OAuthFlow``: PKCE with S256 and an
unguessable ``state``) for a provider the operator registered Clara with, and gives the
person a link to the provider's consent page. The provider sends their browser back to the
status endpoint's ``/oauth/callback``, which hands ``state``, ``code`` and ``error`` to
``finish``: the code is exchanged for tokens (with the PKCE verifier), the tokens are tried
on the IMAP server (XOAUTH2 login, then EXAMINE INBOX) and only then is the account saved
(its tokens encrypted) and ``on_connected`` called. Whatever fails on the way (consent
refused, a bad or replayed code, a login refused) saves nothing and gives the browser a
page that says what happened; no page ever shows a token.

A flow waits 30 minutes (``FLOW_TIMEOUT``, on trio's clock) for its callback; a later one
is told the link expired. Flows live in memory, at most ``MAX_FLOWS`` (a person's fourth
replaces their oldest): a restart forgets them, and the person asks for a new link.

The one callback is shared with the MCP servers' flows: ``finish`` returns None for a
``state`` that is not one of its flows, and ``shared_oauth_callback`` tries it first, then
the MCP catalog's.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import trio

from ...adapters.email import (
    EmailError,
    ImapEndpoint,
    ImapLoginRefused,
    ImapSession,
    OAuthProvider,
    oauth_providers,
    open_session,
)
from ...adapters.mcp import (
    FLOW_TIMEOUT,
    AuthServer,
    FlowState,
    OAuthClient,
    OAuthError,
    OAuthFlow,
)
from ...config import Settings
from ...errors import ClaraError, ConfigError
from ...store import (
    Database,
    OAuthCredentials,
    SecretBox,
    audit,
    connect_oauth_email_account,
)

__all__ = [
    "FORGET_AFTER",
    "MAX_FLOWS",
    "MAX_FLOWS_PER_PERSON",
    "EmailOAuth",
    "check_email_oauth",
    "email_oauth",
    "oauth_redirect_url",
    "shared_oauth_callback",
]

logger = logging.getLogger(__name__)

#: Flows kept at once (each waits at most 30 minutes; expired ones are remembered a while).
MAX_FLOWS = 1000
#: One person's flows kept at once: a new one replaces their oldest.
MAX_FLOWS_PER_PERSON = 3
#: Seconds an expired or used flow is remembered, so its late callback is told so.
FORGET_AFTER = 6 * 3600.0

_ADDRESS = re.compile(
    r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?"
)
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


@dataclass
class _Flow:
    """One person's sign-in, waiting for its callback."""

    flow: OAuthFlow
    provider: OAuthProvider
    platform: str
    user_id: str
    display_name: str
    address: str
    alert_channel_id: str | None
    used: bool = False

    @property
    def person(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def again(self) -> str:
        return f"run /email connect provider:{self.provider.name} to try again"


class EmailOAuth:
    """OAuth sign-in for mail accounts (the ``OAuthConnector`` that ``/email connect
    provider:<name>`` hands over to): ``start`` gives the link, ``finish`` takes the
    callback.

    Args:
        providers: the providers configured (``oauth_providers(settings.email)``).
        database, secrets: where accounts and their tokens (encrypted) are saved.
        oauth: the HTTP side (code exchange; the token endpoint's URL checks).
        redirect_url: the status endpoint's ``/oauth/callback`` (or
            ``CLARA_MCP_OAUTH_REDIRECT_URL``): what the providers send people back to.
        on_connected: called with the account's id once it is saved (start or restart its
            watcher); what it raises is logged, the account stays saved.
        connect: opens an IMAP session (``open_session``; a test may wrap it).
        imap_timeout: seconds to connect and for each IMAP answer of the test login.
        limiter: bounds the worker threads of test logins.

    Raises:
        ValueError: providers are given but no redirect URL.
    """

    def __init__(
        self,
        providers: Mapping[str, OAuthProvider],
        *,
        database: Database,
        secrets: SecretBox,
        oauth: OAuthClient,
        redirect_url: str,
        on_connected: Callable[[int], Awaitable[None]],
        connect: Callable[[ImapEndpoint], ImapSession] = open_session,
        imap_timeout: float = 30.0,
        limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        if providers and not redirect_url:
            raise ValueError(
                "EmailOAuth needs a redirect URL (the status endpoint's /oauth/callback, or "
                "CLARA_MCP_OAUTH_REDIRECT_URL) for providers to send people back to"
            )
        self._providers = dict(providers)
        self.database = database
        self.secrets = secrets
        self.oauth = oauth
        self.redirect_url = redirect_url
        self.on_connected = on_connected
        self.connect = connect
        self.imap_timeout = imap_timeout
        self.limiter = limiter or trio.CapacityLimiter(4)
        self._flows: dict[str, _Flow] = {}

    # -- starting ---------------------------------------------------------------------------

    def providers(self) -> list[str]:
        """The names ``/email connect provider:<name>`` takes, in the order configured."""
        return list(self._providers)

    async def start(
        self,
        *,
        platform: str,
        user_id: str,
        display_name: str,
        provider: str,
        address: str,
        alert_channel_id: str | None,
    ) -> str:
        """A sign-in link for ``address`` at ``provider``, as text for the person (or what
        is wrong with the request: an unknown provider, an address that is not one)."""
        chosen = self._providers.get(provider)
        if chosen is None:
            offered = ", ".join(self._providers) or "none are configured"
            return f"There is no sign-in provider called {provider[:40]!r} (offered: {offered})."
        address = address.strip()
        if len(address) > 254 or not _ADDRESS.fullmatch(address):
            return f"{address[:60]!r} is not an email address (name@domain)."
        self._forget_old()
        server = AuthServer(
            issuer=chosen.authorization_url,
            authorization_endpoint=chosen.authorization_url,
            token_endpoint=chosen.token_url,
            scopes=chosen.scopes,
        )
        flow = OAuthFlow.configured(
            chosen.name,
            server,
            self.redirect_url,
            client_id=chosen.client_id,
            client_secret=None if chosen.client_secret is None else chosen.client_secret.reveal(),
            started_at=trio.current_time(),
            started_by=f"{platform}:{user_id}",
            authorization_params={**dict(chosen.authorization_params), "login_hint": address},
        )
        link = flow.authorization_url()
        self._keep(
            _Flow(
                flow=flow,
                provider=chosen,
                platform=platform,
                user_id=user_id,
                display_name=display_name,
                address=address,
                alert_channel_id=alert_channel_id,
            )
        )
        logger.info(
            "email oauth: %s:%s started signing %s in with %s",
            platform,
            user_id,
            address,
            chosen.name,
        )
        minutes = int(FLOW_TIMEOUT // 60)
        return (
            f"To connect {address}, sign in with {chosen.title} within {minutes} minutes "
            f"and allow Clara to read your mail. The page you come back to says whether it "
            f"worked.\n{link}"
        )

    def _keep(self, pending: _Flow) -> None:
        """Remember a new flow. Memory stays bounded: a person's oldest waiting flow beyond
        ``MAX_FLOWS_PER_PERSON``, and the oldest of all beyond ``MAX_FLOWS``, are dropped
        (a dropped flow's link is then unknown to the callback)."""
        theirs = [
            key
            for key, kept in self._flows.items()
            if kept.person == pending.person and not kept.used
        ]
        for key in theirs[: max(0, len(theirs) - MAX_FLOWS_PER_PERSON + 1)]:
            self._drop(key)
        while len(self._flows) >= MAX_FLOWS:
            self._drop(next(iter(self._flows)))
        self._flows[pending.flow.key] = pending

    def _drop(self, key: str) -> None:
        pending = self._flows.pop(key, None)
        if pending is not None:
            pending.flow.verifier = ""  # its secret goes with it
            pending.flow.client_secret = None

    def _forget_old(self) -> None:
        """Forget flows whose end is long past (dicts keep insertion order: oldest first)."""
        now = trio.current_time()
        for key, pending in list(self._flows.items()):
            if now < pending.flow.deadline + FORGET_AFTER:
                break
            self._drop(key)

    # -- finishing --------------------------------------------------------------------------

    async def finish(self, state: str, code: str, error: str) -> str | None:
        """The callback of one of this object's flows: the page's text; None when ``state``
        is not one of them (another flow's: MCP's).

        ``error`` is the provider's ``error`` (and description); only its code is repeated.
        """
        self._forget_old()
        pending = self._flows.get(state)
        if pending is None:
            return None
        flow, address = pending.flow, pending.address
        if pending.used:
            return (
                f"This sign-in link for {address} was already used. Nothing more was done; "
                f"{pending.again} if it did not work."
            )
        pending.used = True  # claimed: a second callback with this state does nothing
        if trio.current_time() >= flow.deadline:
            flow.advance(FlowState.ABANDONED, "no callback within 30 minutes")
            self._scrub(pending)
            await self._audit(pending, "expired", {})
            return (
                f"This sign-in link for {address} has expired (links last "
                f"{int(FLOW_TIMEOUT // 60)} minutes). Nothing was saved; {pending.again}."
            )
        try:
            return await self._finish(pending, code, error)
        finally:
            self._scrub(pending)

    def _scrub(self, pending: _Flow) -> None:
        """Forget the flow's secrets; keep the entry, so a replay is told it was used."""
        pending.flow.verifier = ""
        pending.flow.client_secret = None

    async def _finish(self, pending: _Flow, code: str, error: str) -> str:
        flow, provider, address = pending.flow, pending.provider, pending.address
        if error:
            word = (error.split(maxsplit=1) or [""])[0]
            said = word if _ERROR_CODE.fullmatch(word) else "refused"
            flow.advance(FlowState.FAILED, said)
            await self._audit(pending, "refused", {"error": said})
            if said == "access_denied":
                return (
                    f"You did not allow Clara to read {address} at {provider.title}. Nothing "
                    f"was saved; {pending.again}."
                )
            return (
                f"{provider.title} did not authorize Clara for {address} ({said}). Nothing was "
                f"saved; {pending.again}."
            )
        if not code:
            flow.advance(FlowState.FAILED, "no code")
            await self._audit(pending, "failed", {"error": "no code"})
            return (
                f"{provider.title} sent no authorization code back. Nothing was saved; "
                f"{pending.again}."
            )
        try:
            tokens = await self.oauth.exchange(flow, code)
        except OAuthError as failure:
            await self._audit(pending, "failed", {"error": str(failure)[:200]})
            return (
                f"Signing in with {provider.title} failed: {failure}. Nothing was saved; "
                f"{pending.again}."
            )
        if tokens.refresh_token is None and tokens.expires_at is not None:
            await self._audit(pending, "failed", {"error": "no refresh token"})
            return (
                f"{provider.title} gave Clara no refresh token, so the connection would stop "
                f"when the access token expires. Nothing was saved; {pending.again}."
            )
        endpoint = ImapEndpoint(
            host=provider.imap_host,
            port=provider.imap_port,
            username=address,
            access_token=tokens.access_token,
            use_tls=provider.imap_tls,
            timeout=self.imap_timeout,
        )
        problem = await self._try_login(endpoint)
        if problem is not None:
            await self._audit(pending, "failed", {"error": problem[:200]})
            return f"{problem} Nothing was saved; {pending.again}."
        credentials = OAuthCredentials(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            client_id=flow.client_id,
            client_secret=flow.client_secret,
            token_endpoint=provider.token_url,
        )
        connected = await self.database.write(
            connect_oauth_email_account,
            self.secrets,
            platform=pending.platform,
            platform_user_id=pending.user_id,
            display_name=pending.display_name,
            address=address,
            provider=provider.name,
            imap_host=provider.imap_host,
            imap_port=provider.imap_port,
            use_tls=provider.imap_tls,
            credentials=credentials,
            alert_channel_id=pending.alert_channel_id,
        )
        await self._audit(pending, "done", {"account": connected.id, "new": connected.created})
        logger.info(
            "email oauth: %s connected %s with %s (account %s)",
            pending.person,
            address,
            provider.name,
            connected.id,
        )
        try:
            await self.on_connected(connected.id)
        except ClaraError as failure:
            logger.warning(
                "email oauth: account %s saved, but its watcher did not start: %s",
                connected.id,
                failure,
            )
        verb = "now watches" if connected.created else "watches again"
        return (
            f"Connected: Clara {verb} {address} (signed in with {provider.title}). You can "
            "close this page."
        )

    async def _try_login(self, endpoint: ImapEndpoint) -> str | None:
        """Log in with the new token and EXAMINE INBOX, then log out: None if it worked,
        else what went wrong, for the person (never the token)."""

        def attempt() -> None:
            session = self.connect(endpoint)
            try:
                session.select_inbox()  # EXAMINE INBOX: read-only, as the watcher opens it
                with contextlib.suppress(EmailError):
                    session.logout()  # the test passed; a failed goodbye changes nothing
            finally:
                session.close()

        where = f"{endpoint.host}:{endpoint.port}"
        try:
            with trio.fail_after(self.imap_timeout * 3):
                await trio.to_thread.run_sync(attempt, limiter=self.limiter, abandon_on_cancel=True)
        except ImapLoginRefused:
            return (
                f"You signed in, but {where} refused Clara's access to {endpoint.username}: "
                "is that the account you signed in with?"
            )
        except EmailError as failure:
            return f"You signed in, but Clara could not open the inbox: {failure}."
        except trio.TooSlowError:
            return f"You signed in, but {where} did not answer in time."
        return None

    async def _audit(self, pending: _Flow, outcome: str, details: dict[str, object]) -> None:
        await self.database.write(
            audit,
            actor=pending.person,
            action="email.oauth_connect",
            target=pending.address,
            outcome=outcome,
            details={"provider": pending.provider.name, **details},
        )


def shared_oauth_callback(
    *handlers: Callable[[str, str, str], Awaitable[str | None]] | None,
) -> Callable[[str, str, str], Awaitable[str]]:
    """One ``/oauth/callback`` handler for several flow owners: each is asked in turn (a
    handler returns None for a ``state`` it does not know), the first answer is the page.
    None entries (a subsystem turned off) are skipped.

    For run.py: ``shared_oauth_callback(email_oauth.finish, mcp.oauth_callback)``.
    """
    chain = [handler for handler in handlers if handler is not None]

    async def callback(state: str, code: str, error: str) -> str:
        for handler in chain:
            answer = await handler(state, code, error)
            if answer is not None:
                return answer
        return "This sign-in link is unknown or has expired. Ask Clara for a new one."

    return callback


def oauth_redirect_url(settings: Settings) -> str:
    """Where providers send people back, as for MCP servers: CLARA_MCP_OAUTH_REDIRECT_URL,
    else the status endpoint's ``/oauth/callback``; empty when there is neither."""
    redirect = settings.mcp.oauth_redirect_url
    if not redirect and settings.status.enabled:
        redirect = f"http://{settings.status.host}:{settings.status.port}/oauth/callback"
    return redirect


def email_oauth(
    settings: Settings,
    *,
    database: Database,
    secrets: SecretBox,
    oauth: OAuthClient,
    on_connected: Callable[[int], Awaitable[None]],
) -> EmailOAuth:
    """``EmailOAuth`` with the providers and the redirect URL the settings give (no provider
    configured: one that offers none).

    Raises:
        ConfigError: a provider is malformed or half configured, or providers are
            configured but there is no redirect URL (naming the variables to set).
    """
    providers = check_email_oauth(settings)
    return EmailOAuth(
        providers,
        database=database,
        secrets=secrets,
        oauth=oauth,
        redirect_url=oauth_redirect_url(settings),
        on_connected=on_connected,
        imap_timeout=settings.email.imap_timeout,
    )


def check_email_oauth(settings: Settings) -> dict[str, OAuthProvider]:
    """The OAuth mail providers the settings configure, checked (run.py calls it at start,
    so a mistake is the usual one-line configuration error).

    Raises:
        ConfigError: a provider is malformed or half configured, or providers are
            configured but there is no redirect URL (naming the variables to set).
    """
    providers = oauth_providers(settings.email)
    if providers and not oauth_redirect_url(settings):
        raise ConfigError(
            f"OAuth mail providers are configured ({', '.join(providers)}), so Clara needs a "
            "redirect URL for them to send people back to: set CLARA_MCP_OAUTH_REDIRECT_URL, "
            "or enable the status endpoint (CLARA_STATUS_ENABLED)"
        )
    return providers
