"""Configuration: every kind of bad value names its variable; secrets never show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from clara.config import (
    VARIABLES,
    ConfigError,
    Secret,
    load_settings,
    read_environment,
    settings_table,
)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_need_nothing_and_every_variable_has_a_default_or_is_optional() -> None:
    settings = load_settings({})
    assert settings.discord.token is None and not settings.discord.enabled
    assert settings.llm.failover_order == ("local",)
    assert settings.database.url is None
    assert settings.encryption.keys == ()
    assert settings.sandbox.backend == "none"
    assert str(settings.runtime.data_dir) == "data"
    names = [var.name for var in VARIABLES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CLARA_DB_POOL_SIZE", "0", "must be an integer from 1 to 100; got '0'"),
        ("CLARA_LLM_TIMEOUT", "-3", "must be a positive number of seconds; got '-3'"),
        ("CLARA_MEMORY_ENABLED", "sure", "must be true or false"),
        ("CLARA_LOG_FORMAT", "xml", "must be one of text, json; got 'xml'"),
        ("CLARA_DISCORD_API_URL", "discord.com", "must be a URL starting with http:// or https://"),
        ("CLARA_DISCORD_GATEWAY_URL", "https://g", "must be a URL starting with ws:// or wss://"),
        ("CLARA_DISCORD_ALLOWED_GUILDS", "123,abc", "must be comma-separated Discord ids"),
        (
            "CLARA_SANDBOX_BACKEND",
            "vm",
            "must be one of none, auto, docker, bubblewrap, remote; got 'vm'",
        ),
        ("DATABASE_URL", "mysql://x", "must be a database URL starting with sqlite:///"),
        ("CLARA_PROACTIVE_QUIET_HOURS", "late", "must be two hours HH-HH"),
        ("CLARA_MCP_ALLOWED_SOURCES", "npm,ftp", "must list sources from github, image, npm"),
    ],
)
def test_a_bad_value_names_the_variable_the_form_and_the_value(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(name)) as caught:
        load_settings({name: value})
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISCORD_BOT_TOKEN", "short-token"),
        ("OPENAI_API_KEY", "sk-1"),
        ("CLARA_STATUS_TOKEN", "tiny-secret"),
        ("CLARA_ENCRYPTION_KEYS", "not-a-fernet-key-at-all"),
    ],
)
def test_a_bad_secret_is_reported_without_its_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert value not in message
    assert f"'****' (secret, {len(value)} characters)" in message


def test_encryption_keys_are_checked_one_by_one() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key") as caught:
        load_settings({"CLARA_ENCRYPTION_KEYS": f"{good},nope-nope"})
    assert good not in str(caught.value)
    keys = load_settings({"CLARA_ENCRYPTION_KEYS": f" {good} , {Fernet.generate_key().decode()}"})
    assert len(keys.encryption.keys) == 2
    assert keys.encryption.keys[0].reveal() == good


def test_a_database_url_password_never_shows() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": "mysql://clara:hunter22@db/clara"})
    assert "hunter22" not in str(caught.value)
    assert "clara:****@db" in str(caught.value)


def test_an_enabled_feature_requires_its_settings_and_a_disabled_one_does_not() -> None:
    with pytest.raises(ConfigError, match="lists 'openrouter', so OPENROUTER_API_KEY is required"):
        load_settings({"CLARA_LLM_PROVIDERS": "openrouter,local"})
    with pytest.raises(ConfigError, match="must list providers from openrouter"):
        load_settings({"CLARA_LLM_PROVIDERS": "gemini"})
    with pytest.raises(ConfigError, match="CLARA_SANDBOX_IMAGE .* is required"):
        load_settings({"CLARA_SANDBOX_BACKEND": "docker"})
    assert load_settings({"CLARA_SANDBOX_BACKEND": "none"}).sandbox.image == ""
    # Disabled features accept anything of theirs that is merely unusual.
    assert not load_settings(
        {"CLARA_PROACTIVE_ENABLED": "false", "CLARA_PROACTIVE_QUIET_HOURS": "late"}
    ).proactive.enabled
    assert not load_settings(
        {"CLARA_MCP_ENABLED": "no", "CLARA_MCP_ALLOWED_SOURCES": "ftp"}
    ).mcp.enabled


def test_llm_failover_defaults_to_every_keyed_provider_then_local() -> None:
    settings = load_settings({"ANTHROPIC_API_KEY": "sk-ant-123456", "NANOGPT_API_KEY": "ng-123456"})
    assert settings.llm.failover_order == ("anthropic", "nanogpt", "local")


def test_settings_list_their_secrets_for_the_log_filter() -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(
        {
            "DISCORD_BOT_TOKEN": "discord-token-0123456789",
            "OPENAI_API_KEY": "sk-abcdefgh",
            "CLARA_ENCRYPTION_KEYS": key,
            "DATABASE_URL": "postgresql://clara:hunter22@db/clara",
        }
    )
    assert set(settings.secrets) == {
        "discord-token-0123456789",
        "sk-abcdefgh",
        key,
        "postgresql://clara:hunter22@db/clara",
        "hunter22",  # alone too: a driver may echo the password without the URL
    }
    assert "sk-abcdefgh" not in repr(settings)


def test_a_dotenv_file_fills_in_what_the_environment_does_not_set(tmp_path: Path) -> None:
    env_file = tmp_path / "clara.env"
    env_file.write_text("CLARA_LOG_LEVEL=DEBUG\nCLARA_DB_POOL_SIZE=7\n# a comment\n")
    merged = read_environment({"CLARA_ENV_FILE": str(env_file), "CLARA_DB_POOL_SIZE": "9"})
    settings = load_settings(merged)
    assert settings.logging.level == "DEBUG"  # from the file
    assert settings.database.pool_size == 9  # the environment wins
    with pytest.raises(ConfigError, match="CLARA_ENV_FILE names .* which is not a file"):
        read_environment({"CLARA_ENV_FILE": str(tmp_path / "missing.env")})


def test_secret_values_hide_in_every_rendering() -> None:
    value = Secret("sk-live-abcdef")
    assert value.reveal() == "sk-live-abcdef"
    for text in (repr(value), str(value), f"{value}", f"{value!s}", format(value)):
        assert "abcdef" not in text


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (REPO / "README.md").read_text()
    start, end = "<!-- settings:start -->\n", "<!-- settings:end -->"
    assert start in readme and end in readme
    table = readme.split(start, 1)[1].split(end, 1)[0]
    assert table == settings_table(), (
        "the README's configuration table is out of date: paste `python -m clara config --table`"
    )


def test_python_m_clara_config_prints_everything_with_secrets_masked() -> None:
    env = {
        **os.environ,  # the tests' own: no configuration of the caller (tests/conftest.py)
        "OPENAI_API_KEY": "sk-visible-if-broken",
        "DATABASE_URL": "postgresql://clara:hunter22@db/clara",
        "CLARA_LOG_LEVEL": "warning",
    }
    result = subprocess.run(
        [sys.executable, "-m", "clara", "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    )
    assert "sk-visible-if-broken" not in result.stdout
    assert "hunter22" not in result.stdout
    assert "OPENAI_API_KEY" in result.stdout and "****  (environment)" in result.stdout
    assert "postgresql://clara:****@db/clara" in result.stdout
    # Names are padded to the longest one, so values line up.
    width = max(len(var.name) for var in VARIABLES)
    assert f"  {'CLARA_LOG_LEVEL':<{width}}  WARNING  (environment)" in result.stdout
    for var in VARIABLES:
        assert var.name in result.stdout


def test_python_m_clara_config_refuses_a_bad_setting_clearly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clara", "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "CLARA_DB_POOL_SIZE": "lots"},
        check=False,
    )
    assert result.returncode == 2
    assert "configuration error: CLARA_DB_POOL_SIZE must be an integer" in result.stderr
