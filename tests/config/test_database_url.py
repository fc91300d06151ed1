"""``DATABASE_URL``'s password never shows: in ``python -m clara config``, in an error, in a log.

A password can sit in ``USER:PASSWORD@`` or in a ``?password=`` parameter, hold characters a
URL parser stops at, or come in a keyword-form DSN that is no URL at all.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clara.config import ConfigError, load_settings, masked_dsn
from clara.logs import SecretFilter

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://clara:hunter22@db/clara", "postgresql://clara:****@db/clara"),
        (
            "postgresql://clara@db/clara?password=hunter22",
            "postgresql://clara@db/clara?password=****",
        ),
        (
            "postgresql://clara@db/clara?sslmode=require&PASSWORD=hunter22&application_name=x",
            "postgresql://clara@db/clara?sslmode=require&PASSWORD=****&application_name=x",
        ),
        ("postgresql://db/clara?sslpassword=hunter22", "postgresql://db/clara?sslpassword=****"),
        # Unencoded '/', '@' and '#' in the password: a URL parser would show what follows.
        ("postgresql://clara:hun/ter22@db/clara", "postgresql://clara:****@db/clara"),
        ("postgresql://clara:hun@ter22@db/clara", "postgresql://clara:****@db/clara"),
        ("postgresql://clara:hun#ter22@db/clara", "postgresql://clara:****@db/clara"),
        ("sqlite:////var/lib/clara/clara.db", "sqlite:////var/lib/clara/clara.db"),
        ("host=db user=clara password=hunter22", "****"),
        ("hunter22", "****"),
    ],
)
def test_masked_dsn_hides_every_password(url: str, shown: str) -> None:
    assert masked_dsn(url) == shown
    assert "ter22" not in masked_dsn(url)


def test_a_query_password_is_accepted_and_shown_masked_by_python_m_clara_config() -> None:
    url = "postgresql://clara@db/clara?password=hunter22"
    assert load_settings({"DATABASE_URL": url}).database.url == url
    result = subprocess.run(
        [sys.executable, "-m", "clara", "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )
    assert "hunter22" not in result.stdout + result.stderr
    assert "postgresql://clara@db/clara?password=****  (environment)" in result.stdout


def test_a_keyword_form_dsn_is_refused_without_being_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": "host=db user=clara password=hunter22 dbname=clara"})
    message = str(caught.value)
    assert "hunter22" not in message and "user=clara" not in message
    assert "keyword-form DSN" in message
    assert "'****' (secret, 49 characters)" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql:///clara", "must name a host"),
        ("postgresql://clara:hunter22@db:5432x/clara", "is not a URL SQLAlchemy can read"),
        ("postgresql://clara:hunter22@db:70000/clara", "must have a port from 1 to 65535"),
        ("postgresql://clara:hunter22@db:\u0665\u0664\u0663\u0662/clara", "in ASCII"),
        ("sqlite://", "must name a SQLite file"),
        ("sqlite:///:memory:", "must name a SQLite file"),
    ],
)
def test_a_malformed_database_url_is_refused_with_its_password_masked(
    url: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match="^DATABASE_URL") as caught:
        load_settings({"DATABASE_URL": url})
    assert expected in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_a_unix_socket_host_in_the_query_is_a_host() -> None:
    url = "postgresql://clara@/clara?host=/var/run/postgresql"
    assert load_settings({"DATABASE_URL": url}).database.url == url


def test_the_log_filter_masks_the_password_even_alone() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://clara:hunter%2F22@db/clara"})
    record = logging.LogRecord(
        "clara",
        logging.ERROR,
        __file__,
        1,
        "the server said: %s",
        ("bad password hunter/22",),
        None,
    )
    SecretFilter(settings.secrets).filter(record)
    assert "hunter" not in record.getMessage()
