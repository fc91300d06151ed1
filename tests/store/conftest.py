"""Every store test runs twice: on a SQLite file and on a real PostgreSQL database.

PostgreSQL is the server this machine runs on 127.0.0.1:5432 (``.ci/run`` starts it); each
test session creates a database of its own there and drops it afterwards. Without a server
the PostgreSQL half is skipped with a reason, except under CI, where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from clara.store import Database, SecretBox, make_engine, upgrade
from clara.testing import throwaway_postgresql
from tests.helpers import require

POSTGRES_ADMIN = os.environ.get(
    "CLARA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_available() -> bool:
    try:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    require(_postgres_available(), f"PostgreSQL at {POSTGRES_ADMIN}")
    with throwaway_postgresql(POSTGRES_ADMIN) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each engine."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}", pool_size=5)
    else:
        url = request.getfixturevalue("postgres_url")
        engine = make_engine(url, pool_size=5)
        _reset_postgres(engine)
    upgrade(engine)
    database = Database(engine)
    yield database
    database.dispose()


def _reset_postgres(engine: object) -> None:
    from sqlalchemy import text  # noqa: PLC0415

    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([Fernet.generate_key().decode()])
