"""Every setting, every kind of bad value: a one-line error naming the variable, never a traceback.

The variables come from the registry the configuration table is generated from
(``VARIABLES``), and the bad values from each variable's kind (``Var.parse.kind``): a new
setting of a known kind is fuzzed without a line of test, and a setting of a new kind fails
``test_every_kind_of_setting_has_bad_values_to_try`` until its bad values are written here.
The loader is fuzzed in-process (fast, everything); ``python -m clara config`` and
``python run.py`` as real processes, for a sample of each kind of mistake.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clara.config import VARIABLES, ConfigError, Var, load_settings

REPO = Path(__file__).resolve().parent.parent

MAX_LENGTH = 4096

#: Bad for every setting, whatever its kind.
UNIVERSAL = (
    "\x00",
    "bad\x1b[31mred",
    "bell\x07",
    "line\nbreak",
    "undecodable\udcff",
    "x" * (MAX_LENGTH + 1),
)

_BAD_URLS = (
    "no-scheme.example",
    "ftp://example.com",
    "http://",
    "http://[::1",
    "http://example.com:99999",
    "http://example.com:\u0668\u0660",  # Arabic-Indic digits
    "http://exa mple.com",
    "http://\u00e9.example",
    "//example.com",
)

#: Bad for every setting of the kind.
BAD_BY_KIND: dict[str, tuple[str, ...]] = {
    "integer": (
        "-1",
        "1.5",
        "1e3",
        "nan",
        "inf",
        "\u0668",  # an Arabic-Indic 8: Python's int() reads it
        "\u00b2",  # a superscript 2: isdigit() says yes, int() says no
        "1_000",
        "0x10",
        "12abc",
        str(10**400),
        "99999999999",
    ),
    "seconds": (
        "-1",
        "nan",
        "inf",
        "-inf",
        "1e400",
        str(10**400),
        "\u0663",
        "1_0",
        "soon",
        "0x10",
        "1e12",
    ),
    "boolean": ("maybe", "2", "tru", "yes please", "\u221a"),
    "choice": ("not-an-option", "\u0130NFO"),
    "url": _BAD_URLS,
    "secure_url": (*_BAD_URLS, "http://registry.example", "http://192.0.2.1:4873"),
    "host": ("http://example.com/", "a b", "\u00e9.example", "host/path", "user@host"),
    "token": (
        "short",
        "has a space inside it 0123456789",
        "\u00fcn\u00efc\u00f8d\u00e9-t\u00f8k\u00e9n-0123456789",
        "zero\u200bwidth-space-0123456789",
    ),
    "keys": ("not-a-fernet-key", "Zm9v", "a" * 44),
    "tokens": (
        "short",
        "a-long-enough-key-0123456789,short",
        "a-long-enough-key-0123456789,,another-key-0123456789",
        "a-long-enough-key-0123456789,a-long-enough-key-0123456789",
        "has a space inside it 0123456789",
        ",",
    ),
    "database_url": (
        "mysql://clara:hunter22@db/clara",
        "host=db user=clara password=hunter22",
        "postgresql://",
        "postgresql://clara:hunter22@db:port/clara",
        "postgresql://clara:hunter22@db:99999/clara",
        "postgresql://clara:hunter22@db:\u0665\u0664\u0663\u0662/clara",
        "postgresql://clara:hunter22@[::1/clara",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite://host/clara.db",
    ),
    "ids": ("abc", "\u0661\u0662\u0663", "\u00b2", "1" * 21, "-5", "1.5", str(2**64)),
    "tier_models": ("ultra:model", "high:", "model-without-a-tier"),
    "folder": ("/dev/null", "/dev/null/data", "/" + "x" * 300),
    "container_engine": (
        "sh -c id",
        "rm",
        "/bin/sh",
        "podman; rm -rf /",
        "../podman",
        "/usr/../tmp/../podman",
        "podman-remote",
    ),
    "container_network": ("host", "HOST", "container:db", "ns:/proc/1/ns/net", "a b"),
    "absolute_folders": ("relative/dir", "./here", "/srv/../etc", "/", "/srv/mcp,relative"),
    "text": (),
    "list": (),
}

#: Part of a bad secret value that must never appear in a message.
SECRET_PARTS = ("hunter22", "0123456789", "not-a-fernet-key", "short")


def _cases() -> list[tuple[Var, str]]:
    return [
        (var, value)
        for var in VARIABLES
        for value in (*UNIVERSAL, *BAD_BY_KIND.get(var.parse.kind, ()))
    ]


def _id(case: object) -> str:
    if isinstance(case, Var):
        return case.name
    text = ascii(case)
    return text if len(text) < 30 else text[:27] + "..."


def test_every_kind_of_setting_has_bad_values_to_try() -> None:
    kinds = {var.parse.kind for var in VARIABLES}
    assert kinds <= set(BAD_BY_KIND), f"write bad values for {sorted(kinds - set(BAD_BY_KIND))}"


@pytest.mark.parametrize(("var", "value"), _cases(), ids=_id)
def test_a_bad_value_is_one_line_naming_the_variable(var: Var, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({var.name: value})
    message = str(caught.value)
    assert var.name in message
    assert "\n" not in message and "\r" not in message
    assert len(message) < 1000
    if var.secret:
        for part in SECRET_PARTS:
            assert part not in message or part not in value


@pytest.mark.parametrize("var", VARIABLES, ids=_id)
def test_empty_or_blank_means_the_default_for_every_setting(var: Var) -> None:
    defaults = load_settings({})
    assert load_settings({var.name: ""}) == defaults
    assert load_settings({var.name: "  \t "}) == defaults


#: A sample of every kind of mistake, for the real processes (no NUL: an environment cannot
#: hold one): (variable, value, the secret part that must not be printed, also for run.py).
#: ``python -m clara config`` takes a tenth of a second, ``run.py`` a second (its imports):
#: run.py gets the ones that used to end in a traceback, and one of each kind of message.
PROCESS_CASES = (
    ("CLARA_DEAD_LETTERS", str(10**400), None, True),
    ("CLARA_STATUS_PORT", "\u0668\u0660\u0668\u0660", None, False),
    ("CLARA_ROOT_MAX_SECONDS", "nan", None, False),
    ("CLARA_LOG_LEVEL", "loud\x1b[31m", None, True),
    ("CLARA_STATUS_TOKEN", "t\u00f6k\u00e9n-w\u00efth-\u00fcn\u00efc\u00f8de-0123", "0123", True),
    ("DISCORD_BOT_TOKEN", "bot token with spaces 0123456789", "0123456789", False),
    ("DATABASE_URL", "host=db user=clara password=hunter22", "hunter22", True),
    ("DATABASE_URL", "postgresql://clara:hunter22@db:\u0665\u0664/clara", "hunter22", False),
    ("CLARA_DATA_DIR", "/dev/null", None, True),
    ("CLARA_DISCORD_ALLOWED_GUILDS", "\u00b2", None, False),
    ("CLARA_MCP_CONTAINER_ENGINE", "sh -c id", None, False),
    ("CLARA_MCP_CONTAINER_NETWORK", "host", None, True),
    ("CLARA_MCP_NPM_REGISTRY", "http://registry.example", None, False),
    ("CLARA_MCP_PATH_ROOTS", "relative/dir", None, False),
    ("CLARA_OPENAI_MODELS", "x" * 5000, None, False),
)


def _run_all(
    command: list[str], tmp_path: Path, *, all_cases: bool
) -> list[tuple[str, str, str | None, int, str]]:
    """Each case in a process of its own, all started at once."""
    started = []
    for index, (name, value, secret, for_run_py) in enumerate(PROCESS_CASES):
        if not (all_cases or for_run_py):
            continue
        env = {**os.environ, name: value, "CLARA_DATA_DIR": str(tmp_path / f"data-{index}")}
        if name == "CLARA_DATA_DIR":
            env[name] = value
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append((name, value, secret, process))
    finished = []
    for name, value, secret, process in started:
        # A guard, not a timing: a setting that is wrongly accepted starts Clara (--once
        # then answers and exits); only a hang would meet it.
        stdout, stderr = process.communicate(timeout=120)
        finished.append((name, value, secret, process.returncode, stdout + stderr))
    return finished


@pytest.mark.parametrize(
    "command",
    [["-m", "clara", "config"], ["run.py", "--once", "hello"]],
    ids=["python -m clara config", "python run.py"],
)
def test_a_real_process_exits_2_with_one_line_naming_the_variable(
    command: list[str], tmp_path: Path
) -> None:
    results = _run_all([sys.executable, *command], tmp_path, all_cases=command[0] == "-m")
    for name, value, secret, code, output in results:
        lines = output.strip().splitlines()
        assert code == 2, f"{name}={value[:40]!r}: exit {code}\n{output}"
        assert "Traceback" not in output, output
        assert len(lines) == 1, output
        assert lines[0].startswith("clara: configuration error: ")
        assert name in lines[0]
        if secret is not None:
            assert secret not in output
