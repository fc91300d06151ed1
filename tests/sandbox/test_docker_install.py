"""``install_package`` for real (issue 16): pip in a podman sandbox on the bridge network,
through a real allow-listing proxy, from a package index of the test's own.

- The index: a PEP 503 "simple" index on this machine's loopback (``127.0.0.1``), holding one
  small pure-Python wheel the test writes. A sandbox cannot reach it directly (loopback is the
  host's own); only the proxy, which runs on the host, can.
- The proxy: tinyproxy from Debian, started here from a config of the test's own (never the
  system service) with ``FilterDefaultDeny Yes`` and a filter that allows the host
  ``localhost`` only, and ``Allow`` for the podman bridge's subnet only. It listens on every
  address of the host (the bridge's interface exists only while a container is on it) and
  answers only the bridge's.
- The sandbox reaches the proxy at the bridge's gateway (``podman network inspect podman``),
  and pip asks it for ``http://localhost:PORT/simple``: allowed. The same index named
  ``http://127.0.0.1:PORT`` is a host the proxy refuses (403), as is a file host an allowed
  index page links to.

That the tool is refused with the network off, or without a proxy, is checked against the
fake backend in ``tests/actors/sandbox/test_tools.py`` (``test_installs_need_network_and_a_proxy``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import ipaddress
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trio

from clara.actors import ActorSystem
from clara.actors.sandbox import sandbox_subsystem
from clara.actors.sandbox.tools import SandboxTools, ToolSettings
from clara.adapters.sandbox import DockerBackend
from clara.adapters.sandbox._docker import owner_hash
from clara.supervisors import Supervisor
from clara.tools import ToolRegistry, ToolResult
from tests.actors.sandbox.harness import GUILD, PERSON, message, settings_for
from tests.helpers import require

pytestmark = pytest.mark.trio

PACKAGE = "clara-sandbox-probe"
MODULE = "clara_sandbox_probe"
ELSEWHERE = "clara-sandbox-elsewhere"
"""A package whose index page (allowed) links to its file on a host the proxy refuses."""


# -- the package index -------------------------------------------------------------------------


def wheel(module: str, version: str, source: bytes) -> tuple[str, bytes]:
    """A pure-Python wheel of one module: its file name and bytes."""
    distribution = f"{module}-{version}"
    files = {
        f"{module}/__init__.py": source,
        f"{distribution}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: {version}\n"
        ).encode(),
        f"{distribution}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: clara-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},sha256={_digest(data)},{len(data)}\n" for path, data in files.items())
    files[f"{distribution}.dist-info/RECORD"] = (
        record + f"{distribution}.dist-info/RECORD,,\n"
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{distribution}-py3-none-any.whl", buffer.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@dataclass
class PackageIndex:
    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)
    """(path, Via header) of every request that reached the index."""

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/simple"


@pytest.fixture(scope="module")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    """The simple index on 127.0.0.1, in a thread of this process."""
    root = tmp_path_factory.mktemp("index")
    (root / "packages").mkdir()
    probe_name, probe = wheel(MODULE, "1.0", b"ANSWER = 42\n")
    (root / "packages" / probe_name).write_bytes(probe)
    elsewhere_name, elsewhere = wheel(ELSEWHERE.replace("-", "_"), "1.0", b"")
    (root / "packages" / elsewhere_name).write_bytes(elsewhere)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    index = PackageIndex(port=server.server_address[1])
    links = {
        PACKAGE: f"../../packages/{probe_name}#sha256={hashlib.sha256(probe).hexdigest()}",
        # On 127.0.0.1: the same server, under a host name the proxy does not allow.
        ELSEWHERE: f"http://127.0.0.1:{index.port}/packages/{elsewhere_name}",
    }
    for name, link in links.items():
        (root / "simple" / name).mkdir(parents=True)
        page = f'<!DOCTYPE html><html><body><a href="{link}">{link}</a></body></html>'
        (root / "simple" / name / "index.html").write_text(page)

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            index.seen.append((self.path, self.headers.get("Via", "")))
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server.RequestHandlerClass = functools.partial(Handler, directory=str(root))
    thread = threading.Thread(target=server.serve_forever, name="package index", daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- the proxy ---------------------------------------------------------------------------------


@dataclass
class Proxy:
    url: str
    log: Path


@pytest.fixture(scope="module")
def bridge() -> tuple[str, str]:
    """The podman bridge network's gateway address and subnet."""
    require(shutil.which("podman"), "podman")
    shown = subprocess.run(
        ["podman", "network", "inspect", "podman"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    [network] = json.loads(shown.stdout)
    [subnet] = network["subnets"]
    return subnet["gateway"], subnet["subnet"]


@pytest.fixture(scope="module")
def proxy(bridge: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """tinyproxy, allowing the bridge's subnet to reach the host ``localhost`` only."""
    require(shutil.which("tinyproxy"), "tinyproxy")
    gateway, subnet = bridge
    folder = tmp_path_factory.mktemp("tinyproxy")
    with socket.socket() as probe:  # a free port (tinyproxy takes it a moment later)
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    (folder / "filter").write_text("^localhost$\n")
    (folder / "tinyproxy.conf").write_text(
        f"Port {port}\n"
        "Timeout 30\n"
        "MaxClients 20\n"
        f"Allow {subnet}\n"
        f'Filter "{folder / "filter"}"\n'
        "FilterType ere\n"
        "FilterDefaultDeny Yes\n"
        f'PidFile "{folder / "tinyproxy.pid"}"\n'
        "LogLevel Info\n"
    )
    log = folder / "tinyproxy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["tinyproxy", "-d", "-c", str(folder / "tinyproxy.conf")],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(process, port, log)
        yield Proxy(url=f"http://{gateway}:{port}", log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Polls the proxy's port until it accepts (it starts in a few milliseconds)."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"tinyproxy exited: {log.read_text(errors='replace')[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        else:
            return


# -- the sandbox tools, over podman ------------------------------------------------------------

Call = Callable[[str, dict[str, Any]], Awaitable[ToolResult]]


@asynccontextmanager
async def sandbox_tools(
    tmp_path: Path, engine_url: str, image: str, proxy: Proxy, index_url: str
) -> AsyncIterator[tuple[Call, DockerBackend]]:
    """The sandbox subtree over a real docker backend (podman) on its default network, with
    the network on for the test's server; yields a tool call of the person ``PERSON``."""
    settings = settings_for(
        tmp_path,
        {
            "CLARA_SANDBOX_BACKEND": "docker",
            "CLARA_SANDBOX_DOCKER_URL": engine_url,
            "CLARA_SANDBOX_IMAGE": image,
            "CLARA_SANDBOX_PROXY_URL": proxy.url,
            "CLARA_SANDBOX_INDEX_URL": index_url,
            "CLARA_SANDBOX_TIMEOUT": "120",
        },
    )
    sandbox = settings.sandbox
    backend = DockerBackend(engine_url, image, grace=5.0)  # the default network: "bridge"
    system = sandbox_subsystem(settings, backend, database=None)
    tool_settings = ToolSettings(
        timeout=sandbox.timeout,
        output_limit=sandbox.output_kb * 1024,
        work_mb=sandbox.work_mb,
        proxy_url=sandbox.proxy_url,
        packages=sandbox.packages,
        memory_mb=sandbox.memory_mb,
        index_url=sandbox.index_url,
    )
    root = Supervisor([system.spec])

    async def call(tool: str, arguments: dict[str, Any]) -> ToolResult:
        tools = SandboxTools(
            message(PERSON), system.sandboxes, system.policies, tool_settings, is_admin=False
        )
        registry = ToolRegistry()
        registry.register(tools)
        return await registry.call(f"sandbox__{tool}", arguments, timeout=300.0)

    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, ActorSystem("clara"))
        try:
            await system.policies.change("discord", GUILD, by="test", network=True)
            yield call, backend
        finally:
            with trio.CancelScope(shield=True):
                await root.stop()


def addresses_of(backend: DockerBackend, owner: str) -> list[str]:
    """The IPv4 addresses of ``owner``'s sandbox container."""
    import docker  # noqa: PLC0415

    client = docker.DockerClient(base_url=backend.base_url, version="1.41", timeout=30)
    try:
        container = client.containers.get(f"clara-sandbox-{owner_hash(owner)}")
        networks = container.attrs["NetworkSettings"]["Networks"]
        return [net["IPAddress"] for net in networks.values() if net.get("IPAddress")]
    finally:
        client.close()


# -- the tests ---------------------------------------------------------------------------------


async def test_an_allowed_package_installs_through_the_proxy_and_imports_in_the_next_run(
    tmp_path: Path,
    engine_url: str,
    image: str,
    bridge: tuple[str, str],
    proxy: Proxy,
    package_index: PackageIndex,
) -> None:
    index_url = package_index.url("localhost")
    async with sandbox_tools(tmp_path, engine_url, image, proxy, index_url) as (call, backend):
        before = await call("run_python", {"code": f"import {MODULE}"})
        assert "ModuleNotFoundError" in before.text, before.text
        # On the bridge: an address of its subnet (and so a way to the proxy on the gateway).
        [address] = addresses_of(backend, f"discord:{PERSON.id}")
        assert ipaddress.ip_address(address) in ipaddress.ip_network(bridge[1])
        first = len(package_index.seen)

        installed = await call("install_package", {"name": PACKAGE})

        assert not installed.error, installed.text
        assert installed.text.startswith("exit code 0"), installed.text
        assert f"Successfully installed {PACKAGE}-1.0" in installed.text
        after = await call(
            "run_python", {"code": f"import {MODULE}; print({MODULE}.ANSWER, {MODULE}.__file__)"}
        )
        assert after.text.startswith("exit code 0"), after.text
        site = "/work/.local/lib/python3.11/site-packages"
        assert f"42 {site}/{MODULE}/__init__.py" in after.text
        # pip's temporary folders (TMPDIR=/work) are gone; the install stays in /work/.local.
        listed = await call("run_shell", {"command": "ls -A /work"})
        assert listed.text.split("stdout:\n", 1)[1].split() == [".local"], listed.text
    paths = [path for path, _ in package_index.seen[first:]]
    assert paths == [f"/simple/{PACKAGE}/", f"/packages/{MODULE}-1.0-py3-none-any.whl"]
    # Every request came through the proxy (it adds its Via header).
    assert all("tinyproxy" in via for _, via in package_index.seen[first:])


async def test_an_index_or_file_host_not_on_the_allow_list_is_refused_with_a_clear_answer(
    tmp_path: Path,
    engine_url: str,
    image: str,
    proxy: Proxy,
    package_index: PackageIndex,
) -> None:
    # The same index, named by a host the proxy's filter does not allow.
    refused_index = package_index.url("127.0.0.1")
    async with sandbox_tools(tmp_path, engine_url, image, proxy, refused_index) as (call, _):
        first = len(package_index.seen)
        refused = await call("install_package", {"name": PACKAGE})
        assert package_index.seen[first:] == []  # never reached the index
    assert refused.text.startswith("exit code 1"), refused.text
    assert "the proxy refused a request (403)" in refused.text
    assert f"{refused_index}/{PACKAGE}/: 403 Client Error: Filtered" in refused.text
    assert 'refused on filtered domain "127.0.0.1"' in proxy.log.read_text(errors="replace")

    # An allowed index whose page sends pip to a file host the proxy does not allow.
    allowed_index = package_index.url("localhost")
    tmp = tmp_path / f"again-{secrets.token_hex(2)}"
    tmp.mkdir()
    async with sandbox_tools(tmp, engine_url, image, proxy, allowed_index) as (call, _):
        first = len(package_index.seen)
        elsewhere = await call("install_package", {"name": ELSEWHERE})
        run = await call("run_python", {"code": "print('still fine')"})
    assert elsewhere.text.startswith("exit code 1"), elsewhere.text
    assert "HTTP error 403 while getting http://127.0.0.1:" in elsewhere.text
    assert [path for path, _ in package_index.seen[first:]] == [f"/simple/{ELSEWHERE}/"]
    assert "still fine" in run.text  # a failed install leaves the sandbox usable
