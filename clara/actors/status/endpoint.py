"""StatusEndpoint: the actor that owns the status HTTP server, as a child of the root."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ...adapters.http import StatusContext, make_status_app, serve_http
from ...config import StatusSettings
from .. import Actor

__all__ = ["GetStatusUrl", "StatusEndpoint"]

logger = logging.getLogger(__name__)


class GetStatusUrl(msgspec.Struct, frozen=True):
    """Ask for the URL the endpoint is bound to (useful with port 0)."""


class StatusEndpoint(Actor):
    """Serves /status, /healthz, /readyz, /metrics and / while it runs.

    The server is a service of this actor's incarnation: if it dies, the actor crashes and its
    supervisor restarts it with backoff; if the address cannot be bound, the start fails with
    the reason (at first start, Clara does not come up and says why). While it runs, it has
    the context watch the tree's lifecycle events, so a poll counts the tree again only
    when something changed.

    Args:
        settings: host, port and token.
        context: what the endpoint shows.
    """

    def __init__(self, settings: StatusSettings, context: StatusContext) -> None:
        self.settings = settings
        self.status_context = context
        self.url: str | None = None

    async def on_start(self) -> None:
        token = self.settings.token.reveal() if self.settings.token is not None else None
        app = make_status_app(self.status_context, token)
        self.url = await self.context.start_service(
            serve_http, app, self.settings.host, self.settings.port, name="http"
        )
        self.status_context.watch.start(self.status_context.system)
        logger.info(
            "status endpoint at %s/status (%s)",
            self.url,
            "token required" if token else "loopback only, no token",
        )

    async def on_stop(self) -> None:
        self.status_context.watch.stop()

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetStatusUrl):
            return self.url
        raise TypeError(f"StatusEndpoint does not handle {type(message).__name__}")
