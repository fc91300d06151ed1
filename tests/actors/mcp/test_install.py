"""Installing: real npm, argument lists, time limits, test starts, clean failures."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from clara.actors.mcp import Install, Uninstall
from clara.adapters.mcp import Installer, InstallError, SourceError, check_allowed, parse_source
from clara.store import Database, load_mcp_servers, make_engine, upgrade
from tests.actors.mcp.conftest import TOOLS_SERVER
from tests.actors.mcp.harness import ADMIN, mcp_running
from tests.helpers import require

pytestmark = pytest.mark.trio


def store(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    upgrade(engine)
    return Database(engine)


def fake_npm(tmp_path: Path, body: str) -> Path:
    """An executable standing in for npm: records its argv, then runs ``body``."""
    script = tmp_path / "npm"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys, time\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv))\n" + body
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


async def test_npm_installs_server_everything_for_real_and_uninstall_removes_it(
    tmp_path: Path,
) -> None:
    require(shutil.which("npm"), "npm")
    database = store(tmp_path)
    source = "npm:@modelcontextprotocol/server-everything@2026.8.31"
    async with mcp_running(tmp_path, database=database) as running:
        answer = await running.mcp.admin.run("install", {"source": source}, ADMIN)
        assert answer.startswith("Installed server-everything with 13 tools: echo,"), answer
        folder = tmp_path / "mcp" / "servers" / "server-everything"
        assert (folder / "node_modules" / "@modelcontextprotocol" / "server-everything").is_dir()
        echo = await running.registry().call(
            "server-everything__echo", {"message": "installed"}, timeout=30
        )
        assert echo.text == "Echo: installed"
        removed = await running.mcp.admin.run("uninstall", {"name": "server-everything"}, ADMIN)
        assert removed == "server-everything is uninstalled (its tokens and files are gone)."
        assert not folder.exists()
        assert running.state("server-everything") is None
    with database.unit_of_work() as session:
        assert load_mcp_servers(session) == ([], [])


async def test_npm_runs_as_an_argument_list_without_install_scripts(tmp_path: Path) -> None:
    npm = fake_npm(tmp_path, "sys.stderr.write('E404 no such package'); sys.exit(1)\n")
    installer = Installer(tmp_path / "servers", npm=str(npm), npm_registry="https://npm.example")
    with pytest.raises(InstallError, match=r"npm install left-pad@1\.3\.0 failed \(exit 1\): E404"):
        await installer.install("pad", parse_source("npm:left-pad@1.3.0"))
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[1:] == [
        "install",
        "--prefix",
        str(tmp_path / "servers" / "pad"),
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--omit=dev",
        "--no-package-lock",
        "--registry",
        "https://npm.example",
        "--",
        "left-pad@1.3.0",
    ]
    assert not (tmp_path / "servers" / "pad").exists()  # a failed install leaves nothing


async def test_an_install_that_runs_out_of_time_is_stopped_and_cleaned_up(
    tmp_path: Path, autojump_clock: object
) -> None:
    npm = fake_npm(tmp_path, "time.sleep(3600)\n")
    installer = Installer(tmp_path / "servers", npm=str(npm), timeout=120)
    start = trio.current_time()
    with pytest.raises(InstallError, match=r"did not finish within 120s \(stopped\)"):
        await installer.install("slow", parse_source("github:owner/repo#v1"))
    assert trio.current_time() - start == pytest.approx(120, abs=1)
    assert not (tmp_path / "servers" / "slow").exists()


async def test_a_server_that_does_not_start_is_not_saved(tmp_path: Path) -> None:
    roots = tmp_path / "local"
    roots.mkdir()
    broken = roots / "broken.py"
    broken.write_text("import sys\nsys.stderr.write('missing API key\\n')\nsys.exit(3)\n")
    database = store(tmp_path)
    env = {"CLARA_MCP_ALLOWED_SOURCES": "path", "CLARA_MCP_PATH_ROOTS": str(roots)}
    async with mcp_running(tmp_path, env=env, database=database) as running:
        answer = await running.mcp.admin.run("install", {"source": f"path:{broken}"}, ADMIN)
        assert answer.startswith("/mcp install failed: broken: test start failed")
        assert "missing API key" in answer  # the server's own stderr explains it
        assert running.mcp.catalog.entries == {}
    with database.unit_of_work() as session:
        assert load_mcp_servers(session) == ([], [])


async def test_install_refuses_sources_the_settings_do_not_allow(tmp_path: Path) -> None:
    async with mcp_running(tmp_path) as running:
        ref = running.mcp.catalog_ref
        with pytest.raises(Exception, match="path sources are not allowed"):
            await ref.ask(Install(source=f"path:{TOOLS_SERVER}", by="t"), timeout=None)
        with pytest.raises(Exception, match="contains ';'"):
            await ref.ask(Install(source="left-pad;reboot", by="t"), timeout=None)
        with pytest.raises(Exception, match="server name 'mcp' is reserved"):
            await ref.ask(Install(source="npm:left-pad", name="mcp", by="t"), timeout=None)
        with pytest.raises(Exception, match="no MCP server named 'nope'"):
            await ref.ask(Uninstall("nope"), timeout=None)
        assert ref.statistics().restarts == 0  # a refused operation is an answer, not a crash


def resolver(names: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(f"no such name: {host}")
        return names[host]

    return resolve


DNS = {
    "mcp.example.test": ["93.184.216.34", "2606:2800:220:1::"],
    "rebind.example.test": ["93.184.216.34", "127.0.0.1"],
    "private.example.test": ["10.0.0.7"],
    "metadata.example.test": ["169.254.169.254"],
    "mcp.internal": ["10.0.0.7"],
}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://rebind.example.test/mcp", "resolves to 127.0.0.1, a loopback address"),
        ("https://private.example.test/mcp", "resolves to 10.0.0.7, a private address"),
        ("https://metadata.example.test/mcp", "resolves to 169.254.169.254: .*link-local"),
        ("https://unknown.example.test/mcp", "cannot be resolved"),
    ],
)
async def test_a_public_url_whose_name_resolves_inside_the_network_is_refused(
    tmp_path: Path, url: str, why: str
) -> None:
    installer = Installer(tmp_path, resolve=resolver(DNS))
    with pytest.raises(SourceError, match=f"URL source: .*{why}"):
        await installer.install("remote", parse_source(url))


async def test_a_url_resolving_to_public_addresses_or_named_by_the_operator_is_installed(
    tmp_path: Path,
) -> None:
    installer = Installer(tmp_path, resolve=resolver(DNS))
    endpoint, folder = await installer.install(
        "remote", parse_source("https://mcp.example.test/mcp")
    )
    assert (endpoint.transport, endpoint.url, folder) == (
        "http",
        "https://mcp.example.test/mcp",
        None,
    )
    internal = parse_source("https://mcp.internal/sse")
    check_allowed(internal, ("url",), ("https://mcp.internal/*",))  # the operator named it
    endpoint, _ = await installer.install("lan", internal)
    assert (endpoint.transport, endpoint.url) == ("sse", "https://mcp.internal/sse")


async def test_stored_servers_are_loaded_at_start_and_survive_a_restart(tmp_path: Path) -> None:
    database = store(tmp_path)
    env = {"CLARA_MCP_ALLOWED_SOURCES": "path", "CLARA_MCP_PATH_ROOTS": str(TOOLS_SERVER.parent)}
    async with mcp_running(tmp_path, env=env, database=database) as running:
        answer = await running.mcp.admin.run(
            "install", {"source": f"path:{TOOLS_SERVER}", "name": "calc"}, ADMIN
        )
        assert answer.startswith("Installed calc")
        assert await running.mcp.admin.run("disable", {"name": "calc"}, ADMIN) == (
            "calc is disabled."
        )
    async with mcp_running(tmp_path, env=env, database=database) as running:
        [entry] = running.mcp.catalog.entries.values()
        assert (entry.name, entry.enabled, len(entry.config.tools)) == ("calc", False, 7)
        assert "calc__add" not in {spec.name for spec in running.registry().specs()}
        await running.mcp.admin.run("enable", {"name": "calc"}, ADMIN)
        added = await running.registry().call("calc__add", {"a": 1, "b": 1}, timeout=30)
        assert added.text == "2"


async def test_secret_environment_variables_reach_the_server_and_stay_encrypted(
    tmp_path: Path, everything: object
) -> None:
    from sqlalchemy import select  # noqa: PLC0415

    from clara.store import SecretBox, generate_key  # noqa: PLC0415
    from clara.store.models import AuditLogEntry, McpServerSecret  # noqa: PLC0415
    from tests.actors.mcp.conftest import EVERYTHING  # noqa: PLC0415

    database, secrets = store(tmp_path), SecretBox([generate_key()])
    value = "s3cr3t-value-0123456789"
    env = {"CLARA_MCP_ALLOWED_SOURCES": "path", "CLARA_MCP_PATH_ROOTS": str(EVERYTHING.parent)}
    options = {"source": f"path:{EVERYTHING}", "name": "ev", "env": f"EXAMPLE_TOKEN={value}"}
    async with mcp_running(tmp_path, env=env, database=database, secrets=secrets) as running:
        answer = await running.mcp.admin.run("install", options, ADMIN)
        assert answer.startswith("Installed ev with 13 tools"), answer
        seen = await running.registry().call("ev__get-env", {}, timeout=30)
        assert value in seen.text
        config = running.mcp.catalog.entries["ev"].config
        assert config.secret_env == ["EXAMPLE_TOKEN"] and config.env == {}
        status = await running.mcp.admin.run("status", {"name": "ev"}, ADMIN)
        assert status.endswith("; secrets: EXAMPLE_TOKEN") and value not in status
    # A new Clara reads the secret from the store when the server connects.
    async with mcp_running(tmp_path, env=env, database=database, secrets=secrets) as running:
        again = await running.registry().call("ev__get-env", {}, timeout=30)
        assert value in again.text
        await running.mcp.admin.run("uninstall", {"name": "ev"}, ADMIN)
    assert value.encode() not in (tmp_path / "clara.db").read_bytes()
    with database.unit_of_work() as session:
        assert list(session.scalars(select(McpServerSecret))) == []
        details = [e.details for e in session.scalars(select(AuditLogEntry))]
    assert details[0]["env"] == "EXAMPLE_TOKEN"
    assert all(value not in str(d) for d in details)
