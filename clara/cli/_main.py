"""The command line: parse, dispatch, turn errors into one clear line and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..config import (
    ConfigError,
    Settings,
    effective_configuration,
    load_settings,
    settings_table,
    sources,
)
from ..logs import configure_logging
from ._sandbox import SandboxServerError, add_sandbox_server_parser, run_sandbox_server
from ._status import StatusCommandError, run_status

__all__ = ["main"]

#: Exit codes: 0 fine, 1 the tree has failed nodes (status --check), 2 could not do it.
EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clara", description="Clara's operator tools")
    parser.add_argument("--version", action="version", version=f"clara {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = commands.add_parser(
        "status",
        help="show the live supervision tree of a running Clara",
        description="Fetch /status from a running Clara and draw the tree.",
    )
    status.add_argument(
        "--url",
        help="the status endpoint (default: from CLARA_STATUS_HOST / CLARA_STATUS_PORT)",
    )
    status.add_argument("--path", help="only nodes under this path, e.g. /clara/channels")
    status.add_argument(
        "--state",
        action="append",
        help="only nodes in this state (repeatable): running, backing_off, failed, ...",
    )
    status.add_argument("--json", action="store_true", help="print the JSON document as is")
    status.add_argument(
        "--all",
        action="store_true",
        help="the whole tree (by default: the overview, with every node needing attention)",
    )
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when an actor or supervisor is failed or backing off",
    )
    status.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)"
    )
    config = commands.add_parser(
        "config",
        help="print the effective configuration, every secret masked",
        description="Print every setting, its value (secrets masked) and where it came from.",
    )
    config.add_argument(
        "--table", action="store_true", help="print the README's table of settings instead"
    )
    database = commands.add_parser("db", help="the database schema")
    database_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    database_commands.add_parser("upgrade", help="bring the schema up to date (run.py does too)")
    database_commands.add_parser("current", help="print the schema revision in use")
    keys = commands.add_parser("keys", help="encryption keys for secrets at rest")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    keys_commands.add_parser(
        "generate", help="print a new key (put it first in CLARA_ENCRYPTION_KEYS)"
    )
    keys_commands.add_parser(
        "rotate", help="re-encrypt every stored secret with the newest key; print the count"
    )
    add_sandbox_server_parser(commands)
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of /status",
        description="Print the JSON Schema of the /status document (or write the published copy).",
    )
    schema.add_argument(
        "--write",
        action="store_true",
        help="write it to clara/adapters/http/status.schema.json (after a shape change)",
    )
    return parser


def _store_command(arguments: argparse.Namespace, settings: Settings) -> int:
    from ..errors import StoreError  # noqa: PLC0415
    from ..store import (  # noqa: PLC0415 - only these commands need the store
        current_revision,
        head_revision,
        open_store,
        rotate_secrets,
    )

    try:
        store = open_store(settings, migrate=arguments.command == "db")
    except (StoreError, ConfigError) as error:
        print(f"clara {arguments.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if arguments.command == "db":
            revision = current_revision(store.database.engine)
            if arguments.db_command == "current":
                print(f"{revision} (latest: {head_revision()})")
            else:
                print(f"database at revision {revision}")
        else:
            with store.database.unit_of_work() as session:
                count = rotate_secrets(session, store.secrets)
            print(f"re-encrypted {count} stored secrets with the newest key")
    except StoreError as error:
        print(f"clara {arguments.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        store.close()
    return EXIT_OK


def _schema(*, write: bool) -> int:
    from ..adapters.http._schema import SCHEMA_PATH, render_schema  # noqa: PLC0415

    text = render_schema()
    if write:
        SCHEMA_PATH.write_text(text)
        print(f"wrote {SCHEMA_PATH}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "schema":
        return _schema(write=arguments.write)
    if arguments.command == "keys" and arguments.keys_command == "generate":
        from ..store import generate_key  # noqa: PLC0415 - only this command needs the store

        print(generate_key())
        return EXIT_OK
    if arguments.command == "config" and arguments.table:
        sys.stdout.write(settings_table())
        return EXIT_OK
    try:
        settings = load_settings(
            data_dir_needed=arguments.command not in ("status", "sandbox-server")
        )
    except ConfigError as error:
        print(f"clara: configuration error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if arguments.command == "config":
        if arguments.table:
            sys.stdout.write(settings_table())
        else:
            sys.stdout.write(effective_configuration(settings, sources()))
        return EXIT_OK
    if arguments.command in ("db", "keys"):
        configure_logging("WARNING", settings.logging.format, settings.secrets)
        return _store_command(arguments, settings)
    if arguments.command == "status":
        try:
            return run_status(arguments, settings.status, sys.stdout)
        except StatusCommandError as error:
            print(f"clara status: {error}", file=sys.stderr)
            return EXIT_ERROR
    if arguments.command == "sandbox-server":
        configure_logging(settings.logging.level, settings.logging.format, settings.secrets)
        try:
            return run_sandbox_server(arguments, settings)
        except SandboxServerError as error:
            print(f"clara sandbox-server: {error}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_ERROR  # pragma: no cover - argparse requires a command
