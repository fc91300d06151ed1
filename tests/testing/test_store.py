"""throwaway_database: a migrated SQLite store in a folder of its own, exact virtual times."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from clara.store import (
    Database,
    claim_message,
    current_revision,
    guild_config,
    head_revision,
)
from clara.testing import throwaway_database

Clock = trio.testing.MockClock


def test_the_store_is_migrated_to_the_head_and_removed_afterwards() -> None:
    with throwaway_database() as database:
        assert current_revision(database.engine) == head_revision()
        folder = Path(str(database.engine.url.database)).parent
        assert (folder / "clara.db").exists()
    assert not folder.exists()


def test_a_folder_given_is_used_and_kept(tmp_path: Path) -> None:
    with throwaway_database(tmp_path) as database:
        assert database.engine.url.database == str(tmp_path / "clara.db")
    assert (tmp_path / "clara.db").exists()


@pytest.mark.trio
async def test_units_of_work_take_no_virtual_time(autojump_clock: Clock) -> None:
    with throwaway_database() as database:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 30)  # a deadline autojump could jump to
            assert await database.run(claim_message, "discord", "1", "c1", None) is None
            assert await database.run(claim_message, "discord", "1", "c1", None) == "received"
            assert trio.current_time() == 0.0
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_with_threads_it_is_the_production_database(autojump_clock: Clock) -> None:
    with throwaway_database(threads=True) as database:
        assert type(database) is Database
        assert not (await database.run(guild_config, "discord", None)).allowed_channels


@pytest.mark.trio
async def test_the_database_fixture_is_a_throwaway_store(database: Database) -> None:
    assert current_revision(database.engine) == head_revision()
    assert await database.run(claim_message, "discord", "1", "c1", None) is None
