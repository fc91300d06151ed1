"""The caller's configuration never reaches a test (``tests/conftest.py`` takes it out).

Four tests used to fail on a developer's machine whose shell held ``DISCORD_BOT_TOKEN``: they
hand ``os.environ`` to ``run.py``, which then connected to Discord. The first test below is
the sample; the second runs it, and a test that hands the environment to a real process, in
a pytest of their own under the most hostile environment we can think of.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clara.config import VARIABLES, load_settings
from tests.conftest import is_caller_configuration

REPO = Path(__file__).resolve().parent.parent

#: Every one would change what a test sees; most would make loading the settings fail.
HOSTILE = {
    "DISCORD_BOT_TOKEN": "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "OPENAI_API_KEY": "sk-hostile-0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-hostile-0123456789",
    "OPENROUTER_API_KEY": "sk-or-hostile-0123456789",
    "NANOGPT_API_KEY": "ng-hostile-0123456789",
    "SOMEPROVIDER_API_KEY": "hostile-0123456789",
    "OPENAI_BASE_URL": "http://192.0.2.1/v1",
    "DATABASE_URL": "postgresql://hostile:hunter22@192.0.2.1/hostile",
    "CLARA_DB_POOL_SIZE": "lots",
    "CLARA_DATA_DIR": "/dev/null",
    "CLARA_LOG_LEVEL": "shout",
    "CLARA_NOT_A_SETTING_YET": "1",
}


def test_no_configuration_of_the_caller_reaches_a_test() -> None:
    leaked = sorted(
        name for name in os.environ if is_caller_configuration(name) and name != "CLARA_ENV_FILE"
    )
    assert leaked == []
    assert Path(os.environ["CLARA_ENV_FILE"]).read_text() == ""
    # What the tests' own code reads (the environment over ./.env): the defaults.
    assert load_settings() == load_settings({})
    # What a process a test starts with os.environ reads, from the working directory.
    shown = subprocess.run(
        [sys.executable, "-m", "clara", "config"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for var in VARIABLES:
        assert f"{var.name} " in shown
    assert "(environment)" not in shown and "(.env)" not in shown


def test_tests_pass_in_a_hostile_environment(tmp_path: Path) -> None:
    hostile_file = tmp_path / "hostile.env"
    hostile_file.write_text("".join(f"{name}={value}\n" for name, value in HOSTILE.items()))
    (tmp_path / ".env").write_text(hostile_file.read_text())  # ./.env of the working directory
    env = {**os.environ, **HOSTILE, "CLARA_ENV_FILE": str(hostile_file)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "pyproject.toml"),
            f"{Path(__file__)}::test_no_configuration_of_the_caller_reaches_a_test",
            f"{REPO / 'tests/config/test_settings.py'}::"
            "test_defaults_need_nothing_and_every_variable_has_a_default_or_is_optional",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
