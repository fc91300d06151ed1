"""Run a root supervisor as the process: one asyncio loop, signals, a clear exit code, and
the start-up heap frozen out of the garbage collector's sight."""

from __future__ import annotations

import gc
import logging
import signal

import trio
import trio_asyncio

from ..actors import ActorSystem
from ..errors import ChildStartError, RestartIntensityExceeded
from ._base import SupervisorBase

__all__ = ["EXIT_FAILED", "EXIT_OK", "freeze_startup_objects", "serve_until_signal"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
#: The root failed (a child could not start, or restart intensity was exceeded).
EXIT_FAILED = 1

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def freeze_startup_objects() -> int:
    """Take what start-up built out of the garbage collector's sight (``gc.freeze()``).

    A full collection walks every tracked object: with 100,000 live actors, about 630,000
    of them, which pauses the event loop for 120-150 ms, and again at every automatic
    full pass. What the tree built at start-up lives as long as the process, so walking it
    again and again finds nothing. This collects once (so that no garbage is frozen), then
    moves every tracked object to the permanent generation, which collections skip.

    The price: a frozen object that later becomes part of unreachable cycles is never
    freed (reference counting still frees the rest). Call it once, after start-up; not in
    a loop. ``gc.unfreeze()`` undoes it.

    Returns:
        How many objects are frozen now.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def serve_until_signal(
    root: SupervisorBase,
    system: ActorSystem,
    *,
    ready: trio.Event | None = None,
    stop: trio.Event | None = None,
    freeze_startup: bool = True,
) -> int:
    """Run ``root`` until SIGINT or SIGTERM, then stop the tree in reverse start order.

    Opens the one trio-asyncio loop of the process first, so every actor below can reach
    asyncio-only libraries through ``context.run_asyncio``. Once the tree has started, it
    freezes what start-up built (``freeze_startup_objects``), unless ``freeze_startup`` is
    False.

    Returns:
        ``EXIT_OK`` after a signal and an orderly stop; ``EXIT_FAILED`` when the root failed
        (the reason is logged at ERROR, naming the child and the cause).
    """
    failures: list[BaseException] = []
    async with trio_asyncio.open_loop():
        with trio.open_signal_receiver(*_SIGNALS) as signals:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(root.run, system)
                    if freeze_startup:
                        frozen = freeze_startup_objects()
                        logger.info("froze %d objects built at start-up (gc.freeze)", frozen)
                    logger.info("%s is running; SIGINT or SIGTERM stops it", root.path)
                    if ready is not None:
                        ready.set()

                    async def stop_on_signal() -> None:
                        async for signum in signals:
                            logger.info(
                                "received %s; stopping the tree", signal.Signals(signum).name
                            )
                            await root.stop()
                            nursery.cancel_scope.cancel()
                            return

                    nursery.start_soon(stop_on_signal)
                    if stop is not None:

                        async def stop_on_request() -> None:
                            await stop.wait()
                            logger.info("stopping the tree on request")
                            await root.stop()
                            nursery.cancel_scope.cancel()

                        nursery.start_soon(stop_on_request)
            except* (RestartIntensityExceeded, ChildStartError) as group:
                failures.extend(group.exceptions)
    for error in failures:
        logger.error("Clara stopped because the root supervisor failed: %s", error)
    if failures:
        return EXIT_FAILED
    logger.info("stopped cleanly")
    return EXIT_OK
