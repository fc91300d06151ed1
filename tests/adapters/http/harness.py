"""A running tree with its status endpoint on a free loopback port, and a client for it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from clara.actors import ActorSystem
from clara.actors.status import GetStatusUrl, StatusEndpoint
from clara.adapters.http import StatusContext
from clara.config import Secret, StatusSettings
from clara.health import Readiness
from clara.supervisors import Backoff, ChildSpec, Supervisor

TOKEN = "s3cret-token-0123456789"


@dataclass
class Served:
    root: Supervisor
    system: ActorSystem
    url: str
    client: httpx.AsyncClient
    readiness: Readiness


@asynccontextmanager
async def serving(
    children: Sequence[ChildSpec] = (),
    *,
    token: str | None = None,
    backoff: Backoff | None = None,
    oauth_callback: Callable[[str, str, str], Awaitable[str]] | None = None,
    secrets: Sequence[str] = (),
    metrics: Sequence[Callable[[], Any]] = (),
) -> AsyncIterator[Served]:
    system = ActorSystem("clara")
    readiness = Readiness()
    root: Supervisor | None = None

    def the_root() -> Supervisor:
        assert root is not None
        return root

    context = StatusContext(
        the_root,
        system,
        readiness,
        version="9.9.9",
        started_at=time.time(),
        oauth_callback=oauth_callback,
        secrets=secrets,
        metrics=metrics,
    )
    settings = StatusSettings(
        host="127.0.0.1", port=0, token=Secret(token) if token is not None else None
    )
    root = Supervisor(
        [ChildSpec("status", lambda: StatusEndpoint(settings, context)), *children],
        backoff=backoff or Backoff(min=30.0, jitter=0.0),
        max_restarts=100,
        max_seconds=1000,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        url = await root.ref("status").ask(GetStatusUrl())
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Served(root, system, url, client, readiness)
        await root.stop()
