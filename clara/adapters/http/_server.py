"""Serve an ASGI app with hypercorn's trio worker, inside Clara's own trio run."""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.types import ASGIApp

__all__ = ["serve_http"]

logger = logging.getLogger(__name__)


async def serve_http(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``started`` with the URL bound.

    Port 0 takes any free port; the URL reports the one bound.

    Raises:
        OSError: the address cannot be bound (in use, not an address of this machine).
    """
    config = Config()
    bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    config.bind = [f"{bind_host}:{port}"]
    config.accesslog = None  # requests are not logged: they would carry tokens' shape
    config.errorlog = logging.getLogger("clara.adapters.http.server")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0

    class _Status:
        def started(self, binds: list[str] | None = None) -> None:
            url = binds[0] if binds else f"http://{bind_host}:{port}"
            task_status.started(url)

    await serve(app, config, task_status=_Status())  # type: ignore[arg-type]
