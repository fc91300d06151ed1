"""Values that used to be accepted, or to end in a traceback, and what is accepted instead.

The fuzz (``tests/test_settings_fuzz.py``) tries every setting with every kind of bad
value; these tests say, for the cases the issue named, what the message says and which
good values still pass.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clara.cli import main
from clara.config import ConfigError, load_settings, read_environment
from tests.helpers import require


def _refused(name: str, value: str) -> str:
    with pytest.raises(ConfigError, match=f"^{name}") as caught:
        load_settings({name: value})
    return str(caught.value)


def test_a_huge_integer_is_refused_not_an_overflow_later() -> None:
    message = _refused("CLARA_DEAD_LETTERS", str(10**400))
    assert "at most 1000000000" in message
    assert "(401 characters)" in message  # the value is cut, not printed whole
    assert load_settings({"CLARA_DEAD_LETTERS": "1000000000"}).runtime.dead_letters == 10**9


def test_database_timeouts_stay_below_where_the_databases_overflow() -> None:
    assert "at most 86400" in _refused("CLARA_DB_STATEMENT_TIMEOUT", "3000000")
    assert "at most 86400" in _refused("CLARA_DB_BUSY_TIMEOUT", "1e9")
    assert load_settings({"CLARA_DB_BUSY_TIMEOUT": "86400"}).database.busy_timeout == 86400


@pytest.mark.parametrize("value", ["\u0668\u0660\u0668\u0660", "\uff18\uff10\uff18\uff10"])
def test_a_port_in_digits_that_are_not_ascii_is_refused(value: str) -> None:
    # Python's int() reads both as 8080.
    message = _refused("CLARA_STATUS_PORT", value)
    assert "only the ASCII digits 0-9 are accepted" in message


@pytest.mark.parametrize(
    "token",
    [
        "tab\tinside-the-token-0123",
        "t\u00f6k\u00e9n-with-\u00fcmlauts-0123",
        "space inside the token 0",
    ],
)
def test_a_status_token_no_client_could_send_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="^CLARA_STATUS_TOKEN") as caught:
        load_settings({"CLARA_STATUS_TOKEN": token})
    assert token not in str(caught.value) and "0123" not in str(caught.value)


def test_a_status_token_of_printable_ascii_is_accepted() -> None:
    token = "Abc-._~+/=!#$%&*0123456789"
    settings = load_settings({"CLARA_STATUS_TOKEN": token})
    assert settings.status.token is not None and settings.status.token.reveal() == token


@pytest.mark.parametrize("engine", ["sh -c id", "/bin/sh", "rm", "podman --remote", "../docker"])
def test_the_container_engine_is_podman_or_docker_and_nothing_else(engine: str) -> None:
    assert "must be podman or docker" in _refused("CLARA_MCP_CONTAINER_ENGINE", engine)


@pytest.mark.parametrize("engine", ["podman", "docker", "/usr/bin/podman", "/opt/bin/docker"])
def test_podman_or_docker_by_name_or_absolute_path_is_accepted(engine: str) -> None:
    assert load_settings({"CLARA_MCP_CONTAINER_ENGINE": engine}).mcp.container_engine == engine


def test_the_host_network_is_refused_for_mcp_containers() -> None:
    assert "must not be host" in _refused("CLARA_MCP_CONTAINER_NETWORK", "host")
    assert "not a mode such as" in _refused("CLARA_MCP_CONTAINER_NETWORK", "container:db")
    for network in ("none", "bridge", "clara_tools-1.net"):
        settings = load_settings({"CLARA_MCP_CONTAINER_NETWORK": network})
        assert settings.mcp.container_network == network


def test_an_npm_registry_over_plain_http_is_refused_unless_it_is_on_this_machine() -> None:
    message = _refused("CLARA_MCP_NPM_REGISTRY", "http://registry.example/")
    assert "http:// is accepted only for this machine" in message
    for registry in ("https://registry.example", "http://127.0.0.1:4873", "http://[::1]:4873"):
        assert load_settings({"CLARA_MCP_NPM_REGISTRY": registry}).mcp.npm_registry == registry


def test_mcp_path_roots_must_be_absolute() -> None:
    assert "must be absolute folders" in _refused("CLARA_MCP_PATH_ROOTS", "/srv/mcp,servers")
    assert "must be absolute folders" in _refused("CLARA_MCP_PATH_ROOTS", "/srv/mcp/../../etc")
    assert "must not be /" in _refused("CLARA_MCP_PATH_ROOTS", "/")
    settings = load_settings({"CLARA_MCP_PATH_ROOTS": " /srv/mcp/ , /opt//tools "})
    assert settings.mcp.path_roots == ("/srv/mcp", "/opt/tools")


def test_a_docker_socket_url_is_accepted() -> None:
    # unix:///PATH has no host: it used to be refused as "not a URL".
    url = "unix:///run/podman/podman.sock"
    assert load_settings({"CLARA_SANDBOX_DOCKER_URL": url}).sandbox.docker_url == url
    assert "absolute path" in _refused("CLARA_SANDBOX_DOCKER_URL", "unix://podman.sock")


def test_control_characters_are_refused_in_any_setting_and_shown_escaped() -> None:
    message = _refused("CLARA_DISCORD_ADMIN_ROLE", "Mods\x1b[2J")
    assert "must not contain control characters" in message
    assert "\x1b" not in message and "\\x1b" in message


def test_a_non_ascii_role_or_phrase_is_still_accepted() -> None:
    settings = load_settings(
        {
            "CLARA_DISCORD_ADMIN_ROLE": "Mod\u00e9rateurs",
            "CLARA_DISCORD_STOP_PHRASES": "\u00e7a suffit",
        }
    )
    assert settings.discord.admin_role == "Mod\u00e9rateurs"
    assert settings.discord.stop_phrases == ("\u00e7a suffit",)


def test_the_data_folder_must_be_a_folder_clara_can_use(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert "which is not a folder" in _refused("CLARA_DATA_DIR", str(a_file))
    message = _refused("CLARA_DATA_DIR", str(a_file / "data"))
    assert "cannot be used as a folder: Not a directory" in message
    message = _refused("CLARA_DATA_DIR", str(tmp_path / ("x" * 300)))
    assert "File name too long" in message
    # Missing is fine: it is created at start, with its parents.
    missing = tmp_path / "not" / "yet"
    assert load_settings({"CLARA_DATA_DIR": str(missing)}).runtime.data_dir == missing
    assert not missing.exists()  # reading the settings creates nothing


@contextlib.contextmanager
def _locked_folder(where: Path) -> Iterator[Path]:
    """A folder its user may not write in: mode 0500, or, for root (who may write in any
    folder), the immutable attribute (``chattr +i``), taken off again after."""
    locked = where / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:
        yield locked
        return
    chattr = shutil.which("chattr")
    require(chattr, "chattr (to lock a folder against root)")
    assert chattr is not None
    subprocess.run([chattr, "+i", str(locked)], check=True)
    try:
        yield locked
    finally:
        subprocess.run([chattr, "-i", str(locked)], check=True)


def test_a_data_folder_clara_may_not_write_in_is_refused(tmp_path: Path) -> None:
    with _locked_folder(tmp_path) as locked:
        assert "a folder Clara may not read and write" in _refused("CLARA_DATA_DIR", str(locked))
        assert "cannot be created" in _refused("CLARA_DATA_DIR", str(locked / "data"))


def test_a_dotenv_file_that_is_not_text_is_a_configuration_error(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_bytes(b"CLARA_LOG_LEVEL=\xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read the .env file .*: it is not UTF-8 text"):
        read_environment({"CLARA_ENV_FILE": str(env_file)})


def test_python_m_clara_status_does_not_need_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLARA_DATA_DIR", "/dev/null")
    # An unusable data folder refuses the commands that use it...
    assert main(["config"]) == 2
    assert "CLARA_DATA_DIR is '/dev/null', which is not a folder" in capsys.readouterr().err
    # ...but not the one that only asks a running Clara (here: nobody answers).
    assert main(["status", "--url", "http://127.0.0.1:9", "--timeout", "5"]) == 2
    error = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:9/status" in error and "CLARA_DATA_DIR" not in error
    assert load_settings({"CLARA_DATA_DIR": "/dev/null"}, data_dir_needed=False)
