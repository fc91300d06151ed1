"""Shared test set-up: trio tests are marked ``@pytest.mark.trio`` (trio_mode stays off).

The caller's configuration never reaches a test. Before anything is collected, every
variable Clara reads (each of the registry's, any other ``CLARA_*``, every ``*_API_KEY``
and the provider variables SDKs read on their own) is taken out of the process environment,
and ``CLARA_ENV_FILE`` names an empty file, so that neither the developer's shell nor a
``./.env`` changes what a test sees, or what a process a test starts sees (tests hand
``os.environ`` to ``run.py``). ``CLARA_TEST_*`` variables, which configure the tests
themselves (a PostgreSQL server, an npm package), stay. ``tests/test_isolation.py`` proves it
by running tests under a hostile environment.

Fixtures for every test:

- ``database``: a migrated, empty SQLite store in the test's ``tmp_path``
  (``clara.testing.throwaway_database``). Its units of work run in the trio thread, so
  ``autojump_clock`` gives exact virtual times. ``tests/store`` has a ``database`` of its
  own (SQLite and PostgreSQL, with worker threads), which overrides this one there.
"""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clara.config import ENV_FILE_VARIABLE, VARIABLES
from clara.store import Database
from clara.testing import throwaway_database

#: Read by the SDKs Clara uses (openai, anthropic, mem0), whatever Clara's settings say.
SDK_VARIABLES = frozenset(
    {
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "OPENROUTER_API_BASE",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "MEM0_DIR",
    }
)

#: Set for every test: what the tests need whatever the caller has.
TEST_VALUES = {"MEM0_TELEMETRY": "False"}

_REGISTERED = frozenset(var.name for var in VARIABLES) | {ENV_FILE_VARIABLE}

_SESSION_PATCH = pytest.StashKey[tuple[pytest.MonkeyPatch, Path]]()


def is_caller_configuration(name: str) -> bool:
    """Whether the variable ``name`` configures Clara or a model provider's SDK."""
    if name.startswith("CLARA_TEST_"):
        return False
    return (
        name in _REGISTERED
        or name.startswith("CLARA_")
        or name.endswith("_API_KEY")
        or name in SDK_VARIABLES
    )


def pytest_configure(config: pytest.Config) -> None:
    """Take the caller's configuration out of the environment, for the whole session."""
    patch = pytest.MonkeyPatch()
    for name in [name for name in os.environ if is_caller_configuration(name)]:
        patch.delenv(name)
    descriptor, empty_env_file = tempfile.mkstemp(prefix="clara-tests-", suffix=".env")
    os.close(descriptor)
    patch.setenv(ENV_FILE_VARIABLE, empty_env_file)
    for name, value in TEST_VALUES.items():
        patch.setenv(name, value)
    config.stash[_SESSION_PATCH] = (patch, Path(empty_env_file))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_PATCH not in config.stash:
        return
    patch, empty_env_file = config.stash[_SESSION_PATCH]
    patch.undo()
    empty_env_file.unlink(missing_ok=True)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty SQLite store, removed after the test."""
    with throwaway_database(tmp_path) as store:
        yield store
