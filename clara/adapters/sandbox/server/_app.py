"""The sandbox service: a ``SandboxBackend`` offered over HTTP/JSON to holders of an API key.

``SandboxService`` is a plain ASGI app (no framework routing: every request goes through the
same few checks in the same order, so none can be skipped):

1. ``GET /v1/health`` answers without a key (a load balancer's probe); nothing else does.
2. The API key: exactly one ``Authorization: Bearer <key>`` header, compared in constant time
   with every key the service knows (``keys`` maps a label, used in logs, to a key). A missing
   or wrong key gets a 401 that says how to send one, never what was sent.
3. The body: a ``Content-Length`` past ``max_body_bytes`` is refused (413) without being
   kept: up to 16 MiB of it is read and dropped first, so the client hears the answer rather
   than a reset; a body that grows past the limit while read is refused the same way.
4. The handle: an id the service itself made, for this same key. Ids are random (128 bits)
   and map to the backend's own handles inside the service, so a client never names a
   container or a folder, and a key's sandboxes are invisible to every other key (404).
   Owners are kept apart per key too: two keys' owner ``alice`` are two sandboxes.
5. The limits a client asks for are checked against the service's ceiling (422 naming the
   field), the run's timeout, output cap and file sizes against the service's maxima.

Every backend call is blocking; it runs in a worker thread behind a ``trio.CapacityLimiter``
and is abandoned on cancellation, so a hung engine never holds the service's shutdown. The
backend's errors become statuses the ``remote`` backend maps back (``_wire.ErrorReply``):
``SandboxGone`` 410 (with its reason), ``SandboxQuotaExceeded`` 507, ``SandboxBusy`` 503,
``SandboxUnavailable`` 502, any other ``SandboxError`` 422. A full service (``max_sandboxes``
made and not removed) answers 503 "busy". Anything else a request raises is logged and
answered with a one-line 500.

The sandboxes a service made are its own, and none outlives what knows their ids:

- ``close`` removes them all (``serve_sandboxes`` calls it on the way out);
- ``open`` sweeps the backend's scope first (``serve_sandboxes`` calls it before serving):
  what a service killed with ``kill -9`` left behind is removed when it starts again;
- a key's ``DELETE /v1/sandboxes`` removes all of that key's (the ``remote`` backend's
  ``sweep``, which a Clara process calls at start: its earlier life's ids are lost);
- ``reap_idle`` removes sandboxes no request touched for ``idle_seconds`` (a Clara process
  that died and never came back), checked every ``idle_seconds / 4`` (at most a minute).

The backend is the caller's: it closes it.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
import trio
from starlette.types import Receive, Scope, Send

from .._types import (
    SandboxBackend,
    SandboxBusy,
    SandboxError,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)
from ._wire import (
    AliveReply,
    CreateRequest,
    ErrorReply,
    ExecuteRequest,
    FileReply,
    GetFileRequest,
    HandleReply,
    HealthReply,
    ListFilesReply,
    ListFilesRequest,
    PutFileRequest,
    SweepReply,
)

__all__ = ["MIN_KEY_LENGTH", "SandboxService"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

MIN_KEY_LENGTH = 16
REFUSAL = "missing or wrong API key: send Authorization: Bearer <CLARA_SANDBOX_SERVER_KEY>"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_encoder = msgspec.json.Encoder()


#: How much of a body too large to take is still read (and dropped) before the 413.
_DRAIN_BYTES = 16 * 1024 * 1024


async def _discard(receive: Receive, up_to: int) -> None:
    """Read and drop the rest of a request body, at most ``up_to`` bytes of it."""
    read = 0
    while read <= up_to:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _Refused(Exception):
    """A request answered with an error: status and ``ErrorReply``."""

    def __init__(self, status: int, error: str, kind: str, reason: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.reply = ErrorReply(error=error, kind=kind, reason=reason)


class _Entry(msgspec.Struct, kw_only=True):
    label: str
    owner: str
    handle: SandboxHandle
    used: float = 0.0
    """``trio.current_time()`` of the last request that touched it."""
    busy: int = 0
    """Requests on it now (an idle sweep leaves it alone while any is)."""


class SandboxService:
    """The ASGI app serving ``backend`` to holders of ``keys``.

    Args:
        backend: the sandboxes' backend (docker on a host with an engine; any
            ``SandboxBackend``).
        keys: a label for each API key (the label names the key in logs; the key never is).
            Each key is 16+ characters.
        ceiling: the most a client may ask for (each field of a ``create``'s limits at most
            this; ``network`` only when this allows it).
        max_sandboxes: sandboxes at once, over all keys; past it ``create`` answers "busy".
        max_timeout: the longest run, in seconds.
        max_output: the largest ``output_limit`` of a run, bytes per stream.
        max_file_bytes: the largest file ``put_file`` takes or ``get_file`` gives.
        threads: backend calls at once (each in a worker thread).
        idle_seconds: a sandbox no request touched for this long is removed by
            ``reap_idle`` (keep it above the clients' own idle time: Clara's
            ``CLARA_SANDBOX_IDLE_SECONDS``).

    Raises:
        ValueError: no key, a key shorter than 16 characters, or a number out of range (the
            message names the argument, never a key).
    """

    def __init__(
        self,
        backend: SandboxBackend,
        keys: Mapping[str, str],
        *,
        ceiling: SandboxLimits | None = None,
        max_sandboxes: int = 20,
        max_timeout: float = 600.0,
        max_output: int = 8 * 1024 * 1024,
        max_file_bytes: int = 32 * 1024 * 1024,
        threads: int = 16,
        idle_seconds: float = 3600.0,
    ) -> None:
        if not keys:
            raise ValueError("keys: at least one API key is needed; got none")
        for label, key in keys.items():
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"keys: the key labelled {label!r} is {len(key)} characters; "
                    f"at least {MIN_KEY_LENGTH}"
                )
        for field, value in (
            ("max_sandboxes", max_sandboxes),
            ("max_timeout", max_timeout),
            ("max_output", max_output),
            ("max_file_bytes", max_file_bytes),
            ("threads", threads),
            ("idle_seconds", idle_seconds),
        ):
            if value <= 0:
                raise ValueError(f"{field} must be above 0, got {value}")
        self.backend = backend
        self._keys = [(label, key.encode()) for label, key in keys.items()]
        self.ceiling = ceiling if ceiling is not None else SandboxLimits()
        self.max_sandboxes = max_sandboxes
        self.max_timeout = max_timeout
        self.max_output = max_output
        self.max_file_bytes = max_file_bytes
        self.idle_seconds = idle_seconds
        # base64 grows a file by 4/3; the rest of a body (path, argv) gets 64 KiB.
        self.max_body_bytes = max_file_bytes * 4 // 3 + 64 * 1024
        self._limiter = trio.CapacityLimiter(threads)
        self._entries: dict[str, _Entry] = {}
        self._by_owner: dict[tuple[str, str], str] = {}

    @property
    def sandboxes(self) -> int:
        """How many sandboxes the service holds now."""
        return len(self._entries)

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # a WebSocket: hypercorn refuses what the app does not accept
        try:
            status, body = await self._answer(scope, receive)
        except _Refused as refused:
            status, body = refused.status, _encoder.encode(refused.reply)
        except Exception as error:
            # The traceback goes to the log (masked there); the client gets one line.
            logger.error(
                "sandbox service: %s %r raised %s",
                scope.get("method"),
                str(scope.get("path", ""))[:200],
                type(error).__name__,
                exc_info=error,
            )
            status = 500
            body = _encoder.encode(
                ErrorReply(error="the sandbox service failed to answer; its log says why")
            )
        headers = [(b"content-type", b"application/json")] if body else []
        headers.append((b"content-length", str(len(body)).encode()))
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="clara-sandbox"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        method = str(scope.get("method", ""))
        path = str(scope.get("path", ""))
        parts = path.strip("/").split("/")
        if parts == ["v1", "health"] and method in ("GET", "HEAD"):
            health = HealthReply(
                backend=self.backend.name, sandboxes=self.sandboxes, capacity=self.max_sandboxes
            )
            return 200, _encoder.encode(health)
        label = self._key_label(scope)
        if parts[:2] != ["v1", "sandboxes"] or len(parts) > 5:
            raise _Refused(404, f"no such route: {method} {_shown(path)}", "bad_request")
        route = (method, len(parts), "/".join(parts[3:]))
        if route == ("POST", 2, ""):
            return 201, await self._create(label, await self._body(scope, receive, CreateRequest))
        if route == ("DELETE", 2, ""):
            return 200, _encoder.encode(SweepReply(removed=await self._sweep(label)))
        if len(parts) < 3:
            raise _Refused(
                405, f"{method} is not allowed on /v1/sandboxes; POST or DELETE", "bad_request"
            )
        sandbox_id = parts[2]
        if route == ("GET", 3, ""):
            return 200, await self._using(self._entry(label, sandbox_id), self._alive, None)
        if route == ("DELETE", 3, ""):
            await self._remove(label, sandbox_id)
            return 204, b""
        actions: dict[tuple[str, int, str], Callable[..., Any]] = {
            ("POST", 4, "execute"): self._execute,
            ("POST", 5, "files/put"): self._put_file,
            ("POST", 5, "files/get"): self._get_file,
            ("POST", 5, "files/list"): self._list_files,
        }
        kinds: dict[str, type[msgspec.Struct]] = {
            "execute": ExecuteRequest,
            "files/put": PutFileRequest,
            "files/get": GetFileRequest,
            "files/list": ListFilesRequest,
        }
        action = actions.get(route)
        if action is None:
            raise _Refused(404, f"no such route: {method} {_shown(path)}", "bad_request")
        entry = self._entry(label, sandbox_id)
        request = await self._body(scope, receive, kinds[route[2]])
        result = await self._using(entry, action, request)
        return (204 if not result else 200), result

    async def _using(self, entry: _Entry, action: Callable[..., Any], request: Any) -> bytes:
        """``action`` on ``entry``, which counts as busy (not idle) meanwhile."""
        entry.busy += 1
        entry.used = trio.current_time()
        try:
            result: bytes = await (action(entry) if request is None else action(entry, request))
            return result
        finally:
            entry.busy -= 1
            entry.used = trio.current_time()

    # -- the checks ------------------------------------------------------------------------

    def _key_label(self, scope: Scope) -> str:
        """The label of the key the request carries; refused (401) without a right one."""
        sent = [value for name, value in scope.get("headers", ()) if name == b"authorization"]
        if len(sent) != 1:
            raise _Refused(401, REFUSAL, "auth")
        scheme, _, credentials = sent[0].strip().partition(b" ")
        if scheme.lower() != b"bearer":
            raise _Refused(401, REFUSAL, "auth")
        credentials = credentials.strip()
        found: str | None = None
        for label, key in self._keys:  # every key compared: no early exit to time
            if hmac.compare_digest(credentials, key):
                found = label
        if found is None:
            raise _Refused(401, REFUSAL, "auth")
        return found

    async def _body(self, scope: Scope, receive: Receive, kind: type[Any]) -> Any:
        """The JSON body as ``kind``, at most ``max_body_bytes`` (413 past it)."""
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                # Read (and drop) a body of modest size first: a client still sending when
                # the answer comes and the connection closes sees a reset, not the 413.
                if int(value) <= _DRAIN_BYTES:
                    await _discard(receive, _DRAIN_BYTES)
                raise _Refused(
                    413, f"the request body is {int(value):,} bytes; at most {limit:,}", "too_large"
                )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "the client left before sending its body", "bad_request")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await _discard(receive, _DRAIN_BYTES - size)
                raise _Refused(
                    413, f"the request body is over {limit:,} bytes; at most {limit:,}", "too_large"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            return msgspec.json.decode(b"".join(chunks), type=kind)
        except msgspec.ValidationError as error:
            raise _Refused(400, f"the request body is not right: {error}", "bad_request") from None
        except msgspec.DecodeError as error:
            raise _Refused(400, f"the request body is not JSON: {error}", "bad_request") from None

    def _entry(self, label: str, sandbox_id: str) -> _Entry:
        entry = self._entries.get(sandbox_id) if _ID.fullmatch(sandbox_id) else None
        if entry is None or entry.label != label:
            # The same answer whether the id exists for another key or not at all.
            raise _Refused(
                404,
                f"no sandbox {_shown(sandbox_id)} for this key: removed, made with another key, "
                "or made before the service restarted",
                "not_found",
                "removed",
            )
        return entry

    def _check_limits(self, limits: SandboxLimits) -> None:
        ceiling = self.ceiling
        if limits.network and not ceiling.network:
            raise _Refused(422, "this sandbox service offers no network (limits.network)", "error")
        for field in ("memory_mb", "cpus", "pids", "work_mb"):
            asked, most = getattr(limits, field), getattr(ceiling, field)
            if not 0 < asked <= most:
                text = f"limits.{field} must be above 0 and at most {most:g}; got {asked:g}"
                raise _Refused(422, text, "error")

    # -- the operations ----------------------------------------------------------------------

    async def _create(self, label: str, request: CreateRequest) -> bytes:
        self._check_limits(request.limits)
        if not request.owner or len(request.owner) > 200:
            raise _Refused(400, "owner must be 1 to 200 characters", "bad_request")
        previous = self._by_owner.get((label, request.owner))
        if previous is None and len(self._entries) >= self.max_sandboxes:
            raise _Refused(
                503,
                f"all {self.max_sandboxes} sandboxes of this service are in use; "
                "try again in a moment",
                "busy",
            )
        # Owners of different keys never meet in the backend.
        owner = f"{label}/{request.owner}"
        handle = await self._call(lambda: self.backend.create(owner, request.limits))
        if previous is not None:  # the backend removed it: its old id means nothing now
            self._entries.pop(previous, None)
        sandbox_id = secrets.token_urlsafe(16)
        self._entries[sandbox_id] = _Entry(
            label=label, owner=request.owner, handle=handle, used=trio.current_time()
        )
        self._by_owner[(label, request.owner)] = sandbox_id
        logger.info("sandbox service: made %s for key %r", handle.name, label)
        return _encoder.encode(HandleReply(id=sandbox_id, name=handle.name))

    async def _sweep(self, label: str) -> int:
        """Remove every sandbox of ``label``'s key; how many."""
        removed = 0
        for sandbox_id, entry in list(self._entries.items()):
            if entry.label == label:
                await self._remove(label, sandbox_id)
                removed += 1
        return removed

    async def _alive(self, entry: _Entry) -> bytes:
        reason = await self._call(lambda: self.backend.alive(entry.handle))
        return _encoder.encode(AliveReply(reason=reason))

    async def _remove(self, label: str, sandbox_id: str) -> None:
        entry = self._entry(label, sandbox_id)
        await self._call(lambda: self.backend.remove(entry.handle))
        self._forget(sandbox_id)
        logger.info("sandbox service: removed %s for key %r", entry.handle.name, label)

    async def _execute(self, entry: _Entry, request: ExecuteRequest) -> bytes:
        if not request.argv:
            raise _Refused(400, "argv must name a program; it is empty", "bad_request")
        if not 0 < request.timeout <= self.max_timeout:
            raise _Refused(
                400,
                f"timeout must be above 0 and at most {self.max_timeout:g} s; "
                f"got {request.timeout:g}",
                "bad_request",
            )
        if not 0 <= request.output_limit <= self.max_output:
            raise _Refused(
                400,
                f"output_limit must be 0 to {self.max_output:,} bytes; "
                f"got {request.output_limit:,}",
                "bad_request",
            )
        result = await self._call(
            lambda: self.backend.execute(
                entry.handle,
                request.argv,
                stdin=request.stdin,
                timeout=request.timeout,
                output_limit=request.output_limit,
            )
        )
        return _encoder.encode(result)

    async def _put_file(self, entry: _Entry, request: PutFileRequest) -> bytes:
        if len(request.data) > self.max_file_bytes:
            raise _Refused(
                413,
                f"the file is {len(request.data):,} bytes; at most {self.max_file_bytes:,}",
                "too_large",
            )
        await self._call(lambda: self.backend.put_file(entry.handle, request.path, request.data))
        return b""

    async def _get_file(self, entry: _Entry, request: GetFileRequest) -> bytes:
        if not 0 <= request.max_bytes <= self.max_file_bytes:
            raise _Refused(
                400,
                f"max_bytes must be 0 to {self.max_file_bytes:,}; got {request.max_bytes:,}",
                "bad_request",
            )
        data = await self._call(
            lambda: self.backend.get_file(entry.handle, request.path, request.max_bytes)
        )
        return _encoder.encode(FileReply(data=data))

    async def _list_files(self, entry: _Entry, request: ListFilesRequest) -> bytes:
        files = await self._call(lambda: self.backend.list_files(entry.handle, request.path))
        return _encoder.encode(ListFilesReply(files=files))

    async def _call(self, call: Callable[[], _T]) -> _T:
        """``call`` in a worker thread (abandoned on cancellation), its errors as statuses."""
        try:
            return await trio.to_thread.run_sync(
                call, abandon_on_cancel=True, limiter=self._limiter
            )
        except SandboxGone as error:
            raise _Refused(410, str(error), "gone", error.reason) from None
        except SandboxQuotaExceeded as error:
            raise _Refused(507, str(error), "quota") from None
        except SandboxBusy as error:
            raise _Refused(503, str(error), "busy") from None
        except SandboxUnavailable as error:
            raise _Refused(502, str(error), "unavailable") from None
        except SandboxError as error:
            raise _Refused(422, str(error), "error") from None

    def _forget(self, sandbox_id: str) -> None:
        entry = self._entries.pop(sandbox_id, None)
        if entry is not None and self._by_owner.get((entry.label, entry.owner)) == sandbox_id:
            del self._by_owner[(entry.label, entry.owner)]

    # -- start, idle, shutdown -----------------------------------------------------------------

    async def open(self) -> int:
        """Remove what an earlier life of the service left in the backend; how many."""
        removed: int = await trio.to_thread.run_sync(self.backend.sweep, abandon_on_cancel=True)
        if removed:
            logger.info("sandbox service: removed %d sandboxes left from before", removed)
        return removed

    async def reap_idle(self) -> None:
        """Forever: remove sandboxes idle past ``idle_seconds`` (see the module's docstring)."""
        every = min(60.0, self.idle_seconds / 4)
        while True:
            await trio.sleep(every)
            await self.reap_once()

    async def reap_once(self) -> int:
        """Remove the sandboxes idle past ``idle_seconds`` now; how many."""
        cutoff = trio.current_time() - self.idle_seconds
        removed = 0
        for sandbox_id, entry in list(self._entries.items()):
            if entry.busy or entry.used > cutoff or self._entries.get(sandbox_id) is not entry:
                continue
            try:
                await self._remove(entry.label, sandbox_id)
            except _Refused as refused:
                logger.warning(
                    "sandbox service: could not remove idle %s: %s",
                    entry.handle.name,
                    refused.reply.error,
                )
            else:
                removed += 1
                logger.info(
                    "sandbox service: removed %s, idle for %gs",
                    entry.handle.name,
                    self.idle_seconds,
                )
        return removed

    async def close(self) -> None:
        """Remove every sandbox the service made (the backend itself is its giver's to close).

        Each removal runs in a worker thread; one that fails is logged and the rest go on.
        """
        for sandbox_id, entry in list(self._entries.items()):
            try:
                await trio.to_thread.run_sync(
                    self.backend.remove, entry.handle, abandon_on_cancel=True
                )
            except SandboxError as error:
                logger.warning(
                    "sandbox service: could not remove %s on the way out: %s",
                    entry.handle.name,
                    error,
                )
            self._forget(sandbox_id)


def _shown(value: object) -> str:
    """A client's text in an answer: quoted, and cut at 80 characters."""
    text = str(value)
    return repr(text if len(text) <= 80 else text[:80] + "...")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
