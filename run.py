"""Start Clara: load the settings, build the supervision tree, run it until a signal.

Wiring only: this is the one place that builds the object graph. Later capabilities
(status endpoint, store, Discord, LLM, MCP, email, sandbox, proactive engine) hang their
supervisors under the root here.
"""

from __future__ import annotations

import logging
import os
import sys

import trio

from clara.actors import ActorSystem, DeadLetters
from clara.config import ConfigError, Settings, load_settings
from clara.supervisors import Supervisor, serve_until_signal


def build_tree(settings: Settings) -> Supervisor:
    """Clara's supervision tree (its children arrive with the capabilities that need them)."""
    return Supervisor(
        [],
        max_restarts=settings.runtime.root_max_restarts,
        max_seconds=settings.runtime.root_max_seconds,
    )


def main() -> int:
    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        print(f"clara: configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    system = ActorSystem("clara", DeadLetters(settings.runtime.dead_letters))
    return trio.run(serve_until_signal, build_tree(settings), system)


if __name__ == "__main__":
    sys.exit(main())
