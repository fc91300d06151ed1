"""Child specs, restart types, strategies and backoff: what a supervisor is told to do."""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..actors import Actor, ActorCell, ActorRef, ActorSystem, Mailbox, Overflow
from ..actors._core.mailbox import DEFAULT_CONTROL_CAPACITY, validate_capacity

if TYPE_CHECKING:
    from ._base import SupervisorBase

__all__ = ["Backoff", "ChildSpec", "Restart", "RestartIntensity", "Strategy"]


class Restart(enum.Enum):
    """When a child is started again after it ends (Erlang/OTP's restart values).

    ``PERMANENT``: always (crash or normal exit).
    ``TRANSIENT``: only after a crash.
    ``TEMPORARY``: never; the child is removed when it ends. When a sibling's crash restarts
    its group (``ONE_FOR_ALL``, ``REST_FOR_ONE``), a temporary child in the group is stopped
    (``on_stop`` runs) and removed, not restarted.
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them ends and must be restarted.

    ``ONE_FOR_ONE``: only that child.
    ``ONE_FOR_ALL``: every child: the others are stopped in reverse start order, then all
    are started again in order.
    ``REST_FOR_ONE``: that child and the children started after it.

    Temporary children of the group are stopped with it and removed, never restarted.
    """

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds; got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        expected = "at least 0" if allow_zero else "greater than 0"
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff before each restart of a child.

    The n-th restart since the child was last stable waits
    ``min(max, min * multiplier ** (n - 1))`` seconds, then scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` (and capped at ``max`` again). A child that ran for
    ``reset_after`` seconds without crashing is stable: its next crash starts again at ``min``.

    Attributes:
        min: the first delay, seconds (default 0.1). 0 restarts at once.
        max: the cap, seconds (default 30).
        multiplier: growth per attempt, at least 1 (default 2).
        jitter: the random spread as a fraction of the delay, 0 to 1 (default 0.1).
        reset_after: seconds of stable running that reset the attempt count (default 60).
    """

    min: float = 0.1
    max: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        _positive("backoff min", self.min, allow_zero=True)
        _positive("backoff max", self.max, allow_zero=True)
        if self.max < self.min:
            raise ValueError(
                f"backoff max must be at least backoff min ({self.min!r}); got {self.max!r}"
            )
        if (
            isinstance(self.multiplier, bool)
            or not isinstance(self.multiplier, int | float)
            or not self.multiplier >= 1
        ):
            raise ValueError(f"backoff multiplier must be at least 1; got {self.multiplier!r}")
        if (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, int | float)
            or not 0 <= self.jitter <= 1
        ):
            raise ValueError(f"backoff jitter must be between 0 and 1; got {self.jitter!r}")
        _positive("backoff reset_after", self.reset_after)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before restart number ``attempt`` (1-based) since the child was stable."""
        if attempt < 1:
            raise ValueError(f"backoff attempt must be at least 1; got {attempt!r}")
        try:
            base = self.min * self.multiplier ** (attempt - 1)
        except OverflowError:
            base = self.max
        base = min(self.max, base)
        if self.jitter and base:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            base = min(self.max, base * (1.0 + spread))
        return base


class RestartIntensity:
    """Counts restarts in a sliding window: ``max_restarts`` within ``max_seconds``.

    ``allow(now)`` is called before each restart; it answers False for the restart that would
    be one too many, and the supervisor then fails (escalates to its parent). The window is
    closed at both ends, as in Erlang/OTP: a restart made at ``t`` still counts at
    ``t + max_seconds`` and has left the window just after.
    """

    __slots__ = ("_times", "max_restarts", "max_seconds")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"max_restarts must be an int of at least 0; got {max_restarts!r}")
        self.max_restarts = max_restarts
        self.max_seconds = _positive("max_seconds", max_seconds)
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        self._prune(now)
        if len(self._times) >= self.max_restarts:
            return False
        self._times.append(now)
        return True

    def in_window(self, now: float) -> int:
        self._prune(now)
        return len(self._times)

    def reset(self) -> None:
        self._times.clear()

    def _prune(self, now: float) -> None:
        # A restart exactly max_seconds old still counts, as in OTP (its add_restart keeps
        # the restarts R with R >= Now - Period).
        times = self._times
        horizon = now - self.max_seconds
        while times and times[0] < horizon:
            times.popleft()


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child (Erlang/OTP's child spec).

    Attributes:
        id: the child's name among its siblings; also the last part of its path.
        start: a callable returning a fresh ``Actor`` (called for every incarnation), or a
            ``Supervisor`` / ``DynamicSupervisor`` instance (a nested supervisor).
        restart: ``PERMANENT`` (default), ``TRANSIENT`` or ``TEMPORARY``.
        shutdown: seconds a graceful stop may take before the child is cancelled
            (default 5; ``math.inf`` waits, the default for a nested supervisor).
        mailbox_capacity: the actor's mailbox capacity (default 1000). Ignored for supervisors.
        overflow: the actor's overflow policy (default ``BACKPRESSURE``).
        control_capacity: the bound of the actor's control lane, where its timer ticks and
            ``tell_self`` messages wait (default 64); beyond it they are dead-lettered
            (``control_lane_full``).
        backoff: this child's restart backoff; the supervisor's when None.

    An actor child has a ref from the moment it is declared (``spec.ref``), so siblings can
    be wired with it before the tree is built, let alone started: messages sent before the
    child starts wait in its mailbox and are handled once it runs. A spec whose ref was taken
    belongs to one supervisor (a second one refuses it).
    """

    id: str
    start: Any
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = None
    mailbox_capacity: int = 1000
    overflow: Overflow = Overflow.BACKPRESSURE
    backoff: Backoff | None = field(default=None)
    control_capacity: int = DEFAULT_CONTROL_CAPACITY
    _declared: ActorCell | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from ._base import SupervisorBase  # noqa: PLC0415 - the base module imports this one

        if not isinstance(self.id, str) or not self.id or "/" in self.id:
            raise ValueError(f"child spec id must be a non-empty str without '/'; got {self.id!r}")
        if not (isinstance(self.start, SupervisorBase) or callable(self.start)):
            raise TypeError(
                f"child spec {self.id!r}: start must be a callable returning an Actor, or a "
                f"Supervisor; got {type(self.start).__name__}"
            )
        if isinstance(self.start, type) and not issubclass(self.start, Actor):
            raise TypeError(
                f"child spec {self.id!r}: start is the class {self.start.__name__}, which is "
                "not an Actor"
            )
        if not isinstance(self.restart, Restart):
            allowed = ", ".join(item.name for item in Restart)
            raise ValueError(
                f"child spec {self.id!r}: restart must be a Restart ({allowed}); "
                f"got {self.restart!r}"
            )
        if self.shutdown is not None:
            _positive(f"child spec {self.id!r}: shutdown", self.shutdown)
        validate_capacity(self.mailbox_capacity, "mailbox_capacity")
        validate_capacity(self.control_capacity, "control_capacity")
        if not isinstance(self.overflow, Overflow):
            allowed = ", ".join(item.name for item in Overflow)
            raise ValueError(
                f"child spec {self.id!r}: overflow must be an Overflow ({allowed}); "
                f"got {self.overflow!r}"
            )
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise TypeError(
                f"child spec {self.id!r}: backoff must be a Backoff; "
                f"got {type(self.backoff).__name__}"
            )

    @property
    def ref(self) -> ActorRef:
        """This actor child's ref, valid from now on: before the tree runs, and across restarts.

        Raises:
            TypeError: the child is a supervisor (hold the supervisor object itself).
        """
        if self.is_supervisor:
            raise TypeError(
                f"child spec {self.id!r} is a supervisor; refer to the supervisor object itself"
            )
        cell = self._declared
        if cell is None:
            # Adopted by the supervisor that starts it (path, system, owner set then).
            cell = ActorCell(
                f"(not started)/{self.id}",
                ActorSystem("declared"),
                self.new_mailbox(),
                shutdown=self.shutdown_timeout,
            )
            object.__setattr__(self, "_declared", cell)
        return cell.ref

    def adopt(self, owner: SupervisorBase, path: str, system: ActorSystem) -> ActorCell:
        """This child's cell, now ``owner``'s child at ``path``: the one ``ref`` gave out, or
        a new one (which ``ref`` gives out from then on).

        Raises:
            ValueError: another supervisor already adopted it.
        """
        cell = self._declared
        if cell is None:
            cell = ActorCell(
                path,
                system,
                self.new_mailbox(),
                owner=owner,
                shutdown=self.shutdown_timeout,
            )
            object.__setattr__(self, "_declared", cell)
            return cell
        if cell.owner is not None and cell.owner is not owner:
            raise ValueError(
                f"child spec {self.id!r} is already a child of another supervisor; "
                "declare one spec per child"
            )
        cell.path = path
        cell.system = system
        cell.owner = owner
        return cell

    def new_mailbox(self) -> Mailbox:
        """A mailbox as this spec describes it."""
        return Mailbox(self.mailbox_capacity, self.overflow, self.control_capacity)

    @property
    def is_supervisor(self) -> bool:
        from ._base import SupervisorBase  # noqa: PLC0415

        return isinstance(self.start, SupervisorBase)

    @property
    def shutdown_timeout(self) -> float:
        """``shutdown``, or its default: 5 s for an actor, no limit for a supervisor."""
        if self.shutdown is not None:
            return self.shutdown
        return math.inf if self.is_supervisor else 5.0
