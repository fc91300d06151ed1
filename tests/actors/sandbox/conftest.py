"""Fixtures for the sandbox suites: a store on SQLite and on PostgreSQL, a virtual clock
that waits for worker threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio.testing

from clara.store import Database
from clara.testing import throwaway_database

# The store suites' fixtures: a migrated database on SQLite and on PostgreSQL.
from tests.store.conftest import box, database, postgres_url

__all__ = ["box", "database", "postgres_url"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite store whose units of work run in worker threads, as in production."""
    with throwaway_database(tmp_path, threads=True) as database:
        yield database


@pytest.fixture
def virtual_time(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness (threads finish first)."""
    mock_clock.autojump_threshold = 0.2
    return mock_clock
