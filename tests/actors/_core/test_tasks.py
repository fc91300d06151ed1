from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from clara.actors import Actor, ActorState
from clara.errors import ActorDeadError, ChildStartError
from clara.supervisors import Backoff
from clara.testing import ActorTestKit
from tests.helpers import Crash, Ping


class Started(msgspec.Struct, frozen=True):
    incarnation: int


class Worker(Actor):
    """Runs a background loop that reports ticks to itself; crashes it on demand."""

    def __init__(self, log: list[Any], fail_at: float | None = None) -> None:
        self.log = log
        self.fail_at = fail_at
        self.ticks = 0

    async def on_start(self) -> None:
        self.context.start_task(self.loop, name="loop")

    async def loop(self) -> None:
        incarnation = self.context.incarnation
        while True:
            await trio.sleep(1)
            if self.fail_at is not None and trio.current_time() >= self.fail_at:
                raise OSError("the connection dropped")
            await self.context.ref.tell(("tick", incarnation, trio.current_time()))

    async def on_stop(self) -> None:
        self.log.append(("stop", trio.current_time()))

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise ValueError("boom")
        if isinstance(message, Ping):
            await trio.sleep(100)
            return "late"
        self.log.append(message)
        return None


@pytest.mark.trio
async def test_a_background_task_runs_beside_the_mailbox(autojump_clock: object) -> None:
    log: list[Any] = []
    async with ActorTestKit() as kit:
        await kit.spawn(lambda: Worker(log))
        await trio.sleep(3.5)
        assert log == [("tick", 1, 1.0), ("tick", 1, 2.0), ("tick", 1, 3.0)]


@pytest.mark.trio
async def test_a_crash_cancels_the_tasks_of_the_old_incarnation(autojump_clock: object) -> None:
    log: list[Any] = []
    async with ActorTestKit(backoff=Backoff(min=0.5, jitter=0)) as kit:
        ref = await kit.spawn(lambda: Worker(log))
        await trio.sleep(1.5)
        await ref.tell(Crash())
        await trio.sleep(2.0)
        # Incarnation 1 ticked at 1; it crashed at 1.5; incarnation 2 started at 2.0, ticks at 3.
        assert [entry for entry in log if entry[0] == "tick"] == [
            ("tick", 1, 1.0),
            ("tick", 2, 3.0),
        ]


@pytest.mark.trio
async def test_a_background_task_that_raises_crashes_the_actor(autojump_clock: object) -> None:
    log: list[Any] = []
    attempts = iter([2.5, None])
    async with ActorTestKit(backoff=Backoff(min=1.0, jitter=0)) as kit:
        ref = await kit.spawn(lambda: Worker(log, fail_at=next(attempts)))
        failures: list[BaseException] = []

        async def ask() -> None:
            try:
                await ref.ask(Ping(), timeout=None)
            except ActorDeadError as exc:
                failures.append(exc)

        await trio.sleep(1.5)
        kit.start_soon(ask)  # busy in a long handler when the task fails at 3.0
        await trio.sleep(2.0)
        stats = ref.statistics()
        assert stats.last_failure is not None
        assert (stats.last_failure.type, stats.last_failure.at) == ("OSError", 3.0)
        assert len(failures) == 1  # the handler in progress was cancelled
        assert ("stop", 3.0) in log
        await trio.sleep(2.0)
        # Counted once decided (while backing off), and not again once made.
        assert stats.restarts == 1 and ref.statistics().restarts == 1
        assert ref.state is ActorState.RUNNING
        assert [e for e in log if e[0] == "tick"][-1][1] == 2  # the new incarnation ticks


@pytest.mark.trio
async def test_stopping_the_actor_cancels_its_tasks(autojump_clock: object) -> None:
    log: list[Any] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Worker(log))
        await trio.sleep(1.5)
        await ref.stop()
        await trio.sleep(5)
        assert [e[0] for e in log] == ["tick", "stop"]


