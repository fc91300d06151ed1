"""``python -m clara sandbox-server``: serve this host's sandboxes to Clara processes elsewhere.

It refuses to start without ``CLARA_SANDBOX_SERVER_KEY``; it serves the backend
``CLARA_SANDBOX_BACKEND`` names (``docker`` normally; ``bubblewrap`` works too; ``auto`` is
docker when ``CLARA_SANDBOX_IMAGE`` is set, else bubblewrap) with the ceilings of this
host's ``CLARA_SANDBOX_*`` limits, on ``CLARA_SANDBOX_SERVER_HOST:CLARA_SANDBOX_SERVER_PORT``.
TLS: meant to sit behind a TLS-terminating proxy or on a private network; ``--certfile`` and
``--keyfile`` make hypercorn terminate TLS itself. SIGINT and SIGTERM stop it after removing
every sandbox it made.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ..config import SandboxSettings, Settings

if TYPE_CHECKING:
    from ..adapters.sandbox import SandboxBackend, SandboxLimits
    from ..adapters.sandbox.server import SandboxService

__all__ = ["SandboxServerError", "add_sandbox_server_parser", "run_sandbox_server"]

logger = logging.getLogger(__name__)


class SandboxServerError(Exception):
    """The service cannot start; the message says why and what to set."""


def add_sandbox_server_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    server = commands.add_parser(
        "sandbox-server",
        help="serve this host's sandboxes to Clara processes without an engine",
        description=(
            "Serve sandboxes over HTTP with an API key (CLARA_SANDBOX_SERVER_KEY) for Clara "
            "processes whose CLARA_SANDBOX_BACKEND is remote. Put it behind a TLS-terminating "
            "proxy or on a private network, or give --certfile and --keyfile."
        ),
    )
    server.add_argument(
        "--host", help="the address to listen on (default CLARA_SANDBOX_SERVER_HOST)"
    )
    server.add_argument(
        "--port", type=int, help="the port (default CLARA_SANDBOX_SERVER_PORT; 0: any free one)"
    )
    server.add_argument("--certfile", type=Path, help="a PEM certificate: serve HTTPS")
    server.add_argument("--keyfile", type=Path, help="the certificate's PEM private key")


def run_sandbox_server(arguments: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGINT or SIGTERM; 0 then.

    Raises:
        SandboxServerError: no key, a backend that cannot be served, a bad TLS pair, or an
            address that cannot be bound.
    """
    from ..adapters.sandbox.server import SandboxService  # noqa: PLC0415 - this command only

    sandbox = settings.sandbox
    if not sandbox.server_keys:
        raise SandboxServerError(
            "CLARA_SANDBOX_SERVER_KEY is not set: the service refuses to run without an API "
            "key; set it to 16+ random characters (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    if (arguments.certfile is None) != (arguments.keyfile is None):
        raise SandboxServerError("--certfile and --keyfile go together: give both, or neither")
    for tls_file in (arguments.certfile, arguments.keyfile):
        if tls_file is not None and not tls_file.is_file():
            raise SandboxServerError(f"{tls_file} is not a readable file")
    host = arguments.host or sandbox.server_host
    port = sandbox.server_port if arguments.port is None else arguments.port
    if not 0 <= port <= 65535:
        raise SandboxServerError(f"--port must be 0 to 65535; got {port}")
    backend = _backend(sandbox, settings.runtime.data_dir)
    service = SandboxService(
        backend,
        {f"key-{index}": key.reveal() for index, key in enumerate(sandbox.server_keys, 1)},
        ceiling=_ceiling(sandbox),
        max_sandboxes=sandbox.max_running,
        max_output=max(sandbox.output_kb * 1024, 8 * 1024 * 1024),
    )
    try:
        trio.run(_serve, service, host, port, arguments.certfile, arguments.keyfile)
    except OSError as error:
        raise SandboxServerError(str(error)) from None
    finally:
        backend.close()
    return 0


async def _serve(
    service: SandboxService, host: str, port: int, certfile: Path | None, keyfile: Path | None
) -> None:
    from ..adapters.sandbox.server import serve_sandboxes  # noqa: PLC0415

    async with trio.open_nursery() as nursery:
        url = await nursery.start(
            lambda task_status: serve_sandboxes(
                service, host, port, certfile=certfile, keyfile=keyfile, task_status=task_status
            )
        )
        # The one line a supervisor (or a test) waits for: where it listens, what it serves.
        print(f"sandbox service ({service.backend.name}) listening on {url}", flush=True)
        logger.info("sandbox service (%s) listening on %s", service.backend.name, url)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("sandbox service: %s, stopping", signal.Signals(signum).name)
                break
        nursery.cancel_scope.cancel()


def _backend(sandbox: SandboxSettings, data_dir: Path) -> SandboxBackend:
    """What the service serves: the backend the host's settings choose, as Clara would make
    it (``auto``: docker when an engine answers with an image set, else bubblewrap); never
    ``remote`` (a service of services) nor ``none``."""
    from ..actors.sandbox import choose_backend  # noqa: PLC0415 - this command only
    from ..adapters.sandbox import SandboxError  # noqa: PLC0415

    if sandbox.backend in ("none", "remote"):
        raise SandboxServerError(
            f"CLARA_SANDBOX_BACKEND is {sandbox.backend}; the sandbox service serves docker or "
            "bubblewrap (or auto) sandboxes"
        )
    try:
        backend = choose_backend(sandbox, scope="sandbox-server")
    except SandboxError as error:
        raise SandboxServerError(str(error)) from None
    if backend is None:
        raise SandboxServerError(
            "CLARA_SANDBOX_BACKEND is auto and this host has neither a container engine (with "
            "CLARA_SANDBOX_IMAGE) nor bwrap"
        )
    return backend


def _ceiling(sandbox: SandboxSettings) -> SandboxLimits:
    from ..adapters.sandbox import SandboxLimits  # noqa: PLC0415 - this command only

    return SandboxLimits(
        memory_mb=sandbox.memory_mb,
        cpus=sandbox.cpus,
        pids=sandbox.pids,
        work_mb=sandbox.work_mb,
        network=False,
    )
