"""Opening the store: private files on disk, and one clear line when it cannot be opened.

Permissions are checked on the real files SQLite writes, after real writes, under the usual
umask (022). Databases that cannot be reached are real too: a loopback port nothing listens
on, and a database missing from the real PostgreSQL server.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from clara.config import RuntimeSettings, Settings, load_settings
from clara.errors import StoreError
from clara.store import make_engine, open_store
from clara.store._engine import CONNECT_TIMEOUT

REPO = Path(__file__).resolve().parents[2]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """umask 022, as on most machines: what Clara does not restrict, everyone may read."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound by this test and not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_a_new_data_folder_and_its_database_are_private_after_real_writes(
    tmp_path: Path, usual_umask: None
) -> None:
    data = tmp_path / "data"
    store = open_store(load_settings({"CLARA_DATA_DIR": str(data)}))
    try:
        with store.database.engine.connect() as connection:
            connection.execute(text("CREATE TABLE probe (line TEXT)"))
            connection.execute(
                text("INSERT INTO probe VALUES (:line)"), [{"line": "x" * 500}] * 200
            )
            connection.commit()
            # While a connection is open, SQLite keeps its -wal and -shm files.
            files = ["clara.db", "clara.db-wal", "clara.db-shm", "encryption.key"]
            assert {name: oct(mode_of(data / name)) for name in files} == {
                name: oct(0o600) for name in files
            }
        assert mode_of(data) == 0o700
    finally:
        store.close()


def test_an_older_claras_readable_folder_and_files_are_made_private(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    older = sqlite3.connect(data / "clara.db")  # as an older Clara left them: 0644
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("CREATE TABLE left_behind (x)")
    older.commit()
    (data / "mem0").mkdir()
    assert mode_of(data / "clara.db-wal") == 0o644
    try:
        with caplog.at_level(logging.WARNING):
            store = open_store(load_settings({"CLARA_DATA_DIR": str(data)}))
        store.close()
        assert mode_of(data) == 0o700
        for name in ("clara.db", "clara.db-wal", "clara.db-shm"):
            assert mode_of(data / name) == 0o600, name
        assert (
            f"the folder {data} (CLARA_DATA_DIR) could be entered by other users (mode 0755): "
            "it is now 0700" in caplog.text
        )
    finally:
        older.close()


def test_a_folder_holding_what_is_not_claras_is_left_as_it_is_with_a_warning(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "notes.txt").write_text("not Clara's")
    with caplog.at_level(logging.WARNING):
        open_store(load_settings({"CLARA_DATA_DIR": str(home)})).close()
    assert mode_of(home) == 0o755
    assert mode_of(home / "clara.db") == 0o600  # Clara's own file is private all the same
    assert "does not look like Clara's own, so it was left as it is" in caplog.text


def test_a_shared_folder_is_never_changed(tmp_path: Path, usual_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    open_store(load_settings({"CLARA_DATA_DIR": str(shared)})).close()
    assert mode_of(shared) == 0o1777
    assert mode_of(shared / "clara.db") == 0o600


def test_a_data_folder_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    # Settings as load_settings would refuse them (it checks the folder): open_store checks too.
    settings = Settings(runtime=RuntimeSettings(data_dir=a_file / "data"))
    with pytest.raises(
        StoreError,
        match=r"cannot create the folder .*a-file/data \(CLARA_DATA_DIR\): Not a directory",
    ):
        open_store(settings)


def test_a_key_file_that_cannot_be_read_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "encryption.key").mkdir()
    with pytest.raises(StoreError, match="cannot read or write the key file in"):
        open_store(load_settings({"CLARA_DATA_DIR": str(tmp_path)}))


def test_an_unreachable_postgresql_is_one_line_naming_host_port_and_cause(
    tmp_path: Path, closed_port: int
) -> None:
    url = f"postgresql://clara:hunter22@127.0.0.1:{closed_port}/clara"
    settings = load_settings({"DATABASE_URL": url, "CLARA_DATA_DIR": str(tmp_path)})
    with pytest.raises(StoreError) as caught:
        open_store(settings)
    message = str(caught.value)
    assert message.startswith(
        f"cannot connect to PostgreSQL at 127.0.0.1:{closed_port} (database clara): "
    )
    assert "Connection refused" in message
    assert "\n" not in message and "hunter22" not in message


def test_a_database_missing_from_the_server_is_one_line_naming_it(
    tmp_path: Path, postgres_url: str
) -> None:
    server = make_url(postgres_url)
    url = server.set(password="hunter22", database="clara_no_such_database").render_as_string(
        hide_password=False
    )
    settings = load_settings({"DATABASE_URL": url, "CLARA_DATA_DIR": str(tmp_path)})
    with pytest.raises(StoreError) as caught:
        open_store(settings)
    message = str(caught.value)
    assert (
        f"PostgreSQL at {server.host}:{server.port or 5432} (database clara_no_such_database)"
        in message
    )
    assert 'database "clara_no_such_database" does not exist' in message
    assert "\n" not in message and "hunter22" not in message


def test_run_py_says_it_cannot_open_the_store_in_one_line_and_exits_1(
    tmp_path: Path, closed_port: int
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://clara:hunter22@127.0.0.1:{closed_port}/clara",
        "CLARA_DATA_DIR": str(tmp_path),
    }
    for command, code, prefix in (
        (["run.py", "--once", "hello"], 1, "ERROR clara: cannot open the store: "),
        (["-m", "clara", "db", "current"], 2, "clara db: "),
    ):
        result = subprocess.run(
            [sys.executable, *command],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,  # a guard: the connection is refused at once
        )
        output = result.stdout + result.stderr
        assert result.returncode == code, output
        assert "Traceback" not in output and "hunter22" not in output
        lines = output.strip().splitlines()
        assert len(lines) == 1, output
        assert prefix in lines[0]
        assert f"cannot connect to PostgreSQL at 127.0.0.1:{closed_port}" in lines[0]


@pytest.mark.parametrize(
    ("query", "expected"), [("", CONNECT_TIMEOUT), ("?connect_timeout=3", "3")]
)
def test_a_postgresql_connection_has_a_connect_timeout(query: str, expected: object) -> None:
    # libpq's own default is to wait for the system's TCP timeout: minutes at start-up.
    engine = make_engine(f"postgresql+psycopg://clara@127.0.0.1:1/clara{query}")
    sent: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def capture(dialect: object, record: object, cargs: object, cparams: dict[str, object]) -> None:
        sent.update(cparams)
        raise ConnectionAbortedError("captured, not connecting")

    with pytest.raises(ConnectionAbortedError):
        engine.connect()
    engine.dispose()
    assert sent["connect_timeout"] == expected
    assert sent["options"] == "-c statement_timeout=30000"
