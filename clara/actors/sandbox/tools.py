"""What the model is offered of a person's sandbox: run Python or a shell command, read,
write and list files, unzip an upload, install a package.

One ``SandboxTools`` per reply, for the person being answered: every call goes to *their*
sandbox actor (started on demand), so nobody reaches another person's files. Code travels
on stdin (``python3 -``, ``sh -s``), never spliced into a command line. Before the first
call of a reply, the files the person attached to their message are put in ``/work``.

A run's answer: exit code, stdout and stderr (capped at the source, with a note when cut),
whether it was killed at its time limit; output that is not text comes back as a file, and
so do the files a run names in ``files`` (at most ``MAX_FILES``).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ...adapters.chat import Attachment, MessageReceived
from ...adapters.llm import ToolSpec
from ...adapters.sandbox import ExecResult, SandboxBusy, SandboxError
from ...errors import MailboxFull, TooManyChildren
from ...supervisors import DynamicSupervisor
from ...tools import ToolFile, ToolOutput
from .messages import Execute, ListFiles, PutFiles, ReadFile, SandboxReply
from .policies import SandboxPolicies, refusal

__all__ = [
    "MAX_FILES",
    "TOOLS",
    "Download",
    "SandboxOff",
    "SandboxTools",
    "ToolSettings",
    "package_refusal",
]

#: Files one run may hand back.
MAX_FILES = 5
#: The largest file ``read_file`` shows as text, and ``write_file`` takes.
TEXT_BYTES = 256 * 1024
#: Characters of a file the model is shown by ``read_file``.
SHOWN_CHARS = 20_000
#: Entries ``list_files`` shows.
LISTED = 200
#: Files one unzip may make, and the bytes they may take before the quota says so.
UNZIP_FILES = 2000

_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_PACKAGE = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?(?:==[A-Za-z0-9.+!*-]{1,40})?"
)

Download = Callable[[Attachment, int], Awaitable[bytes]]
"""Fetches an attachment's bytes (at most the given number): the channel's HTTP client."""

# Runs inside the sandbox: extraction where the archive's paths cannot reach anything but
# the sandbox's own /work (zip-slip has nowhere to go), and paths that leave the folder or
# links are skipped all the same.
UNZIP = r"""
import json, os, stat, sys, zipfile
job = json.load(sys.stdin)
root = os.path.realpath(".")
dest = os.path.realpath(os.path.join(root, job["into"]))
if dest != root and not dest.startswith(root + os.sep):
    sys.exit("the folder to unzip into is outside /work")
made = skipped = size = 0
with zipfile.ZipFile(job["archive"]) as archive:
    for info in archive.infolist():
        target = os.path.realpath(os.path.join(dest, info.filename))
        if not target.startswith(dest + os.sep) or stat.S_ISLNK(info.external_attr >> 16):
            skipped += 1
            continue
        made += 1
        size += info.file_size
        if made > job["max_files"]:
            sys.exit(f"more than {job['max_files']} files in the archive: stopped")
        archive.extract(info, dest)
note = f"; {skipped} skipped (links, or paths outside the folder)" if skipped else ""
print(f"unzipped {made} entries ({size} bytes) into {job['into'] or '.'}{note}")
"""


class ToolSettings:
    """The tool side's limits (from ``SandboxSettings``)."""

    def __init__(
        self,
        *,
        timeout: float,
        output_limit: int,
        work_mb: int,
        proxy_url: str | None,
        packages: tuple[str, ...],
        memory_mb: int = 512,
        index_url: str | None = None,
    ) -> None:
        self.timeout = timeout
        self.output_limit = output_limit
        self.work_mb = work_mb
        self.memory_mb = memory_mb
        self.proxy_url = proxy_url
        self.packages = frozenset(_normal(name) for name in packages)
        self.index_url = index_url


_FILES_ARG = {
    "type": "array",
    "items": {"type": "string"},
    "maxItems": MAX_FILES,
    "description": f"files under /work to send back as attachments after the run (at most "
    f"{MAX_FILES})",
}

TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "run_python": (
        "Run Python 3 in the person's own sandbox (no network unless the server allows it; "
        "files live in /work, the working directory). Give the code, or a .py file in /work.",
        {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "the program"},
                "file": {"type": "string", "description": "a .py file in /work to run instead"},
                "files": _FILES_ARG,
            },
        },
    ),
    "run_shell": (
        "Run a shell command (sh) in the person's own sandbox, in /work.",
        {
            "type": "object",
            "properties": {"command": {"type": "string"}, "files": _FILES_ARG},
            "required": ["command"],
        },
    ),
    "read_file": (
        "Read a text file from the sandbox's /work.",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    "write_file": (
        "Write a text file into the sandbox's /work (folders are made as needed).",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    ),
    "list_files": (
        "List the files in the sandbox's /work (or a folder of it), with sizes.",
        {"type": "object", "properties": {"path": {"type": "string"}}},
    ),
    "unzip": (
        "Unzip a .zip file in /work (one the person attached, say) into a folder of /work.",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the archive, in /work"},
                "into": {"type": "string", "description": "folder (default: the archive's name)"},
            },
            "required": ["path"],
        },
    ),
    "install_package": (
        "Install a Python package with pip into the sandbox (only where an administrator "
        "allowed the network for this server).",
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    ),
}


def _specs() -> list[ToolSpec]:
    return [
        ToolSpec(name=name, description=description, parameters=parameters)
        for name, (description, parameters) in TOOLS.items()
    ]


