"""EventLog: the lifecycle events of a tree, recorded for tests to read and await."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import trio

from ..actors import ActorSystem, LifecycleEvent

__all__ = ["EventLog", "HasPath"]

E = TypeVar("E", bound=LifecycleEvent)


class HasPath(Protocol):
    """Anything with a path in the tree: an ``ActorRef``, a supervisor."""

    @property
    def path(self) -> str: ...


class EventLog:
    """Records every lifecycle event of ``system`` from now on (``system.observe``).

    ``ActorTestKit`` keeps one (``kit.events``, ``kit.expect_event``); make your own for a
    tree you run yourself. Await an event rather than polling statistics::

        backing_off = await log.expect(BackingOff, path=ref, attempt=2)
        assert (backing_off.at, backing_off.delay) == (0.1, 0.2)

    Args:
        system: the actor system whose events to record.
    """

    def __init__(self, system: ActorSystem) -> None:
        self._events: list[LifecycleEvent] = []
        # Indices of the events ``expect`` has returned: each is returned once.
        self._taken: set[int] = set()
        self._arrived: trio.Event | None = None
        self._forget = system.observe(self._record)

    def _record(self, event: LifecycleEvent) -> None:
        self._events.append(event)
        arrived = self._arrived
        if arrived is not None:
            self._arrived = None
            arrived.set()

    def close(self) -> None:
        """Stop recording (what was recorded stays readable); idempotent."""
        self._forget()

    def events(self, path: str | HasPath | None = None, kind: type[E] | None = None) -> list[Any]:
        """The events recorded so far, oldest first, optionally of one path and one kind."""
        wanted = _path_of(path)
        return [
            event
            for event in self._events
            if (wanted is None or event.path == wanted)
            and (kind is None or isinstance(event, kind))
        ]

    async def expect(
        self,
        kind: type[E],
        *,
        path: str | HasPath | None = None,
        within: float = 1.0,
        **fields: Any,
    ) -> E:
        """The earliest recorded ``kind`` event not returned before, waiting up to ``within``
        (virtual) seconds for one to happen.

        Args:
            kind: the event class (``Started``, ``BackingOff``, ``Escalated``, ...).
            path: only events about this path (a str, a ref or a supervisor).
            within: how long to wait, seconds.
            fields: values the event's fields must have (``attempt=2``).

        Raises:
            AssertionError: no such event within ``within``; the message lists what the
                path did meanwhile.
            TypeError: ``fields`` names a field ``kind`` does not have.
        """
        unknown = sorted(set(fields) - set(kind.__struct_fields__))
        if unknown:
            raise TypeError(
                f"{kind.__name__} has no field {', '.join(unknown)}; "
                f"its fields: {', '.join(kind.__struct_fields__)}"
            )
        wanted = _path_of(path)
        with trio.move_on_after(within):
            checked = 0
            while True:
                events = self._events
                for index in range(checked, len(events)):
                    event = events[index]
                    if (
                        index not in self._taken
                        and isinstance(event, kind)
                        and (wanted is None or event.path == wanted)
                        and all(getattr(event, name) == value for name, value in fields.items())
                    ):
                        self._taken.add(index)
                        return event
                checked = len(events)
                arrived = self._arrived
                if arrived is None:
                    arrived = self._arrived = trio.Event()
                await arrived.wait()
        what = kind.__name__ + (f" for {wanted}" if wanted else "")
        if fields:
            what += " with " + ", ".join(f"{name}={value!r}" for name, value in fields.items())
        seen = self.events(wanted)
        history = "; ".join(repr(event) for event in seen[-10:]) or "none"
        raise AssertionError(
            f"expected a {what} within {within:g}s; none came. "
            f"Events{' of ' + wanted if wanted else ''} so far: {history}"
        )

    async def expect_none(
        self, kind: type[E], *, path: str | HasPath | None = None, within: float = 0.1
    ) -> None:
        """Wait ``within`` seconds and fail if a ``kind`` event (of ``path``) happened since
        the call."""
        wanted = _path_of(path)
        start = len(self._events)
        await trio.sleep(within)
        for event in self._events[start:]:
            if isinstance(event, kind) and (wanted is None or event.path == wanted):
                raise AssertionError(
                    f"expected no {kind.__name__} within {within:g}s; got {event!r}"
                )


def _path_of(path: str | HasPath | None) -> str | None:
    if path is None or isinstance(path, str):
        return path
    return path.path
