"""Image sources for real: a server in a container image, run by podman."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from clara.store import Database, SecretBox, generate_key, make_engine, upgrade
from tests.actors.mcp.harness import ADMIN, mcp_running
from tests.helpers import require

IMAGE = "localhost/clara-mcp-test:1"
SERVER = Path(__file__).resolve().parents[3] / "bench" / "mcp_server.py"


def _podman(
    *args: str, stdin: bytes | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["podman", *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def image() -> str:
    """A minimal Debian with python3 and bench/mcp_server.py, built once per machine."""
    require(shutil.which("podman"), "podman")
    if _podman("image", "exists", IMAGE).returncode != 0:
        require(shutil.which("debootstrap"), "debootstrap")
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "root"
            built = subprocess.run(
                ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(root)],
                capture_output=True,
                timeout=600,
                check=False,
            )
            assert built.returncode == 0, built.stderr[-2000:]
            shutil.copy(SERVER, root / "srv" / "mcp_server.py")
            tar = subprocess.run(
                ["tar", "-C", str(root), "-c", "."], capture_output=True, check=True
            )
            imported = _podman(
                "import",
                "--change",
                'CMD ["python3", "-I", "/srv/mcp_server.py"]',
                "-",
                IMAGE,
                stdin=tar.stdout,
            )
            assert imported.returncode == 0, imported.stderr[-2000:]
    probe = _podman("run", "--rm", "--network", "none", IMAGE, "python3", "-c", "print('ok')")
    require(
        probe.returncode == 0 or None,
        f"a working podman (run failed: {probe.stderr.decode(errors='replace')[-300:]})",
    )
    return IMAGE


@pytest.mark.trio
async def test_an_image_source_is_installed_and_its_server_runs_in_a_container(
    tmp_path: Path, image: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    upgrade(engine)
    env = {"CLARA_MCP_ALLOWED_SOURCES": "image", "CLARA_MCP_CONTAINER_ENGINE": "podman"}
    secrets = SecretBox([generate_key()])
    async with mcp_running(
        tmp_path, env=env, database=Database(engine), secrets=secrets
    ) as running:
        answer = await running.mcp.admin.run(
            "install", {"source": f"image:{image}", "name": "boxed"}, ADMIN
        )
        assert answer == "Installed boxed with 1 tools: echo.", answer
        config = running.mcp.catalog.entries["boxed"].config
        assert config.command == "podman"
        assert config.args[:3] == ["run", "-i", "--rm"]
        assert config.args[4:6] == ["--network", "none"]
        assert "--cap-drop" in config.args and config.args[-1] == image
        echo = await running.registry().call("boxed__echo", {"text": "from a box"}, timeout=60)
        assert echo.text == "from a box"
        # A secret reaches the container through the engine's environment, never its argv.
        options = {"source": f"image:{image}", "name": "keyed", "env": "API_TOKEN=abc-secret-1"}
        keyed = await running.mcp.admin.run("install", options, ADMIN)
        assert keyed.startswith("Installed keyed"), keyed
        args = running.mcp.catalog.entries["keyed"].config.args
        assert ["-e", "API_TOKEN", image] == args[-3:]
        assert not any("abc-secret-1" in arg for arg in args)
        missing = await running.mcp.admin.run(
            "install", {"source": "image:localhost/no-such-image:1", "name": "nope"}, ADMIN
        )
        assert missing.startswith("/mcp install failed: podman pull localhost/no-such-image:1")


def test_image_sources_need_an_engine_configured() -> None:
    from clara.config import ConfigError, load_settings  # noqa: PLC0415

    with pytest.raises(ConfigError, match="CLARA_MCP_CONTAINER_ENGINE .* is required"):
        load_settings({"CLARA_MCP_ALLOWED_SOURCES": "npm,image"})
