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

    started = False

    class _Status:
        def started(self, binds: list[str] | None = None) -> None:
            nonlocal started
            started = True
            url = binds[0] if binds else f"http://{bind_host}:{port}"
            task_status.started(url)

    try:
        await serve(app, config, task_status=_Status())  # type: ignore[arg-type]
    except BaseExceptionGroup as group:
        # hypercorn binds inside a nursery: a bind error arrives wrapped in a group.
        failure = _first_os_error(group)
        if started or failure is None:
            raise
        raise OSError(
            failure.errno, f"cannot serve on {bind_host}:{port}: {failure.strerror or failure}"
        ) from group
    except OSError as failure:
        if started:
            raise
        raise OSError(
            failure.errno, f"cannot serve on {bind_host}:{port}: {failure.strerror or failure}"
        ) from failure


def _first_os_error(group: BaseExceptionGroup[BaseException]) -> OSError | None:
    for error in group.exceptions:
        if isinstance(error, OSError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = _first_os_error(error)
            if found is not None:
                return found
    return None
