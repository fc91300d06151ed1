"""Start Clara: load the settings, build the supervision tree, run it until a signal.

Wiring only: this is the one place that builds the object graph. Later capabilities
(store, Discord, LLM, MCP, email, sandbox, proactive engine) hang their supervisors under
the root here.
"""

from __future__ import annotations

import logging
import sys
import time

import trio

import clara
from clara.actors import ActorSystem, DeadLetters
from clara.actors.llm import LlmGatewayActor
from clara.actors.memory import MemoryActor
from clara.actors.status import StatusEndpoint
from clara.adapters.http import StatusContext
from clara.adapters.llm import Gateway, build_providers
from clara.adapters.memory import Mem0Memory, mem0_config
from clara.config import ConfigError, Settings, load_settings
from clara.errors import StoreError
from clara.health import Readiness
from clara.logs import configure_logging
from clara.store import open_store
from clara.supervisors import ChildSpec, Supervisor, serve_until_signal


def build_tree(
    settings: Settings, system: ActorSystem, readiness: Readiness, started_at: float
) -> Supervisor:
    """Clara's supervision tree."""
    children: list[ChildSpec] = []
    root: Supervisor | None = None

    def the_root() -> Supervisor:
        assert root is not None
        return root

    if settings.status.enabled:
        context = StatusContext(
            the_root, system, readiness, version=clara.__version__, started_at=started_at
        )
        children.append(
            ChildSpec(
                "status",
                lambda: StatusEndpoint(settings.status, context),
                mailbox_capacity=100,
            )
        )
    llm = settings.llm
    children.append(
        ChildSpec(
            "llm",
            lambda: LlmGatewayActor(
                lambda: Gateway(
                    build_providers(llm),
                    call_timeout=llm.timeout,
                    breaker_threshold=llm.breaker_threshold,
                    breaker_cooldown=llm.breaker_cooldown,
                )
            ),
            mailbox_capacity=1000,
        )
    )
    if settings.memory.enabled:
        memory = settings.memory
        children.append(
            ChildSpec(
                "memory",
                lambda: MemoryActor(
                    lambda: Mem0Memory(
                        mem0_config(settings), settings.runtime.data_dir.resolve() / "mem0"
                    ),
                    batch_seconds=memory.batch_seconds,
                    search_timeout=memory.search_timeout,
                ),
                mailbox_capacity=10_000,
                shutdown=30.0,  # pending writes are written before it stops
            )
        )

    def llm_problem() -> str | None:
        assert root is not None
        details = root.ref("llm").statistics().details or {}
        providers = details.get("providers", [])
        if not providers or any(provider["up"] for provider in providers):
            return None
        return "no model provider answers: " + "; ".join(
            p["breaker"]["last_error"] or f"{p['name']}: {p['breaker']['state']}" for p in providers
        )

    readiness.register("llm", llm_problem)
    root = Supervisor(
        children,
        max_restarts=settings.runtime.root_max_restarts,
        max_seconds=settings.runtime.root_max_seconds,
    )
    return root


def main() -> int:
    started_at = time.time()
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"clara: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format, settings.secrets)
    try:
        store = open_store(settings)  # brings the schema up to date
    except StoreError as error:
        logging.getLogger("clara").error("cannot open the store: %s", error)
        return 1
    system = ActorSystem("clara", DeadLetters(settings.runtime.dead_letters))
    readiness = Readiness()
    root = build_tree(settings, system, readiness, started_at)
    try:
        return trio.run(serve_until_signal, root, system)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