def _normal(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name.split("==", maxsplit=1)[0]).lower()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _text(arguments: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = arguments.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise SandboxError(f"{key} must be a non-empty string; got {value!r}")
    return value


def _work_path(value: str, what: str = "path") -> str:
    """``value`` relative to /work; SandboxError when it leaves it."""
    path = value.strip()
    if path.startswith("/work/"):
        path = path[len("/work/") :]
    elif path in ("/work", ""):
        path = "."
    normal = posixpath.normpath(path)
    if path.startswith("/") or normal == ".." or normal.startswith("../"):
        raise SandboxError(f"{what} must be inside /work; got {value!r}")
    return normal


def _safe_name(filename: str) -> str:
    base = posixpath.basename(filename.replace("\\", "/")) or "upload"
    cleaned = _NAME.sub("_", base).lstrip(".") or "upload"
    return cleaned[:120]


# Runs inside the sandbox as ``sh -c PIP_INSTALL pip-install [--index-url URL] --proxy URL
# NAME``: the options and the name arrive as arguments ("$@"), never spliced into the script.
# pip hides why an index page could not be fetched (a proxy's 403 reads "from versions:
# none"), but its --log file keeps it: on failure those lines go to stderr, for the model.
PIP_INSTALL = r"""
log=/tmp/clara-pip-install.log
rm -f "$log"
TMPDIR=/work python3 -m pip install --user --break-system-packages --no-cache-dir \
    --no-input --disable-pip-version-check --no-warn-script-location --progress-bar off \
    --log "$log" "$@"
code=$?
if [ "$code" -ne 0 ] && [ -f "$log" ]; then
    found=$(grep -h -e 'Could not fetch URL' -e 'Tunnel connection failed' "$log" | tail -n 5)
    if [ -n "$found" ]; then
        case "$found" in
            *" 403 "*) echo "the proxy refused a request (403): the package index or a" \
                "file host it names is not on the proxy's allow-list" >&2;;
        esac
        printf "from pip's log:\n%s\n" "$found" >&2
    fi
fi
rm -f "$log"
exit "$code"
"""


def _pip_install(name: str, proxy_url: str, index_url: str | None) -> tuple[str, ...]:
    """The argv of one ``install_package``: pip (``PIP_INSTALL``), as the sandbox's user,
    through the proxy.

    - ``--user``: the root is read-only; packages go to ``$HOME/.local`` (``HOME=/work`` in
      the sandbox), which lasts between runs and is on ``sys.path`` of every later one.
    - ``--break-system-packages``: Debian marks its Python "externally managed" (PEP 668) and
      pip refuses ``--user`` installs without it. That guard keeps pip from breaking the
      distribution's own Python; here that Python is a throwaway sandbox's, its system folders
      are read-only anyway, and only the person's own ``/work`` changes.
    - ``TMPDIR=/work``: pip downloads and unpacks into a temporary folder, and the sandbox's
      ``/tmp`` is small (16 MB, less than one numpy wheel); ``/work`` has the person's quota,
      and pip removes its folders when it ends.
    - ``--no-cache-dir``: a cache would only take the person's quota.
    - The name comes last and has passed ``package_refusal`` (it starts with a letter or a
      digit), so pip cannot read it as an option.
    """
    index = ("--index-url", index_url) if index_url is not None else ()
    return ("sh", "-c", PIP_INSTALL, "pip-install", *index, "--proxy", proxy_url, name)


def package_refusal(
    name: str, *, network: bool, settings: ToolSettings, guild_id: str | None
) -> str | None:
    """Why ``name`` may not be installed here; None when it may."""
    if settings.proxy_url is None:
        return (
            "package installs are off on this Clara: no proxy is configured for them "
            "(CLARA_SANDBOX_PROXY_URL)"
        )
    if not network:
        where = "in direct messages" if guild_id is None else "on this server"
        return f"package installs need the network, which is off {where}" + (
            "" if guild_id is None else " (an administrator can turn it on: /sandbox network)"
        )
    if not _PACKAGE.fullmatch(name):
        return f"{name!r} is not a package name (letters, digits, '.', '_', '-'; ==version)"
    if settings.packages and _normal(name) not in settings.packages:
        return (
            f"{name} is not on the list of packages that may be installed (CLARA_SANDBOX_PACKAGES)"
        )
    return None


class SandboxTools:
    """The sandbox tools for one reply, to the person who wrote ``message``.

    Args:
        message: the message being answered (its author, place and attachments).
        supervisor: the DynamicSupervisor of sandbox actors (key ``platform:user id``).
        policies: each server's choices.
        settings: the tool side's limits.
        is_admin: whether the author administers the server (``/sandbox mode admins``).
        download: fetches attachments that arrive as a URL; None: only those carrying
            their data are put in the sandbox.
    """

    name = "sandbox"

    def __init__(
        self,
        message: MessageReceived,
        supervisor: DynamicSupervisor,
        policies: SandboxPolicies,
        settings: ToolSettings,
        *,
        is_admin: bool,
        download: Download | None = None,
    ) -> None:
        self.message = message
        self.supervisor = supervisor
        self.policies = policies
        self.settings = settings
        self.is_admin = is_admin
        self.download = download
        self._uploaded = not message.attachments
        self.key = f"{message.platform}:{message.author.id}"

    def specs(self) -> list[ToolSpec]:
        return _specs()

    async def call(self, tool: str, arguments: dict[str, Any]) -> str | ToolOutput:
        if tool not in TOOLS:
            raise SandboxError(f"there is no sandbox tool named {tool!r}")
        policy = await self.policies.get(self.message.platform, self.message.guild_id)
        refused = refusal(policy, self.message.author, is_admin=self.is_admin)
        if refused is not None:
            raise SandboxError(refused)
        network = policy.network and self.message.guild_id is not None
        if tool == "install_package":
            name = _text(arguments, "name").strip()
            refused = package_refusal(
                name, network=network, settings=self.settings, guild_id=self.message.guild_id
            )
            if refused is not None:
                raise SandboxError(refused)
        notes: list[str] = []
        if not self._uploaded:
            self._uploaded = True
            notes.extend(await self._upload(network))
        output = await self._call(tool, arguments, network, notes)
        return output

    async def _ask(self, message: Any) -> SandboxReply:
        try:
            ref = await self.supervisor.get_or_start(self.key)
        except TooManyChildren:
            raise SandboxBusy(
                f"all sandboxes are busy ({self.supervisor.max_children} running, "
                "CLARA_SANDBOX_MAX_RUNNING); try again in a moment"
            ) from None
        try:
            reply: SandboxReply = await ref.ask(message, timeout=None)
        except MailboxFull:
            raise SandboxBusy(
                "your sandbox is still busy with earlier runs; try again in a moment"
            ) from None
        except TooManyChildren:
            raise SandboxBusy("all sandboxes are busy; try again in a moment") from None
        return reply

    async def _upload(self, network: bool) -> list[str]:
        """Put the message's attachments in /work; notes saying what went where."""
        files: list[tuple[str, bytes]] = []
        notes: list[str] = []
        limit = self.settings.work_mb * 1024 * 1024
        for attachment in self.message.attachments:
            name = _safe_name(attachment.filename)
            try:
                if attachment.data is not None:
                    data = attachment.data
                elif self.download is not None:
                    data = await self.download(attachment, limit)
                else:
                    notes.append(f"{attachment.filename} could not be fetched into the sandbox")
                    continue
            except Exception as error:  # a failed download is a note, never the call's end
                notes.append(f"{attachment.filename} could not be fetched: {error}")
                continue
            if len(data) > limit:
                notes.append(f"{attachment.filename} is larger than the sandbox's storage")
                continue
            files.append((name, bytes(data)))
        if files:
            reply = await self._ask(PutFiles(files=tuple(files), network=network))
            notes.extend(reply.notes)
            if reply.error is not None:
                notes.append(f"the attached files could not be put in /work: {reply.error}")
            elif reply.written:
                notes.append("the attached files are in /work: " + ", ".join(reply.written))
        return notes

    async def _call(
        self, tool: str, arguments: dict[str, Any], network: bool, notes: list[str]
    ) -> str | ToolOutput:
        if tool in ("read_file", "write_file", "list_files"):
            return await self._file_tool(tool, arguments, network, notes)
        request = self._execute(tool, arguments, network)
        reply = await self._ask(request)
        return _run_output(reply, notes, self.settings)

    def _execute(self, tool: str, arguments: dict[str, Any], network: bool) -> Execute:
        message = self.message
        fetch = arguments.get("files") or []
        if not isinstance(fetch, list) or not all(isinstance(path, str) for path in fetch):
            raise SandboxError(f"files must be a list of paths in /work; got {fetch!r}")
        if len(fetch) > MAX_FILES:
            raise SandboxError(f"at most {MAX_FILES} files can come back from one run")
        paths = tuple(_work_path(path, "each of files") for path in fetch)
        base = Execute(
            tool=tool,
            argv=(),
            code_hash="",
            channel_id=message.channel_id,
            guild_id=message.guild_id,
            network=network,
            fetch=paths,
        )
        replace = msgspec.structs.replace
        if tool == "run_python":
            code = _text(arguments, "code", required=False)
            file = _text(arguments, "file", required=False)
            if bool(code.strip()) == bool(file.strip()):
                raise SandboxError("give either code or file (a .py file in /work), not both")
            if file.strip():
                path = _work_path(file, "file")
                return replace(
                    base,
                    argv=("python3", posixpath.join(".", path)),  # ./: never read as an option
                    code_hash=_hash(f"file:{path}"),
                )
            return replace(base, argv=("python3", "-"), stdin=code.encode(), code_hash=_hash(code))
        if tool == "run_shell":
            command = _text(arguments, "command")
            return replace(
                base, argv=("sh", "-s"), stdin=command.encode(), code_hash=_hash(command)
            )
        if tool == "unzip":
            archive = _work_path(_text(arguments, "path"), "path")
            into_text = _text(arguments, "into", required=False).strip()
            default = posixpath.splitext(posixpath.basename(archive))[0] or "unzipped"
            into = _work_path(into_text or default, "into")
            job = {"archive": archive, "into": into, "max_files": UNZIP_FILES}
            return replace(
                base,
                argv=("python3", "-c", UNZIP),
                stdin=json.dumps(job).encode(),
                code_hash=_hash(f"unzip {archive} {into}"),
            )
        assert tool == "install_package" and self.settings.proxy_url is not None
        name = _text(arguments, "name").strip()
        argv = _pip_install(name, self.settings.proxy_url, self.settings.index_url)
        return replace(base, argv=argv, code_hash=_hash(f"pip install {name}"))

    async def _file_tool(
        self, tool: str, arguments: dict[str, Any], network: bool, notes: list[str]
    ) -> str:
        if tool == "read_file":
            path = _work_path(_text(arguments, "path"))
            reply = await self._ask(ReadFile(path=path, max_bytes=TEXT_BYTES, network=network))
            _raise_for(reply, notes)
            data = reply.data or b""
            text, binary = _decode(data, truncated=False)
            if binary:
                text = (
                    f"{path} is not text ({len(data):,} bytes); name it in a run's files to "
                    "get it as an attachment"
                )
            elif len(text) > SHOWN_CHARS:
                text = text[:SHOWN_CHARS] + f"\n[cut: the first {SHOWN_CHARS} characters]"
            return _with_notes(text, notes)
        if tool == "write_file":
            path = _work_path(_text(arguments, "path"))
            content = _text(arguments, "content", required=False).encode()
            if len(content) > TEXT_BYTES:
                raise SandboxError(f"write_file takes at most {TEXT_BYTES:,} bytes")
            reply = await self._ask(PutFiles(files=((path, content),), network=network))
            _raise_for(reply, notes)
            return _with_notes(f"wrote {len(content):,} bytes to /work/{path}", notes)
        path = _work_path(_text(arguments, "path", required=False) or ".")
        reply = await self._ask(ListFiles(path=path, network=network))
        _raise_for(reply, notes)
        entries = [
            f"{item.path}/" if item.is_dir else f"{item.path} ({item.size:,} bytes)"
            for item in reply.listing[:LISTED]
        ]
        more = len(reply.listing) - LISTED
        text = "\n".join(entries) if entries else "(no files)"
        if more > 0:
            text += f"\n[and {more} more]"
        return _with_notes(text, notes)


def _raise_for(reply: SandboxReply, notes: list[str]) -> None:
    notes.extend(reply.notes)
    if reply.error is not None:
        raise SandboxError(_with_notes(reply.error, notes))


def _with_notes(text: str, notes: list[str]) -> str:
    if not notes:
        return text
    return "\n".join(f"[{note}]" for note in notes) + "\n" + text


def _decode(data: bytes, *, truncated: bool) -> tuple[str, bool]:
    """(text, is binary): bytes that are not UTF-8 text (or hold NULs) are binary; a cut in
    the middle of a character at the end of truncated output is not."""
    if b"\x00" in data:
        return "", True
    try:
        return data.decode(), False
    except UnicodeDecodeError as error:
        if truncated and error.start >= len(data) - 3:
            return data[: error.start].decode(errors="replace"), False
        return "", True


def _run_output(reply: SandboxReply, notes: list[str], settings: ToolSettings) -> str | ToolOutput:
    _raise_for(reply, notes)
    result = reply.result
    assert result is not None
    files: list[ToolFile] = []
    lines = [_ending(result, settings)]
    for stream, data in (("stdout", result.stdout), ("stderr", result.stderr)):
        if not data:
            continue
        text, binary = _decode(data, truncated=result.truncated)
        if binary:
            files.append(ToolFile(name=f"{stream}.bin", data=data))
            lines.append(
                f"{stream}: {len(data):,} bytes of binary output, attached as {stream}.bin"
            )
        else:
            lines.append(f"{stream}:\n{text}")
    if result.truncated:
        lines.append(
            f"[output cut: only the first {settings.output_limit // 1024} KiB of each stream "
            "were kept]"
        )
    for fetched in reply.files:
        if fetched.data is not None:
            name = _safe_name(fetched.path)
            files.append(ToolFile(name=name, data=fetched.data))
            lines.append(f"{fetched.path}: attached ({len(fetched.data):,} bytes)")
        else:
            lines.append(f"{fetched.path}: not attached: {fetched.error}")
    text = _with_notes("\n".join(lines), notes)
    return ToolOutput(text=text, files=files) if files else text


def _ending(result: ExecResult, settings: ToolSettings) -> str:
    took = f"{result.duration:.2f}s"
    if result.timed_out:
        return (
            f"killed: it ran past its {settings.timeout:g}s limit (CLARA_SANDBOX_TIMEOUT); "
            "what it printed until then follows"
        )
    if result.oom:
        return (
            f"killed: it ran out of memory (the sandbox has {settings.memory_mb} MB, "
            f"CLARA_SANDBOX_MEMORY_MB), exit code {result.exit_code} ({took}); what it "
            "printed until then follows"
        )
    return f"exit code {result.exit_code} ({took})"


class SandboxOff:
    """The sandbox tools when no backend is configured: each call says so, clearly."""

    name = "sandbox"

    def specs(self) -> list[ToolSpec]:
        return [spec for spec in _specs() if spec.name in ("run_python", "run_shell")]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str | ToolOutput:
        raise SandboxError(
            "running code is turned off on this Clara (CLARA_SANDBOX_BACKEND=none): tell the "
            "person it is not available, and answer without running code"
        )
