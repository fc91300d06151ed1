"""The history tools read a real store: each of their tests runs on SQLite and on PostgreSQL,
with the store tests' own fixtures."""

from tests.store.conftest import database, postgres_url

__all__ = ["database", "postgres_url"]
