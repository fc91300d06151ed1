"""The proactive subtree for tests: a real SQLite store, a scripted model, a fake transport, and
a wall clock that moves with trio's (virtual) clock."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.lowlevel
from sqlalchemy import select, update

from clara.actors import Actor
from clara.actors.llm import Complete
from clara.actors.proactive import ProactiveSystem, proactive_subsystem
from clara.adapters.chat import Author, MessageReceived
from clara.adapters.llm import ChatRequest, Completion
from clara.config import load_settings
from clara.store import Database, record_exchange
from clara.store._secrets import SecretBox
from clara.store.models import InteractionPattern, Message, ProactivePerson, User
from clara.testing import ActorTestKit, FakeTransport

#: Monday 2 March 2026, 09:00 UTC: the virtual clock's zero.
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PERSON = Author(id="42", name="Ada")


def wall(start: dt.datetime = START) -> Callable[[], dt.datetime]:
    """A wall clock that reads ``start`` plus trio's clock (virtual in tests)."""
    return lambda: start + dt.timedelta(seconds=trio.current_time())


Answer = str | Callable[[ChatRequest], str] | BaseException


@dataclass
class ScriptedModel:
    """What the model answers, in order (the last answer repeats); every request kept."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[ChatRequest] = field(default_factory=list)

    def next(self, request: ChatRequest) -> str:
        self.requests.append(request)
        answer = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer

    def context(self, index: int = -1) -> str:
        """The user turn of request ``index``: what the check showed the model."""
        return self.requests[index].messages[-1].text()


class _ModelActor(Actor):
    def __init__(self, script: ScriptedModel) -> None:
        self.script = script

    async def on_receive(self, message: Any) -> Any:
        assert isinstance(message, Complete)
        return Completion(text=self.script.next(message.request))


def speak(text: str, **extra: Any) -> str:
    return json.dumps({"assessment": "worth a word", "decision": "SPEAK", "message": text, **extra})


def think(note: str, sources: list[str], **extra: Any) -> str:
    return json.dumps(
        {"assessment": "keep it in mind", "decision": "THINK", "note": note, "sources": sources}
        | extra
    )


WAIT = json.dumps({"assessment": "nothing to say", "decision": "WAIT"})


@dataclass
class Running:
    system: ProactiveSystem
    model: ScriptedModel
    transport: FakeTransport
    database: Database
    clock: Callable[[], dt.datetime]
    flush_every: float = 2.0

    def write(
        self,
        text: str,
        *,
        message_id: str,
        channel: str = "dm-42",
        dm: bool = True,
        guild: str | None = None,
        author: Author = PERSON,
    ) -> MessageReceived:
        """``author`` writes ``text`` now: the message, as channels hand it over."""
        message = MessageReceived(
            platform="discord",
            channel_id=channel,
            guild_id=guild,
            message_id=message_id,
            author=author,
            content=text,
            is_dm=dm,
            sent_at=self.clock().timestamp(),
        )
        self.system.offer(message)
        return message

    async def flush(self) -> None:
        """Let the hub write what it was handed (at its next flush)."""
        await trio.sleep(self.flush_every + 0.5)
        sink = self.system.sink
        await settle(lambda: sink.written + sink.dropped >= sink.offered)

    async def checked(self, count: int, *, limit: float = 3600.0) -> None:
        """Wait until the person has had ``count`` checks in all: virtual time moves on (a
        second at a time) only while none is being written."""
        with trio.fail_after(limit):
            while self.person().checks < count:
                await trio.sleep(1.0)
                await settle(lambda: not self.busy())

    def busy(self) -> bool:
        """Whether a person's check is in flight (its writes go through a real thread)."""
        for key in self.system.people.keys():  # noqa: SIM118 - a supervisor, not a dict
            ref = self.system.people.get(key)
            details = ref.statistics().details if ref is not None else None
            if details is not None and details.get("state") != "idle":
                return True
        return False

    async def check_now(self) -> None:
        """Make the person due now and wait for that check to be done."""
        before = self.person().checks
        self.due_now()
        await self.checked(before + 1, limit=120.0)

    def rows(self, model: type[Any]) -> list[Any]:
        with self.database.unit_of_work() as session:
            return list(session.scalars(select(model).order_by(model.id)).all())

    def person(self) -> ProactivePerson:
        with self.database.unit_of_work() as session:
            return session.scalars(select(ProactivePerson)).one()

    def due_now(self) -> None:
        """Make the person's check due now (the scheduler wakes them on its next tick)."""
        with self.database.unit_of_work() as session:
            session.execute(update(ProactivePerson).values(next_check_at=self.clock()))

    def remember(
        self, text: str, *, message_id: str, at: dt.datetime, reply: str = "Noted."
    ) -> None:
        """A stored DM exchange at ``at`` (what a check shows the model)."""
        with self.database.unit_of_work() as session:
            before = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0
            record_exchange(
                session,
                platform="discord",
                channel_id="dm-42",
                guild_id=None,
                is_dm=True,
                turns=[(PERSON.id, PERSON.name, text, message_id)],
                reply=reply,
            )
            session.flush()
            session.execute(update(Message).where(Message.id > before).values(created_at=at))

    def set_zone(self, name: str) -> None:
        with self.database.unit_of_work() as session:
            session.execute(update(User).values(time_zone=name))
            session.execute(update(InteractionPattern).values(time_zone=name))


async def settle(done: Callable[[], bool], *, real: float = 5.0) -> None:
    """Wait up to ``real`` seconds of real time for ``done()``, without moving virtual time:
    the store's writer is a real thread, and autojumping time would outrun it."""
    deadline = time.monotonic() + real
    while not done() and time.monotonic() < deadline:
        time.sleep(0.002)  # noqa: ASYNC251 - real time passes, virtual time must not
        await trio.lowlevel.checkpoint()


@asynccontextmanager
async def proactive_running(
    tmp_path: Path,
    database: Database,
    model: ScriptedModel | None = None,
    *,
    env: dict[str, str] | None = None,
    start: dt.datetime = START,
    transport: FakeTransport | None = None,
    tick: float = 30.0,
    flush: float = 2.0,
    box: SecretBox | None = None,
    http: httpx.AsyncClient | None = None,
) -> AsyncIterator[Running]:
    """The proactive subtree under an ``ActorTestKit``, on ``database``, for the block."""
    settings = load_settings(
        {
            "CLARA_DATA_DIR": str(tmp_path),
            "CLARA_STATUS_ENABLED": "false",
            "CLARA_PROACTIVE_QUIET_HOURS": "22-08",
            **(env or {}),
        }
    )
    script = model or ScriptedModel([WAIT])
    chat = transport or FakeTransport()
    clock = wall(start)
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: _ModelActor(script), name="model")
        system = proactive_subsystem(
            settings,
            database=database,
            llm=llm,
            transport=chat,
            clock=clock,
            tick=tick,
            flush=flush,
            box=box,
            http=http,
        )
        await kit.start_supervisor(system.supervisor, name="proactive")
        yield Running(
            system=system,
            model=script,
            transport=chat,
            database=database,
            clock=clock,
            flush_every=flush,
        )


__all__ = [
    "PERSON",
    "START",
    "WAIT",
    "Running",
    "ScriptedModel",
    "proactive_running",
    "speak",
    "think",
    "wall",
]
