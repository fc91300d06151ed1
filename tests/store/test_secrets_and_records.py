"""Secrets at rest, key rotation, migrations and records written by an older schema."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from clara.config import EncryptionSettings, Secret, load_settings
from clara.errors import SecretKeyError
from clara.store import (
    KEY_FILE,
    Database,
    McpServerConfig,
    RecordProblem,
    SecretBox,
    add_email_account,
    current_revision,
    decode_records,
    email_password,
    head_revision,
    load_oauth_token,
    make_engine,
    rotate_secrets,
    store_oauth_token,
    upgrade,
)
from clara.store.models import Base, McpServer, OAuthToken, User

REPO = Path(__file__).resolve().parents[2]
ACCESS = "ya29.access-token-that-must-never-be-readable"
REFRESH = "1//refresh-token-that-must-never-be-readable"


def _key() -> str:
    return Fernet.generate_key().decode()


def _seed(database: Database, box: SecretBox) -> int:
    with database.unit_of_work() as session:
        user = User(platform="discord", platform_user_id="ada")
        session.add(user)
        session.flush()
        store_oauth_token(
            session,
            box,
            server_name="calendar",
            user_id=user.id,
            access_token=ACCESS,
            refresh_token=REFRESH,
            expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        )
        account = add_email_account(
            session,
            box,
            user_id=user.id,
            address="ada@example.test",
            imap_host="127.0.0.1",
            imap_port=143,
            username="ada",
            password="imap-password-123",
        )
        return account.id


def test_secrets_round_trip_and_are_unreadable_in_the_tables(
    database: Database, box: SecretBox
) -> None:
    account_id = _seed(database, box)
    with database.unit_of_work() as session:
        assert load_oauth_token(session, box, "calendar", 1) == (
            ACCESS,
            REFRESH,
            dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        )
        assert email_password(session, box, account_id) == "imap-password-123"
        raw = session.execute(text("SELECT access_token_encrypted FROM oauth_tokens")).scalar_one()
        assert ACCESS.encode() not in bytes(raw)


def test_tokens_are_unreadable_in_the_sqlite_file(tmp_path: Path, box: SecretBox) -> None:
    path = tmp_path / "clara.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    database = Database(engine)
    _seed(database, box)
    database.dispose()  # checkpoints the WAL into the file
    content = path.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("clara.db-*") if p.is_file()
    )
    for secret in (ACCESS, REFRESH, "imap-password-123"):
        assert secret.encode() not in content


def test_rotation_with_two_keys(database: Database) -> None:
    old, new = _key(), _key()
    _seed(database, SecretBox([old]))
    both = SecretBox([new, old])  # the new key first: encrypts; the old one still decrypts
    with database.unit_of_work() as session:
        assert load_oauth_token(session, both, "calendar", 1)[0] == ACCESS  # type: ignore[index]
        assert rotate_secrets(session, both) == 3
    only_new = SecretBox([new])  # the old key removed after the rotation
    with database.unit_of_work() as session:
        assert load_oauth_token(session, only_new, "calendar", 1)[:2] == (ACCESS, REFRESH)  # type: ignore[index]
    with (
        pytest.raises(SecretKeyError, match="cannot decrypt oauth_tokens 1"),
        database.unit_of_work() as session,
    ):
        load_oauth_token(session, SecretBox([old]), "calendar", 1)


def test_a_wrong_key_is_a_clear_error_never_a_plaintext_fallback(
    database: Database, box: SecretBox
) -> None:
    account_id = _seed(database, box)
    stranger = SecretBox([_key()])
    with (
        pytest.raises(SecretKeyError, match=r"cannot decrypt email_accounts \d+: none of the 1"),
        database.unit_of_work() as session,
    ):
        email_password(session, stranger, account_id)
    with pytest.raises(SecretKeyError, match="no encryption key"):
        SecretBox([])
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        SecretBox(["not-a-key"])


def test_without_configured_keys_a_key_file_is_made_once_and_kept(tmp_path: Path) -> None:
    first = SecretBox.from_settings(EncryptionSettings(), tmp_path)
    path = tmp_path / KEY_FILE
    assert path.is_file()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    token = first.encrypt("hello")
    again = SecretBox.from_settings(EncryptionSettings(), tmp_path)
    assert again.decrypt(token, "test") == "hello"
    # Configured keys take over encryption; the file key still opens what it sealed.
    configured = SecretBox.from_settings(EncryptionSettings(keys=(Secret(_key()),)), tmp_path)
    assert configured.decrypt(token, "test") == "hello"
    assert configured.key_count == 2


def test_migrations_build_exactly_the_models_schema(database: Database) -> None:
    assert current_revision(database.engine) == head_revision()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_twice_changes_nothing(database: Database) -> None:
    assert upgrade(database.engine) == head_revision()


def test_a_record_from_an_older_schema_loads_with_defaults(database: Database) -> None:
    with database.unit_of_work() as session:
        # Written before call_timeout, allowed_users and allowed_roles existed.
        session.add(McpServer(name="old", source="npm:@acme/tools", config={"command": "npx"}))
        session.add(
            McpServer(
                name="newer",
                source="npm:@acme/more",
                config={"command": "node", "call_timeout": 5, "from_the_future": True},
            )
        )
        session.add(McpServer(name="broken", source="x", config={"call_timeout": "soon"}))
    with database.unit_of_work() as session:
        rows = [(row.id, row.config) for row in session.scalars(select(McpServer))]
    good, problems = decode_records(McpServerConfig, "mcp_servers", rows)
    configs = {record_id: config for record_id, config in good}
    assert configs[1] == McpServerConfig(command="npx")
    assert configs[1].call_timeout == 60.0 and configs[1].allowed_users == []
    assert configs[2].call_timeout == 5.0
    assert problems == [
        RecordProblem(
            table="mcp_servers",
            record_id=3,
            field="call_timeout",
            message="Expected `float`, got `str`",
        )
    ]
    assert str(problems[0]) == (
        "mcp_servers record 3: field call_timeout: Expected `float`, got `str`"
    )


def _clara(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clara", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        check=False,
    )


def test_the_keys_and_db_commands(tmp_path: Path) -> None:
    generated = _clara("keys", "generate", env={}).stdout.strip()
    assert len(generated) == 44 and Fernet(generated.encode())
    old = _key()
    env = {"CLARA_DATA_DIR": str(tmp_path), "CLARA_ENCRYPTION_KEYS": old}
    upgraded = _clara("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"database at revision {head_revision()}" in upgraded.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    database = Database(engine)
    _seed(database, SecretBox([old]))
    database.dispose()
    rotated = _clara("keys", "rotate", env={**env, "CLARA_ENCRYPTION_KEYS": f"{generated},{old}"})
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 3 stored secrets with the newest key" in rotated.stdout
    database = Database(make_engine(f"sqlite:///{tmp_path / 'clara.db'}"))
    with database.unit_of_work() as session:
        assert load_oauth_token(session, SecretBox([generated]), "calendar", 1)[0] == ACCESS  # type: ignore[index]
        token = session.scalars(select(OAuthToken)).one()
        assert Fernet(generated.encode()).decrypt(token.access_token_encrypted).decode() == ACCESS
    database.dispose()
    wrong = _clara("keys", "rotate", env={**env, "CLARA_ENCRYPTION_KEYS": _key()})
    assert wrong.returncode == 2
    assert "cannot re-encrypt oauth_tokens" in wrong.stderr
    assert generated not in wrong.stderr + wrong.stdout


def test_database_url_for_postgres_uses_psycopg_3() -> None:
    from clara.store import database_url  # noqa: PLC0415

    settings = load_settings({"DATABASE_URL": "postgresql://clara:pw@db/clara"})
    assert database_url(settings.database, Path("data")).startswith("postgresql+psycopg://")
