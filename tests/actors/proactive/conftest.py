"""Fixtures for the proactive suites: a migrated SQLite store whose units of work run in the
trio thread, so ``autojump_clock`` gives exact virtual times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio.testing

from clara.actors.proactive.sources import mood_and_topics
from clara.proactive.mood import sentiment, topics
from clara.store import Database
from clara.testing import throwaway_database


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    with throwaway_database(tmp_path) as database:
        yield database


@pytest.fixture(scope="session", autouse=True)
def _mood_libraries_loaded() -> None:
    """VADER and YAKE load on first use (about a second): load them once here, so a check's
    worker thread is quick and virtual time does not run ahead of it."""
    mood_and_topics([], dt.datetime.now(dt.UTC))
    sentiment("warm up")
    topics([(dt.datetime.now(dt.UTC), "warm up the keyword extractor")], dt.datetime.now(dt.UTC))


@pytest.fixture
def virtual_time(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness (worker threads finish)."""
    mock_clock.autojump_threshold = 0.2
    return mock_clock
