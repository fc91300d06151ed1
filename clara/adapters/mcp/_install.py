"""Installing an MCP server from a checked source, and test-starting it.

Every command is an argument list (``trio.run_process``, never a shell), built from the parts
of an ``InstallSource`` that passed its grammar, and runs under a time limit (the process is
killed when it runs out). npm installs run with ``--ignore-scripts``: a package's install
scripts are arbitrary code, and an MCP server runs without them (one that needs a build step
is better installed as an image). A failed installation removes what it made.

A URL source's host is resolved before the first connection, and every address it has must
be of the class its source was accepted for (``_hosts``): a public name that resolves to a
loopback, private or link-local address is refused, so a DNS record cannot turn a public
source into a probe of this machine's network.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

import httpx2
import trio

from ...errors import InstallError, NeedsAuthorization, SourceError
from ..llm import ToolSpec
from ..sandbox import cli_flags, mcp_profile
from ._connection import McpConnection, McpEndpoint, leaf_errors
from ._hosts import BadHost, Network, Resolver, check_addresses, system_resolver
from ._reaper import Reaper
from ._sources import InstallSource
from ._urls import parse_url

__all__ = ["InstallError", "Installer", "NeedsAuthorization", "test_start"]

logger = logging.getLogger(__name__)

_OUTPUT_TAIL = 600


def _tail(data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    return text[-_OUTPUT_TAIL:]


class Installer:
    """Turns a source into an endpoint, installing what needs installing under ``root``.

    Args:
        root: where installations go (one folder per server).
        timeout: seconds an installation may take.
        container_engine: ``podman`` or ``docker`` for image sources ("" refuses them).
        container_network: the network those containers join (``none``: no network).
        npm_registry: the registry npm installs from ("" : npm's configured one).
        resolve: how a URL source's host is resolved (the system's resolver by default).
    """

    def __init__(
        self,
        root: Path,
        *,
        timeout: float = 120.0,
        container_engine: str = "",
        container_network: str = "none",
        npm_registry: str = "",
        npm: str = "npm",
        node: str = "node",
        resolve: Resolver = system_resolver,
    ) -> None:
        self.root = root
        self.timeout = timeout
        self.container_engine = container_engine
        self.container_network = container_network
        self.npm_registry = npm_registry
        self.npm = npm
        self.node = node
        self.resolve = resolve

    async def install(self, name: str, source: InstallSource) -> tuple[McpEndpoint, str | None]:
        """The endpoint to start the server with, and the folder made for it (or None).

        Raises:
            SourceError: a URL source's host resolves to an address it may not reach.
            InstallError: the installation failed (the message says where).
        """
        if source.kind == "url":
            await self._check_reach(source)
            transport = "sse" if source.url.rstrip("/").endswith("/sse") else "http"
            return McpEndpoint(name=name, transport=transport, url=source.url), None
        if source.kind == "path":
            return self._local(name, Path(source.path)), None
        if source.kind == "image":
            return await self._image(name, source), None
        folder = self.root / name
        if folder.exists():
            raise InstallError(f"{folder} exists already: uninstall {name!r} first")
        try:
            spec = (
                source.package + (f"@{source.version}" if source.version else "")
                if source.kind == "npm"
                else f"github:{source.owner}/{source.repo}"
                + (f"#{source.ref}" if source.ref else "")
            )
            return await self._npm(name, folder, spec), str(folder)
        except BaseException:
            await trio.to_thread.run_sync(shutil.rmtree, folder, True)
            raise

    async def _check_reach(self, source: InstallSource) -> None:
        """Every address of the URL's host is public, or of the class its host was named as
        (an internal host passed ``check_allowed`` only because the operator named it)."""
        url = parse_url(source.url)
        allowed = {Network.PUBLIC}
        if source.network:
            allowed.add(Network(source.network))
        try:
            await check_addresses(url.host, url.effective_port, allowed, self.resolve)
        except BadHost as error:
            raise SourceError(f"URL source: {error}") from None

    async def remove(self, folder: str | None) -> None:
        """Delete what an installation made (only ever under ``root``)."""
        if not folder:
            return
        await trio.to_thread.run_sync(self._remove, folder)

    def _remove(self, folder: str) -> None:
        path = Path(os.path.realpath(folder))
        root = Path(os.path.realpath(self.root))
        if root not in path.parents:
            logger.warning("not removing %s: it is not under %s", path, root)
            return
        shutil.rmtree(path, ignore_errors=True)

    async def _run(self, command: list[str], what: str) -> bytes:
        with trio.move_on_after(self.timeout) as scope:
            try:
                result = await trio.run_process(
                    command,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    # Its own process group, all of it killed at the time limit: npm runs
                    # node, git and more, and none of them may outlive the attempt.
                    start_new_session=True,
                    deliver_cancel=_kill_group,
                )
            except OSError as error:
                raise InstallError(f"{what}: cannot run {command[0]}: {error}") from error
        if scope.cancelled_caught:
            raise InstallError(f"{what}: did not finish within {self.timeout:g}s (stopped)")
        if result.returncode != 0:
            raise InstallError(
                f"{what} failed (exit {result.returncode}): {_tail(result.stderr or result.stdout)}"
            )
        return bytes(result.stdout)

    async def _npm(self, name: str, folder: Path, spec: str) -> McpEndpoint:
        await trio.to_thread.run_sync(lambda: folder.mkdir(parents=True))
        await trio.to_thread.run_sync(
            (folder / "package.json").write_text, json.dumps({"name": f"clara-mcp-{name}"})
        )
        command = [
            self.npm,
            "install",
            "--prefix",
            str(folder),
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--omit=dev",
            "--no-package-lock",
        ]
        if self.npm_registry:
            command += ["--registry", self.npm_registry]
        await self._run([*command, "--", spec], f"npm install {spec}")
        manifest = json.loads((folder / "package.json").read_text())
        packages = list(manifest.get("dependencies", {}))
        if len(packages) != 1:
            raise InstallError(f"npm install {spec}: expected one package, found {packages}")
        return self._node_package(name, folder / "node_modules" / packages[0])

    def _node_package(self, name: str, package: Path) -> McpEndpoint:
        try:
            manifest = json.loads((package / "package.json").read_text())
        except (OSError, ValueError) as error:
            raise InstallError(f"{package}: no readable package.json: {error}") from error
        entry = manifest.get("bin")
        if isinstance(entry, dict):
            short = str(manifest.get("name", "")).rsplit("/", 1)[-1]
            entry = entry.get(short) or (next(iter(entry.values())) if len(entry) == 1 else None)
        if not isinstance(entry, str):
            entry = manifest.get("main")
        if not isinstance(entry, str):
            raise InstallError(f"{package}: package.json names no bin or main to run")
        script = (package / entry).resolve()
        if package.resolve() not in script.parents or not script.is_file():
            raise InstallError(f"{package}: its entry point {entry!r} is not a file in the package")
        return McpEndpoint(name=name, command=self.node, args=(str(script),), cwd=str(package))

    def _local(self, name: str, path: Path) -> McpEndpoint:
        if path.is_dir():
            if (path / "package.json").is_file():
                return self._node_package(name, path)
            raise InstallError(f"{path}: a folder needs a package.json (or give the script)")
        if path.suffix == ".py":
            return McpEndpoint(
                name=name, command=sys.executable, args=(str(path),), cwd=str(path.parent)
            )
        if path.suffix in (".js", ".mjs", ".cjs"):
            return McpEndpoint(
                name=name, command=self.node, args=(str(path),), cwd=str(path.parent)
            )
        if os.access(path, os.X_OK):
            return McpEndpoint(name=name, command=str(path), cwd=str(path.parent))
        raise InstallError(f"{path}: not a .py, .js or executable file")

    async def _image(self, name: str, source: InstallSource) -> McpEndpoint:
        engine = self.container_engine
        if not engine:
            raise InstallError("image sources need CLARA_MCP_CONTAINER_ENGINE (podman or docker)")
        try:
            await self._run([engine, "image", "inspect", "--", source.image], "image inspect")
        except InstallError:
            await self._run([engine, "pull", "--", source.image], f"{engine} pull {source.image}")
        return McpEndpoint(
            name=name,
            command=engine,
            # The hardening profile sandboxes use too (one definition of the flags); an MCP
            # server keeps its image's user, a writable root and the operator's network.
            args=(
                "run",
                "-i",
                "--rm",
                *cli_flags(mcp_profile(self.container_network)),
                source.image,
            ),
        )


async def _kill_group(process: trio.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class _Challenges(httpx2.Auth):
    """Remembers a 401's ``WWW-Authenticate`` (the SDK reports only that the request failed)."""

    def __init__(self, inner: httpx2.Auth | None) -> None:
        self.inner = inner
        self.challenge: str | None = None

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        flow = self.inner.async_auth_flow(request) if self.inner is not None else None
        outgoing = await flow.__anext__() if flow is not None else request
        while True:
            response = yield outgoing
            if response.status_code == 401:
                self.challenge = response.headers.get("www-authenticate", "")
            if flow is None:
                return
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


