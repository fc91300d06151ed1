"""The sandbox's records on SQLite and PostgreSQL: the run audit and servers' choices."""

from __future__ import annotations

import pytest

from clara.store import (
    Database,
    SandboxPolicy,
    finish_sandbox_run,
    load_sandbox_policy,
    sandbox_run_totals,
    sandbox_runs_of,
    save_sandbox_policy,
    start_sandbox_run,
)


def _start(database: Database, user: str = "2", tool: str = "run_python") -> int:
    with database.unit_of_work() as session:
        return start_sandbox_run(
            session,
            platform="discord",
            user_id=user,
            channel_id="100",
            guild_id="500",
            tool=tool,
            code_hash="ab" * 32,
            backend="docker",
        )


def test_a_run_is_started_then_finished(database: Database) -> None:
    first = _start(database)
    unfinished = _start(database, tool="run_shell")
    _start(database, user="3")
    with database.unit_of_work() as session:
        finish_sandbox_run(
            session, first, duration=0.25, exit_code=1, output_bytes=42, truncated=True
        )
        finish_sandbox_run(session, 999_999, duration=None, exit_code=None)  # no such run
    with database.unit_of_work() as session:
        runs = sandbox_runs_of(session, "discord", "2")
        totals = sandbox_run_totals(session, "discord", "2")
    assert [run.id for run in runs] == [unfinished, first]  # newest first
    done = runs[1]
    assert (done.exit_code, done.duration, done.output_bytes, done.truncated, done.killed) == (
        1,
        0.25,
        42,
        True,
        False,
    )
    assert done.finished_at is not None and done.finished_at.tzinfo is not None
    assert runs[0].finished_at is None
    assert (totals.runs, totals.unfinished) == (2, 1)
    assert totals.last_started_at is not None and totals.last_started_at.tzinfo is not None


def test_a_long_error_is_cut_to_fit(database: Database) -> None:
    run = _start(database)
    with database.unit_of_work() as session:
        finish_sandbox_run(
            session, run, duration=None, exit_code=None, killed=True, error="e" * 900
        )
    with database.unit_of_work() as session:
        (stored,) = sandbox_runs_of(session, "discord", "2")
    assert stored.killed and stored.error == "e" * 500


def test_a_server_s_choices_are_saved_and_read(database: Database) -> None:
    with database.unit_of_work() as session:
        assert load_sandbox_policy(session, "discord", "500") == SandboxPolicy()
        assert load_sandbox_policy(session, "discord", None) == SandboxPolicy()
        save_sandbox_policy(session, "discord", "500", by="discord:1", network=True)
        changed = save_sandbox_policy(session, "discord", "500", by="discord:1", mode="admins")
    assert changed == SandboxPolicy(mode="admins", network=True)
    with database.unit_of_work() as session:
        assert load_sandbox_policy(session, "discord", "500") == changed
        assert load_sandbox_policy(session, "discord", "501") == SandboxPolicy()


def test_an_unknown_mode_is_refused(database: Database) -> None:
    with database.unit_of_work() as session, pytest.raises(ValueError, match="mode must be one of"):
        save_sandbox_policy(session, "discord", "500", by="x", mode="sometimes")
