"""SandboxActor: one per person; owns their sandbox, from its making to its removal.

The sandbox is made on first use and removed when the actor stops: passivated after
``CLARA_SANDBOX_IDLE_SECONDS`` idle, reset by the person (``/sandbox reset``), or Clara
stopping. One request at a time: the mailbox orders a person's runs, so two runs never share
the sandbox at once.

Every backend call runs in a worker thread, behind one limiter every sandbox shares, and is
abandoned on cancellation, so a call that hangs never holds the actor past its stop. Each
call also has a deadline of its own (a run: its time limit plus ``hang_grace``; making a
sandbox: ``create_timeout``); past it the sandbox counts as broken, is dropped (its removal
tried in the background) and made again on the next request.

A sandbox that died (``alive`` names why: out of memory, removed behind Clara's back) or
whose call raised ``SandboxGone`` is made again on the next request, whose answer says what
happened ("your sandbox was restarted: it ran out of memory; files in it were lost").

Runs are audited in ``sandbox_runs``: the row is written before the run starts and finished
after it; a run cut short by a crash keeps its unfinished row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import trio

from ...adapters.sandbox import (
    ExecResult,
    SandboxBackend,
    SandboxError,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
)
from ...errors import StoreUnavailable
from ...store import Database, finish_sandbox_run, start_sandbox_run
from .. import Actor
from .messages import (
    Execute,
    FetchedFile,
    ListFiles,
    PutFiles,
    ReadFile,
    SandboxReply,
    Usage,
    UsageReport,
)

__all__ = ["SandboxActor", "SandboxOptions", "why"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Why a sandbox stopped, as ``alive`` or ``SandboxGone`` say it, in words for its owner.
_REASONS = {
    "oom": "it ran out of memory",
    "removed": "it was removed outside Clara",
    "pids": "it ran out of processes",
    "hung": "it stopped answering",
    "gone": "it stopped",
}


def why(reason: str) -> str:
    """``reason`` (``oom``, ``removed``, ``exited 137``...) for the person whose sandbox it was."""
    return _REASONS.get(reason, f"it stopped ({reason})")


@dataclass(frozen=True)
class SandboxOptions:
    """What every person's sandbox actor shares.

    Args:
        backend: where sandboxes run.
        limits: each sandbox's limits (``network`` is set per request).
        limiter: one bound on the worker threads of every sandbox's backend calls.
        timeout: seconds one run may take (the backend kills it then).
        output_limit: bytes kept of a run's stdout, and of its stderr.
        hang_grace: seconds a backend call may go beyond its own limit before the sandbox
            counts as hung.
        create_timeout: seconds making a sandbox may take.
        database: where runs are audited; None: not audited (tests, no store).
    """

    backend: SandboxBackend
    limits: SandboxLimits
    limiter: trio.CapacityLimiter
    timeout: float = 30.0
    output_limit: int = 64 * 1024
    hang_grace: float = 15.0
    create_timeout: float = 120.0
    database: Database | None = None


class _Hung(Exception):
    """A backend call passed its deadline (its thread is abandoned)."""


class SandboxActor(Actor):
    """One person's sandbox (see the module's docstring).

    Args:
        owner: the person, ``platform:user id`` (the DynamicSupervisor's key).
        options: what all sandbox actors share.
    """

    def __init__(self, owner: str, options: SandboxOptions) -> None:
        platform, _, user_id = owner.partition(":")
        if not platform or not user_id:
            raise ValueError(f"owner must be 'platform:user id'; got {owner!r}")
        self.owner = owner
        self.platform = platform
        self.user_id = user_id
        self.options = options
        self.backend = options.backend
        self.blocking_limiter = options.limiter
        self.handle: SandboxHandle | None = None
        self.network = False
        self.state = "none"
        self.runs = 0
        self.last_run_at: float | None = None
        self.remakes = 0
        self._lost: str | None = None
        """Why the last sandbox went (told to the person when the next one is made)."""

    # -- lifecycle ----------------------------------------------------------------------------

    async def on_stop(self) -> None:
        handle, self.handle = self.handle, None
        self.state = "none"
        if handle is not None:
            # Within what is left of the stop's budget; an engine that hangs is abandoned.
            try:
                await self.context.run_blocking(self.backend.remove, handle, abandon_on_cancel=True)
            except SandboxError as error:
                logger.warning("sandbox %s: removing %s failed: %s", self.owner, handle.name, error)
            else:
                logger.info("sandbox %s: removed %s", self.owner, handle.name)

    # -- messages -----------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Usage):
            return await self._usage()
        if not isinstance(message, Execute | PutFiles | ReadFile | ListFiles):
            raise TypeError(f"SandboxActor does not handle {type(message).__name__}")
        notes: list[str] = []
        try:
            handle = await self._ready(message.network, notes)
        except _Hung:
            return SandboxReply(notes=tuple(notes), error="making your sandbox took too long")
        except SandboxError as error:  # the backend cannot be reached, or refused to make one
            self.state = "ready" if self.handle is not None else "none"
            return SandboxReply(notes=tuple(notes), error=f"no sandbox could be made: {error}")
        if isinstance(message, Execute):
            return await self._execute(handle, message, notes)
        try:
            return await self._file_operation(handle, message, notes)
        except SandboxGone as error:
            self._drop(error.reason)
            return SandboxReply(notes=tuple(notes), error=self._lost_now(error.reason))
        except _Hung:
            self._hung(handle)
            return SandboxReply(notes=tuple(notes), error=self._lost_now("hung"))
        except SandboxQuotaExceeded as error:
            return SandboxReply(notes=tuple(notes), error=self._quota(error))
        except SandboxError as error:
            return SandboxReply(notes=tuple(notes), error=str(error))

    async def _file_operation(
        self, handle: SandboxHandle, message: PutFiles | ReadFile | ListFiles, notes: list[str]
    ) -> SandboxReply:
        grace = self.options.hang_grace
        if isinstance(message, PutFiles):
            written = []
            for path, data in message.files:
                await self._call(grace, self.backend.put_file, handle, path, data)
                written.append(path)
            return SandboxReply(notes=tuple(notes), written=tuple(written))
        if isinstance(message, ReadFile):
            data = await self._call(
                grace, self.backend.get_file, handle, message.path, message.max_bytes
            )
            return SandboxReply(notes=tuple(notes), data=data)
        listing = await self._call(grace, self.backend.list_files, handle, message.path)
        return SandboxReply(notes=tuple(notes), listing=tuple(listing))

    async def _execute(
        self, handle: SandboxHandle, message: Execute, notes: list[str]
    ) -> SandboxReply:
        timeout = self.options.timeout
        if message.timeout is not None:
            timeout = min(timeout, message.timeout)
        try:
            run_id = await self._audit_start(message)
        except StoreUnavailable as error:
            return SandboxReply(
                notes=tuple(notes),
                error=f"the run was not started: its audit record cannot be written ({error})",
            )
        self.state = "running"
        self.runs += 1
        self.last_run_at = trio.current_time()
        result: ExecResult | None = None
        error_text: str | None = None
        hung = False
        try:
            result = await self._call(
                timeout + self.options.hang_grace,
                self._run,
                handle,
                message.argv,
                message.stdin,
                timeout,
            )
        except SandboxGone as error:
            self._drop(error.reason)
            error_text = self._lost_now(error.reason)
        except _Hung:
            self._hung(handle)
            error_text = self._lost_now("hung")
            hung = True
        except SandboxError as error:
            error_text = str(error)
        finally:
            if self.state == "running":
                self.state = "ready"
        await self._audit_finish(run_id, result, error_text, killed=hung)
        if result is None:
            return SandboxReply(notes=tuple(notes), error=error_text)
        files = await self._fetch(handle, message.fetch) if self.handle is not None else ()
        return SandboxReply(notes=tuple(notes), result=result, files=files)

    def _run(
        self, handle: SandboxHandle, argv: tuple[str, ...], stdin: bytes | None, timeout: float
    ) -> ExecResult:
        return self.backend.execute(
            handle, argv, stdin=stdin, timeout=timeout, output_limit=self.options.output_limit
        )

    async def _fetch(
        self, handle: SandboxHandle, paths: tuple[str, ...]
    ) -> tuple[FetchedFile, ...]:
        fetched = []
        for path in paths:
            try:
                data = await self._call(
                    self.options.hang_grace, self.backend.get_file, handle, path, _FETCH_BYTES
                )
            except SandboxGone as error:
                self._drop(error.reason)
                fetched.append(FetchedFile(path=path, error=self._lost_now(error.reason)))
                break
            except _Hung:
                self._hung(handle)
                fetched.append(FetchedFile(path=path, error=self._lost_now("hung")))
                break
            except SandboxError as error:
                fetched.append(FetchedFile(path=path, error=str(error)))
            else:
                fetched.append(FetchedFile(path=path, data=data))
        return tuple(fetched)

    async def _usage(self) -> UsageReport:
        used = count = None
        if self.handle is not None:
            try:
                listing = await self._call(
                    self.options.hang_grace, self.backend.list_files, self.handle, "."
                )
            except (SandboxError, _Hung):
                pass
            else:
                used = sum(item.size for item in listing if not item.is_dir)
                count = sum(1 for item in listing if not item.is_dir)
        return UsageReport(
            state=self.state, runs=self.runs, used_bytes=used, files=count, network=self.network
        )

    # -- the sandbox --------------------------------------------------------------------------

    async def _ready(self, network: bool, notes: list[str]) -> SandboxHandle:
        """The person's sandbox, running, with the network ``network`` says (made if need be)."""
        if self.handle is not None:
            try:
                reason = await self._call(self.options.hang_grace, self.backend.alive, self.handle)
            except _Hung:
                reason = "hung"
            if reason is not None:
                self._discard(self.handle)
                self._drop(reason)
            elif self.network != network:
                notes.append(
                    "your sandbox was made again "
                    + ("with a network, as this server allows" if network else "without a network")
                    + "; files in it were lost"
                )
                self._discard(self.handle)
                self.handle = None
        if self.handle is not None:
            return self.handle
        lost, self._lost = self._lost, None
        self.state = "recreating" if lost is not None else "creating"
        limits = msgspec.structs.replace(self.options.limits, network=network)
        try:
            handle = await self._call(
                self.options.create_timeout, self.backend.create, self.owner, limits
            )
        except BaseException:
            self._lost = lost  # still to tell, when one is made
            self.state = "none"
            raise
        self.handle, self.network, self.state = handle, network, "ready"
        if lost is not None:
            self.remakes += 1
            notes.append(f"your sandbox was restarted: {why(lost)}; files in it were lost")
        logger.info("sandbox %s: made %s (%s)", self.owner, handle.name, self.backend.name)
        return handle

    def _drop(self, reason: str) -> None:
        """The sandbox is gone (``reason``): forget it; the next request makes another."""
        if self.handle is not None:
            logger.info("sandbox %s: %s is gone: %s", self.owner, self.handle.name, reason)
        self.handle = None
        self.state = "none"
        self._lost = reason

    def _lost_now(self, reason: str) -> str:
        return (
            f"your sandbox stopped during this call: {why(reason)}; files in it were lost. "
            "It is made again on the next call"
        )

    def _hung(self, handle: SandboxHandle) -> None:
        self._discard(handle)
        self._drop("hung")

    def _discard(self, handle: SandboxHandle) -> None:
        """Remove a broken sandbox in the background (its call, too, may hang: abandoned)."""
        self.context.start_task(self._remove_quietly, handle, name="discard")

    async def _remove_quietly(self, handle: SandboxHandle) -> None:
        with trio.move_on_after(self.options.create_timeout):
            try:
                await self.context.run_blocking(self.backend.remove, handle, abandon_on_cancel=True)
            except SandboxError as error:
                logger.warning("sandbox %s: removing %s failed: %s", self.owner, handle.name, error)

    def _quota(self, error: SandboxQuotaExceeded) -> str:
        return (
            f"your sandbox's storage is full ({error}); each person has "
            f"{self.options.limits.work_mb} MiB. Delete files you no longer need, or "
            "/sandbox reset"
        )

    async def _call(self, limit: float, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread, abandoned on cancellation or after ``limit``
        seconds (then ``_Hung``)."""
        with trio.move_on_after(limit if math.isfinite(limit) else math.inf):
            return await self.context.run_blocking(function, *args, abandon_on_cancel=True)
        raise _Hung(f"{getattr(function, '__name__', function)} took more than {limit:g}s")

    # -- audit --------------------------------------------------------------------------------

    async def _audit_start(self, message: Execute) -> int | None:
        database = self.options.database
        if database is None:
            return None
        return await database.write(
            start_sandbox_run,
            platform=self.platform,
            user_id=self.user_id,
            channel_id=message.channel_id,
            guild_id=message.guild_id,
            tool=message.tool,
            code_hash=message.code_hash,
            backend=self.backend.name,
        )

    async def _audit_finish(
        self, run_id: int | None, result: ExecResult | None, error: str | None, *, killed: bool
    ) -> None:
        """Finish the run's row; ``killed``: the sandbox hung and was dropped mid-run."""
        database = self.options.database
        if database is None or run_id is None:
            return
        try:
            if result is None:
                await database.write(
                    finish_sandbox_run,
                    run_id,
                    duration=None,
                    exit_code=None,
                    killed=killed,
                    error=error,
                )
            else:
                await database.write(
                    finish_sandbox_run,
                    run_id,
                    duration=result.duration,
                    exit_code=result.exit_code,
                    output_bytes=len(result.stdout) + len(result.stderr),
                    truncated=result.truncated,
                    killed=result.timed_out or result.oom,
                )
        except StoreUnavailable as failure:  # the run happened: its row stays unfinished
            logger.warning(
                "sandbox %s: run %s not marked finished: %s", self.owner, run_id, failure
            )

    # -- introspection ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any] | None:
        last = None
        if self.last_run_at is not None:
            try:
                last = round(trio.current_time() - self.last_run_at, 1)
            except RuntimeError:
                last = None
        return {
            "state": self.state,
            "runs": self.runs,
            "last_run_seconds_ago": last,
            "backend": self.backend.name,
            "network": self.network,
            "remade": self.remakes,
        }


#: The largest file a run may hand back (Discord takes 10 MB without a boost).
_FETCH_BYTES = 8 * 1024 * 1024
