"""Small actors and messages shared by the runtime tests."""

from __future__ import annotations

from typing import Any

import msgspec
import trio

from clara.actors import Actor


class Ping(msgspec.Struct, frozen=True):
    n: int = 0


class Crash(msgspec.Struct, frozen=True):
    why: str = "boom"


class Block(msgspec.Struct, frozen=True):
    """Handled by waiting on the actor's gate (a trio.Event the test sets)."""


class Sleep(msgspec.Struct, frozen=True):
    seconds: float


class StopSelf(msgspec.Struct, frozen=True):
    pass


class Recorder(Actor):
    """Records life-cycle events and messages into a shared list; replies n + 1 to Ping."""

    def __init__(
        self,
        events: list[Any] | None = None,
        name: str = "r",
        gate: trio.Event | None = None,
        fail_on_start: int = 0,
    ) -> None:
        self.events = events if events is not None else []
        self.name = name
        self.gate = gate
        self.fail_on_start = fail_on_start
        self.handled: list[Any] = []

    async def on_start(self) -> None:
        self.events.append(("start", self.name, trio.current_time()))
        if self.fail_on_start:
            raise RuntimeError(f"{self.name} cannot start")

    async def on_stop(self) -> None:
        self.events.append(("stop", self.name, trio.current_time()))

    async def on_receive(self, message: Any) -> Any:
        self.handled.append(message)
        self.events.append(("msg", self.name, message))
        if isinstance(message, Crash):
            raise ValueError(message.why)
        if isinstance(message, Block):
            assert self.gate is not None
            await self.gate.wait()
            return "unblocked"
        if isinstance(message, Sleep):
            await trio.sleep(message.seconds)
            return "slept"
        if isinstance(message, StopSelf):
            self.context.stop()
            return "stopping"
        if isinstance(message, Ping):
            return message.n + 1
        return None


def starts(events: list[Any], name: str | None = None) -> list[float]:
    """Virtual times of the on_start calls (of one actor name, or all)."""
    return [e[2] for e in events if e[0] == "start" and (name is None or e[1] == name)]


def order(events: list[Any], kind: str) -> list[str]:
    return [e[1] for e in events if e[0] == kind]


def unwrap(error: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def require(found: object, what: str) -> None:
    """Skip when a system tool or service is missing, except under CI, where it must be there."""
    import os  # noqa: PLC0415 - only the suites that need a system tool call this

    import pytest  # noqa: PLC0415

    if found:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing, and CI must run every suite (.ci/run installs it)")
    pytest.skip(f"{what} is missing (.ci/run installs it)")