async def test_start(
    endpoint: McpEndpoint,
    *,
    timeout: float,
    reaper: Reaper | None = None,
    auth: httpx2.Auth | None = None,
) -> list[ToolSpec]:
    """Start the server, list its tools, stop it.

    Raises:
        NeedsAuthorization: a remote server answered 401 (and there was no usable token).
        InstallError: it did not start, or not within ``timeout`` seconds.
    """
    challenges = _Challenges(auth) if endpoint.transport != "stdio" else None
    connection = McpConnection(endpoint, reaper=reaper, auth=challenges)
    try:
        with trio.fail_after(timeout):
            async with trio.open_nursery() as nursery:
                await nursery.start(connection.run)
                tools = list(connection.tools)
                nursery.cancel_scope.cancel()
    except trio.TooSlowError:
        raise InstallError(
            connection.explain(f"did not start and list its tools within {timeout:g}s")
        ) from None
    except Exception as error:
        leaf = leaf_errors(error)[0] if isinstance(error, BaseExceptionGroup) else error
        if challenges is not None and challenges.challenge is not None:
            raise NeedsAuthorization(
                f"{endpoint.name}: the server needs authorization (HTTP 401)",
                challenges.challenge or None,
            ) from None
        text = f"{type(leaf).__name__}: {leaf}" if str(leaf) else repr(leaf)
        raise InstallError(connection.explain(f"test start failed: {text}")) from error
    return tools
