"""Serve a ``SandboxService`` with hypercorn's trio worker, TLS optional.

The service is meant to sit behind a TLS-terminating proxy or on a private network; with
``certfile`` and ``keyfile`` hypercorn terminates TLS itself. Requests are not logged: the
access log would show the shape of keys' traffic and nothing an operator needs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from ._app import SandboxService

__all__ = ["serve_sandboxes"]

logger = logging.getLogger(__name__)

_CLOSE_SECONDS = 60.0
"""How long removing every sandbox on the way out may take before it is abandoned."""


async def serve_sandboxes(
    service: SandboxService,
    host: str,
    port: int,
    *,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Remove what an earlier life left (``service.open``), serve ``service`` on
    ``host:port`` and remove idle sandboxes until cancelled, then remove the rest.

    ``started`` with the URL bound (port 0 takes a free port; the URL names the one bound).

    Raises:
        ValueError: only one of ``certfile`` and ``keyfile`` is given.
        OSError: the address cannot be bound, or the certificate cannot be read.
    """
    if (certfile is None) != (keyfile is None):
        raise ValueError("certfile and keyfile go together: give both for TLS, or neither")
    config = Config()
    bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    config.bind = [f"{bind_host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("clara.adapters.sandbox.server.hypercorn")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    config.h11_max_incomplete_size = 16 * 1024
    if certfile is not None and keyfile is not None:
        config.certfile = str(certfile)
        config.keyfile = str(keyfile)
    scheme = "https" if certfile is not None else "http"

    class _Status:
        def started(self, binds: list[str] | None = None) -> None:
            url = binds[0] if binds else f"{scheme}://{bind_host}:{port}"
            task_status.started(url)

    await service.open()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.reap_idle)
            await serve(service, config, task_status=_Status())  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_SECONDS):
            await service.close()