@pytest.mark.trio
async def test_start_task_needs_a_live_incarnation() -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Worker([]))
        actor = ref._cell.actor
        assert actor is not None
        await ref.stop()
        with pytest.raises(RuntimeError, match="start_task needs a running incarnation"):
            actor.context.start_task(trio.sleep, 1)


class Served(Actor):
    """Starts a 'server' in on_start and keeps what it reported when ready."""

    def __init__(self, fail_before_ready: bool = False, fail_after: float | None = None) -> None:
        self.fail_before_ready = fail_before_ready
        self.fail_after = fail_after
        self.address: Any = None

    async def serve(self, port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(0.5)  # binding takes a while
        if self.fail_before_ready:
            raise OSError(f"port {port} is taken")
        task_status.started(("127.0.0.1", port))
        if self.fail_after is not None:
            await trio.sleep(self.fail_after)
            raise OSError("the listener died")
        await trio.sleep_forever()

    async def on_start(self) -> None:
        self.address = await self.context.start_service(self.serve, 8080)

    async def on_receive(self, message: Any) -> Any:
        return self.address


@pytest.mark.trio
async def test_start_service_returns_what_the_service_reports_when_ready(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Served)
        assert trio.current_time() == 0.5
        assert await ref.ask(Ping()) == ("127.0.0.1", 8080)


@pytest.mark.trio
async def test_a_service_failing_before_ready_fails_the_start(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        with pytest.raises(ChildStartError, match="port 8080 is taken"):
            await kit.spawn(lambda: Served(fail_before_ready=True))


@pytest.mark.trio
async def test_a_service_failing_later_crashes_and_restarts_the_actor(
    autojump_clock: object,
) -> None:
    async with ActorTestKit(backoff=Backoff(min=1.0, jitter=0)) as kit:
        attempts = iter([2.0, None])
        ref = await kit.spawn(lambda: Served(fail_after=next(attempts)))
        await trio.sleep(5)
        stats = ref.statistics()
        assert stats.restarts == 1
        assert stats.last_failure is not None and stats.last_failure.message == "the listener died"
        assert stats.last_failure.at == 2.5
        assert await ref.ask(Ping()) == ("127.0.0.1", 8080)


class Later(msgspec.Struct, frozen=True):
    seconds: float
    value: Any = None
    fail: bool = False


class Deferring(Actor):
    """Answers each ask from a background task, so many asks are in flight at once."""

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Later):
            reply = self.context.defer()
            self.context.start_task(self._answer, message, reply)
            return "ignored"
        if isinstance(message, Ping):
            self.context.defer()  # and never answer: the incarnation's end must
            return None
        return self.context.defer()  # a tell: refused

    async def _answer(self, message: Later, reply: Any) -> None:
        await trio.sleep(message.seconds)
        if message.fail:
            reply.fail(LookupError("not found"))
        else:
            reply.reply(message.value)


@pytest.mark.trio
async def test_deferred_replies_let_many_asks_run_at_once(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Deferring)
        answers: dict[int, Any] = {}

        async def ask(n: int) -> None:
            answers[n] = await ref.ask(Later(seconds=10 - n, value=n))

        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(ask, n)
        assert answers == {n: n for n in range(5)}
        assert trio.current_time() == 10  # concurrently, not 10 + 9 + ... seconds
        with pytest.raises(LookupError, match="not found"):
            await ref.ask(Later(seconds=1, fail=True))


@pytest.mark.trio
async def test_an_unanswered_deferred_reply_fails_when_the_actor_stops(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Deferring)
        failures: list[BaseException] = []

        async def ask() -> None:
            try:
                await ref.ask(Ping(), timeout=100)
            except ActorDeadError as exc:
                failures.append(exc)

        kit.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop()
        await trio.testing.wait_all_tasks_blocked()
        assert len(failures) == 1
        assert "ended before replying" in str(failures[0])
        assert trio.current_time() == 0


@pytest.mark.trio
async def test_defer_is_only_for_asks() -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Deferring())
        await ref.tell("a tell")
        await trio.testing.wait_all_tasks_blocked()
        stats = ref.statistics()
        assert stats.last_failure is not None
        assert "defer() is for the ask being handled" in stats.last_failure.message
