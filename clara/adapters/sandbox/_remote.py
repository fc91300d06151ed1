"""The ``remote`` backend: sandboxes of a ``python -m clara sandbox-server`` elsewhere.

For a host without a container engine: another host that has one runs the sandbox service
(``clara.adapters.sandbox.server``), and this backend speaks to it over HTTPS with an API
key. The Protocol is blocking, so this uses a *synchronous* ``httpx.Client`` (the sandbox
actor calls it in worker threads, abandoned on cancellation).

What the service answers becomes the Protocol's errors (``docs/sandbox-remote.md``):

- no answer at all (refused, reset, DNS, TLS, timeout) → ``SandboxUnavailable`` naming the URL;
- 401/403 → ``SandboxError`` saying the key (``CLARA_SANDBOX_REMOTE_KEY``) was refused,
  never the key itself;
- 404 or 410 for a sandbox → ``SandboxGone`` (with the service's reason, ``removed`` when the
  service does not know the id: removed, or made before the service restarted);
- 413/507 → ``SandboxQuotaExceeded``; 429/503 → ``SandboxBusy``; 502 → ``SandboxUnavailable``
  (the service's own engine is down); anything else → ``SandboxError`` with the service's line.

A run's HTTP timeout is the run's own limit plus ``execute_margin``: the service kills the run
at its limit and answers, so waiting a little longer is never waiting for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, overload

import httpx
import msgspec

from ._types import (
    ExecResult,
    SandboxBusy,
    SandboxError,
    SandboxFile,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)
from .server._wire import (
    AliveReply,
    CreateRequest,
    ErrorReply,
    ExecuteRequest,
    FileReply,
    GetFileRequest,
    HandleReply,
    ListFilesReply,
    ListFilesRequest,
    PutFileRequest,
    SweepReply,
)

__all__ = ["RemoteBackend"]

_T = TypeVar("_T")
_encoder = msgspec.json.Encoder()


class RemoteBackend:
    """Sandboxes of a sandbox service at ``url``, reached with the API key ``key``.

    Args:
        url: the service's base URL (``https://sandboxes.example:8765``).
        key: its API key (``CLARA_SANDBOX_REMOTE_KEY``); sent as a bearer token, never logged.
        timeout: seconds a control call (create, alive, files, remove) may take.
        execute_margin: seconds a run's answer may take past the run's own time limit.
        http: the client to use (a test's transport); by default one of its own, closed by
            ``close``. It must not follow redirects (the key would go along).

    Raises:
        ValueError: ``url`` is not http(s), ``key`` is empty, or a timeout is not positive.
    """

    name = "remote"

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 60.0,
        execute_margin: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with https:// or http://; got {url[:80]!r}")
        if not key:
            raise ValueError("key: the sandbox service's API key is empty")
        if timeout <= 0 or execute_margin <= 0:
            raise ValueError(
                f"timeout and execute_margin must be positive seconds; got {timeout}, "
                f"{execute_margin}"
            )
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout = timeout
        self._margin = execute_margin
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(follow_redirects=False)

    # -- the Protocol ------------------------------------------------------------------------

    def create(self, owner: str, limits: SandboxLimits) -> SandboxHandle:
        reply = self._call(
            "POST",
            "/v1/sandboxes",
            CreateRequest(owner=owner, limits=limits),
            HandleReply,
            what="create a sandbox",
        )
        return SandboxHandle(id=reply.id, name=reply.name, backend=self.name)

    def alive(self, handle: SandboxHandle) -> str | None:
        try:
            reply = self._call(
                "GET", self._path(handle), None, AliveReply, what="check a sandbox", handle=handle
            )
        except SandboxGone as gone:
            return gone.reason
        return reply.reason

    def execute(
        self,
        handle: SandboxHandle,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float,
        output_limit: int,
    ) -> ExecResult:
        request = ExecuteRequest(
            argv=list(argv), stdin=stdin, timeout=timeout, output_limit=output_limit
        )
        return self._call(
            "POST",
            self._path(handle, "/execute"),
            request,
            ExecResult,
            what="run code",
            handle=handle,
            timeout=timeout + self._margin,
        )

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        self._call(
            "POST",
            self._path(handle, "/files/put"),
            PutFileRequest(path=path, data=data),
            None,
            what="write a file",
            handle=handle,
        )

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        reply = self._call(
            "POST",
            self._path(handle, "/files/get"),
            GetFileRequest(path=path, max_bytes=max_bytes),
            FileReply,
            what="read a file",
            handle=handle,
        )
        return reply.data

    def list_files(self, handle: SandboxHandle, path: str = ".") -> list[SandboxFile]:
        reply = self._call(
            "POST",
            self._path(handle, "/files/list"),
            ListFilesRequest(path=path),
            ListFilesReply,
            what="list files",
            handle=handle,
        )
        return reply.files

    def remove(self, handle: SandboxHandle) -> None:
        try:
            self._call("DELETE", self._path(handle), None, None, what="remove a sandbox")
        except SandboxGone:
            return  # already gone: what remove wanted

    def sweep(self) -> int:
        """Remove every sandbox the service holds for this API key (one key per Clara
        process: those are what an earlier life of this process left)."""
        reply = self._call("DELETE", "/v1/sandboxes", None, SweepReply, what="sweep sandboxes")
        return reply.removed

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- HTTP, with its errors mapped --------------------------------------------------------

    @staticmethod
    def _path(handle: SandboxHandle, tail: str = "") -> str:
        return f"/v1/sandboxes/{handle.id}{tail}"

    @overload
    def _call(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        reply: type[_T],
        *,
        what: str,
        handle: SandboxHandle | None = None,
        timeout: float | None = None,
    ) -> _T: ...

    @overload
    def _call(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        reply: None,
        *,
        what: str,
        handle: SandboxHandle | None = None,
        timeout: float | None = None,
    ) -> None: ...

    def _call(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        reply: type[_T] | None,
        *,
        what: str,
        handle: SandboxHandle | None = None,
        timeout: float | None = None,
    ) -> _T | None:
        url = self.url + path
        headers = dict(self._headers)
        content = None
        if body is not None:
            content = _encoder.encode(body)
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method,
                url,
                content=content,
                headers=headers,
                timeout=timeout if timeout is not None else self._timeout,
            )
        except httpx.TimeoutException as exc:
            waited = timeout if timeout is not None else self._timeout
            raise SandboxUnavailable(
                f"the sandbox service at {self.url} did not answer within {waited:g} s ({what})"
            ) from exc
        except httpx.HTTPError as exc:
            raise SandboxUnavailable(
                f"cannot reach the sandbox service at {self.url} ({what}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 300:
            raise self._error(response, what, handle)
        if reply is None:
            return None
        try:
            return msgspec.json.decode(response.content, type=reply)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SandboxError(
                f"the sandbox service at {self.url} sent an answer this Clara does not "
                f"understand ({what}): {exc}"
            ) from exc

    def _error(
        self, response: httpx.Response, what: str, handle: SandboxHandle | None
    ) -> SandboxError:
        status = response.status_code
        try:
            said = msgspec.json.decode(response.content, type=ErrorReply)
        except msgspec.DecodeError:
            said = ErrorReply(error=response.text[:300] or response.reason_phrase)
        line = said.error[:300]
        where = f"the sandbox service at {self.url}"
        if status in (401, 403):
            return SandboxError(
                f"{where} refused the API key ({what}): CLARA_SANDBOX_REMOTE_KEY is wrong or "
                "missing; it must be the service's CLARA_SANDBOX_SERVER_KEY"
            )
        if status in (404, 410) and (handle is not None or said.kind in ("gone", "not_found")):
            name = handle.name if handle is not None else "the sandbox"
            return SandboxGone(f"sandbox {name} is gone ({what}): {line}", said.reason or "removed")
        if status in (413, 507):
            return SandboxQuotaExceeded(f"{where} refused ({what}): {line}")
        if status in (429, 503):
            return SandboxBusy(f"{where} is busy ({what}): {line}")
        if status == 502:
            return SandboxUnavailable(f"{where} cannot reach its own sandboxes ({what}): {line}")
        return SandboxError(f"{where} answered {status} ({what}): {line}")
