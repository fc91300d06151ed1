"""No secret on any surface (issue 13): known values planted in every secret setting, a
conversation with a provider that fails by repeating the request (the API key and what the
person said), and every surface searched: the logs at DEBUG, ``/status``, ``/readyz``,
``/healthz``, ``/metrics``, the page, ``python -m clara config``, the audit log and the
database's bytes (``pg_dump``), and every file in the data folder.

The secret settings are found from the configuration table, so a new one is planted too;
a new kind of secret fails here until it is given a plantable value.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import httpx
import pytest
import trio
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from clara.config import VARIABLES
from clara.testing import Echo, FakeDiscord, FakeLlmServer, throwaway_postgresql
from tests.helpers import require
from tests.pg_cluster import free_port
from tests.store.conftest import POSTGRES_ADMIN, _postgres_available

REPO = Path(__file__).resolve().parent.parent
GUILD, CHANNEL = "5", "100"
LIMIT = 60.0
#: What the person says: it may be logged at DEBUG, and shown nowhere else.
PRIVATE_TEXT = "my diary says Ottoline-4921 is the code"

pytestmark = pytest.mark.trio


def plant(kind: str, name: str, database_url: str) -> tuple[str, str]:
    """A value for a secret setting of ``kind``, and the part of it that must never show."""
    core = secrets.token_hex(8)
    if kind == "token":
        value = f"plant{core}{name.lower().replace('_', '')[:12]}"
        return value, core
    if kind == "tokens":  # several keys, one per client: both must stay hidden
        first = f"plant{core}{name.lower().replace('_', '')[:12]}"
        return f"{first},second{core}key", core
    if kind == "keys":
        key = Fernet.generate_key().decode()
        return key, key[4:24]
    if kind == "database_url":  # trust authentication: the password is carried, not checked
        url = make_url(database_url).set(password=f"pw{core}")
        return url.render_as_string(hide_password=False), core
    if kind == "text" and name == "CLARA_EMAIL_OAUTH_PROVIDERS":  # JSON holding secrets
        provider = {
            "authorization_url": "https://id.example/authorize",
            "token_url": "https://id.example/token",
            "imap_host": "imap.example",
            "client_id": "clara",
            "client_secret": f"plant{core}",
        }
        return json.dumps({"planted": provider}), core
    raise AssertionError(f"{name}: no plantable value for a secret of kind {kind!r} yet")


async def test_planted_secrets_appear_on_no_surface(tmp_path: Path) -> None:
    require(_postgres_available(), f"PostgreSQL at {POSTGRES_ADMIN}")
    pg_dump = shutil.which("pg_dump")
    require(pg_dump, "pg_dump")
    with throwaway_postgresql(POSTGRES_ADMIN) as database_url:
        planted = {
            var.name: plant(var.parse.kind, var.name, database_url)
            for var in VARIABLES
            if var.secret
        }
        discord, model = FakeDiscord(), FakeLlmServer(default=Echo(status=400))
        status_port = free_port()
        async with trio.open_nursery() as nursery:
            discord_url = await nursery.start(discord.serve)
            model_url = await nursery.start(model.serve)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(tmp_path),
                "CLARA_ENV_FILE": os.environ["CLARA_ENV_FILE"],
                "CLARA_DATA_DIR": str(tmp_path / "data"),
                **{name: value for name, (value, _) in planted.items()},
                "CLARA_DISCORD_API_URL": f"{discord_url}/api/v10",
                "CLARA_DISCORD_GATEWAY_URL": discord_url.replace("http", "ws") + "/gateway",
                "CLARA_GUILD_READY_TIMEOUT": "0.05",
                "CLARA_LLM_PROVIDERS": "openai,anthropic",
                "OPENAI_BASE_URL": f"{model_url}/v1",
                "ANTHROPIC_BASE_URL": model_url,
                "CLARA_LLM_BREAKER_FAILURES": "1",
                "CLARA_MEMORY_ENABLED": "false",
                "CLARA_MCP_ENABLED": "false",
                # A planted client secret needs its client id (else a configuration error).
                "CLARA_EMAIL_GOOGLE_CLIENT_ID": "clara-google",
                "CLARA_EMAIL_MICROSOFT_CLIENT_ID": "clara-microsoft",
                "CLARA_STATUS_PORT": str(status_port),
                "CLARA_LOG_LEVEL": "DEBUG",
            }
            log_file = tmp_path / "stderr.log"
            process = await trio.lowlevel.open_process(
                [sys.executable, "run.py"],
                cwd=REPO,
                env=env,
                stdout=open(tmp_path / "stdout.log", "ab"),  # noqa: ASYNC230, SIM115
                stderr=open(log_file, "ab"),  # noqa: ASYNC230, SIM115
            )
            surfaces: dict[str, str] = {}
            try:
                with trio.fail_after(LIMIT):
                    await discord.connected.wait()
                    await discord.add_guild(GUILD, (CHANNEL, "200"))
                message = await discord.post_message(
                    PRIVATE_TEXT, channel_id=CHANNEL, guild_id=GUILD, mention=True
                )
                with trio.fail_after(LIMIT):
                    while not any(p.reference == str(message["id"]) for p in discord.posted):
                        await trio.sleep(0.05)
                assert len(model.chat_requests()) >= 2  # both providers were asked, and echoed
                token = planted["CLARA_STATUS_TOKEN"][0]
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{status_port}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                ) as client:
                    for path in ("/", "/status", "/status?state=failed", "/readyz", "/healthz",
                                 "/metrics", "/status/schema", "/nowhere"):  # fmt: skip
                        response = await client.get(path)
                        surfaces[f"GET {path}"] = response.text + str(response.headers)
                    unauthorized = await client.get("/status", headers={"Authorization": "x"})
                    surfaces["GET /status, a wrong token"] = unauthorized.text
                assert '"store"' in surfaces["GET /status"]  # the tree is really there
            finally:
                process.terminate()
                with trio.move_on_after(LIMIT):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                nursery.cancel_scope.cancel()
        config = await trio.run_process(
            [sys.executable, "-m", "clara", "config"],
            cwd=REPO, env=env, capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
        surfaces["python -m clara config"] = (config.stdout + config.stderr).decode()
        plain_url = make_url(database_url).set(drivername="postgresql")
        dump = await trio.run_process(
            [str(pg_dump), plain_url.render_as_string(hide_password=False)],
            capture_stdout=True, capture_stderr=True,
        )  # fmt: skip
        surfaces["the database (pg_dump, the audit log in it)"] = dump.stdout.decode()
    surfaces["the logs at DEBUG"] = log_file.read_text(errors="replace")
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            surfaces[f"the data folder: {path.name}"] = path.read_bytes().decode(errors="replace")
    assert "audit_log" in surfaces["the database (pg_dump, the audit log in it)"]
    found = [
        f"{name} in {surface}"
        for name, (_, core) in planted.items()
        for surface, text in surfaces.items()
        if core in text
    ]
    found += [
        f"what the person said in {surface}"
        for surface, text in surfaces.items()
        if "Ottoline-4921" in text
        and surface not in ("the logs at DEBUG", "the database (pg_dump, the audit log in it)")
    ]
    assert found == []
