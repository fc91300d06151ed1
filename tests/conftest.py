"""Shared test set-up: trio tests are marked ``@pytest.mark.trio`` (trio_mode stays off).

Fixtures for every test:

- ``database``: a migrated, empty SQLite store in the test's ``tmp_path``
  (``clara.testing.throwaway_database``). Its units of work run in the trio thread, so
  ``autojump_clock`` gives exact virtual times. ``tests/store`` has a ``database`` of its
  own (SQLite and PostgreSQL, with worker threads), which overrides this one there.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from clara.store import Database
from clara.testing import throwaway_database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty SQLite store, removed after the test."""
    with throwaway_database(tmp_path) as store:
        yield store
