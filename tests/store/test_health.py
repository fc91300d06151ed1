"""An unreachable database is Clara's own ``StoreUnavailable``, and ``Database.health`` says
so until a unit of work succeeds again (issue 13, items 5 and 6)."""

from __future__ import annotations

import pytest
import trio
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clara.errors import StoreError, StoreUnavailable
from clara.store import Database, make_engine
from clara.store._health import as_unavailable
from tests.pg_cluster import free_port


def ping(session: Session) -> int:
    return int(session.execute(text("SELECT 1")).scalar_one())


def test_an_unreachable_database_fails_units_of_work_and_writes_as_store_unavailable() -> None:
    port = free_port()  # nothing listens there
    engine = make_engine(f"postgresql+psycopg://clara:hunter2secret@127.0.0.1:{port}/clara")
    database = Database(engine)
    try:
        assert database.health.problem() is None
        with pytest.raises(StoreUnavailable, match="the database is unavailable") as caught:
            trio.run(database.run, ping)
        assert isinstance(caught.value, StoreError)  # Clara's own: callers can keep promises
        assert "hunter2secret" not in str(caught.value)
        problem = database.health.problem()
        assert problem is not None and "unavailable" in problem and "hunter2secret" not in problem
        with pytest.raises(StoreUnavailable):
            trio.run(database.write, ping)
        assert database.health.outages == 1  # one outage, however many failures
        assert database.health.describe()["up"] is False
    finally:
        database.dispose()


def test_the_health_is_back_with_the_next_unit_of_work_that_succeeds(database: Database) -> None:
    database.health.failed(StoreUnavailable("the database is unavailable: test"))
    assert database.health.problem() is not None
    assert trio.run(database.run, ping) == 1
    assert database.health.problem() is None
    database.health.failed(StoreUnavailable("the database is unavailable: again"))
    assert trio.run(database.write, ping) == 1
    assert database.health.up


def test_an_error_in_what_was_asked_is_not_an_outage() -> None:
    error = IntegrityError("INSERT ...", {"content": "what someone said"}, Exception("dup"))
    assert as_unavailable(error) is error
    assert isinstance(as_unavailable(ConnectionResetError("reset")), StoreUnavailable)
