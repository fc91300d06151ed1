"""The model's sandbox tools: output, files in and out, quota, installs, who may use them."""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
import trio

from clara.actors.sandbox import SandboxOff
from clara.actors.sandbox.tools import UNZIP
from clara.adapters.chat import Attachment
from clara.adapters.sandbox import ExecResult
from clara.testing import FakeSandbox, FakeSandboxBackend
from tests.actors.sandbox.harness import ADMIN, GUILD, PERSON, message, sandbox_running

pytestmark = pytest.mark.trio

OWNER = f"discord:{PERSON.id}"


def writes_chart(sandbox: FakeSandbox, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
    sandbox.files["out/chart.png"] = b"\x89PNG\r\n\x1a\n fake"
    return ExecResult(exit_code=0, stdout=b"drawn\n", stderr=b"")


def prints_binary(sandbox: FakeSandbox, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
    return ExecResult(exit_code=0, stdout=b"\x89PNG\x00\x01\xff", stderr=b"warning: odd\n")


async def test_binary_output_comes_back_as_a_file(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path, backend=FakeSandboxBackend(prints_binary)) as running:
        result = await running.call("run_python", {"code": "import sys; sys.stdout.buffer..."})
    assert not result.error
    assert [(f.name, f.data) for f in result.files] == [("stdout.bin", b"\x89PNG\x00\x01\xff")]
    assert "stdout: 7 bytes of binary output, attached as stdout.bin" in result.text
    assert "stderr:\nwarning: odd" in result.text


async def test_attachments_go_in_and_named_files_come_out(tmp_path: Path) -> None:
    upload = Attachment(
        filename="../../data.csv", content_type="text/csv", size=8, data=b"a,b\n1,2\n"
    )
    backend = FakeSandboxBackend(writes_chart)
    async with sandbox_running(tmp_path, backend=backend) as running:
        provider = running.system.tools_for(message(attachments=(upload,)))
        assert provider is not None
        result = await provider.call(
            "run_python", {"code": "draw()", "files": ["out/chart.png", "/work/missing.txt"]}
        )
        assert backend.of(OWNER).files["data.csv"] == b"a,b\n1,2\n"  # no way out of /work
        # Put in once per reply, not again on the next call.
        await provider.call("list_files", {})
        assert backend.count("put_file") == 1
    assert not isinstance(result, str)
    assert "[the attached files are in /work: data.csv]" in result.text
    assert [(f.name, f.data) for f in result.files] == [("chart.png", b"\x89PNG\r\n\x1a\n fake")]
    assert "missing.txt: not attached: missing.txt: no such file" in result.text


async def test_paths_outside_work_and_too_many_files_are_refused(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        outside = await running.call("read_file", {"path": "../etc/passwd"})
        assert outside.error and "path must be inside /work" in outside.text
        many = await running.call(
            "run_python", {"code": "1", "files": [f"f{index}" for index in range(6)]}
        )
        assert many.error and "at most 5 files" in many.text
        both = await running.call("run_python", {"code": "1", "file": "a.py"})
        assert both.error and "either code or file" in both.text
        await running.call("write_file", {"path": "job/main.py", "content": "print(1)"})
        by_file = await running.call("run_python", {"file": "/work/job/main.py"})
        assert not by_file.error
        assert running.backend.argv_seen[-1] == ("python3", "./job/main.py")


async def test_the_storage_quota_gives_a_clear_error(tmp_path: Path) -> None:
    env = {"CLARA_SANDBOX_WORK_MB": "1"}
    async with sandbox_running(tmp_path, env=env) as running:
        chunk = "x" * 200_000
        for index in range(5):
            done = await running.call("write_file", {"path": f"part{index}", "content": chunk})
            assert not done.error, done.text
        full = await running.call("write_file", {"path": "part5", "content": chunk})
    assert full.error
    assert "your sandbox's storage is full" in full.text
    assert "each person has 1 MiB" in full.text


async def test_read_and_list_files(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        await running.call("write_file", {"path": "a/b.txt", "content": "hello"})
        listed = await running.call("list_files", {})
        read = await running.call("read_file", {"path": "/work/a/b.txt"})
        missing = await running.call("read_file", {"path": "nope"})
    assert listed.text == "a/b.txt (5 bytes)"
    assert read.text == "hello"
    assert missing.error and "no such file" in missing.text


async def test_unzip_runs_inside_the_sandbox_with_the_paths_on_stdin(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        await running.call("unzip", {"path": "upload.zip"})
        argv, stdin = running.backend.argv_seen[-1], running.backend.stdin_seen[-1]
    assert argv == ("python3", "-c", UNZIP)
    assert json.loads(stdin or b"") == {
        "archive": "upload.zip",
        "into": "upload",
        "max_files": 2000,
    }


async def test_the_unzip_script_keeps_every_entry_inside_the_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/inside.txt", "fine")
        archive.writestr("../escaped.txt", "evil")
        archive.writestr("/tmp/absolute-escape.txt", "evil")
        link = zipfile.ZipInfo("link")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    (work / "upload.zip").write_bytes(buffer.getvalue())
    job = {"archive": "upload.zip", "into": "upload", "max_files": 10}
    done = await trio.run_process(
        [sys.executable, "-c", UNZIP],
        stdin=json.dumps(job).encode(),
        cwd=work,
        capture_stdout=True,
        capture_stderr=True,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert (work / "upload" / "ok" / "inside.txt").read_text() == "fine"
    assert not (tmp_path / "escaped.txt").exists() and not (work / "escaped.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()
    assert not (work / "upload" / "link").exists()
    assert b"skipped" in done.stdout
    made = sorted(str(path.relative_to(work)) for path in work.rglob("*") if path.is_file())
    assert all(name.startswith("upload") for name in made)


async def test_installs_need_network_and_a_proxy(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        no_network = await running.call("install_package", {"name": "requests"})
    assert no_network.error and "no proxy is configured" in no_network.text
    env = {"CLARA_SANDBOX_PROXY_URL": "http://127.0.0.1:3128", "CLARA_SANDBOX_PACKAGES": "numpy"}
    async with sandbox_running(tmp_path, env=env) as running:
        off = await running.call("install_package", {"name": "numpy"})
        assert off.error and "the network, which is off on this server" in off.text
        in_dm = await running.call("install_package", {"name": "numpy"}, guild_id=None)
        assert in_dm.error and "off in direct messages" in in_dm.text
        await running.system.policies.change("discord", GUILD, by="test", network=True)
        refused = await running.call("install_package", {"name": "requests"})
        assert refused.error and "not on the list" in refused.text
        odd = await running.call("install_package", {"name": "--index-url=http://evil"})
        assert odd.error and "is not a package name" in odd.text
        done = await running.call("install_package", {"name": "NumPy==2.1"})
        assert not done.error, done.text
        assert running.backend.argv_seen[-1][-3:] == (
            "--proxy",
            "http://127.0.0.1:3128",
            "NumPy==2.1",
        )
        # The sandbox was made with the network this server allows.
        assert running.backend.limits_seen[-1].network is True


async def test_turning_the_network_on_remakes_the_sandbox_and_says_so(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        await running.call("run_python", {"code": "1"})
        await running.system.policies.change("discord", GUILD, by="test", network=True)
        again = await running.call("run_python", {"code": "2"})
        assert "made again with a network" in again.text
        dm = await running.call("run_python", {"code": "3"}, guild_id=None)
        assert "made again without a network" in dm.text
        assert [limits.network for limits in running.backend.limits_seen] == [False, True, False]


async def test_a_server_s_mode_decides_who_may_run_code(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        policies = running.system.policies
        await policies.change("discord", GUILD, by="test", mode="admins")
        assert running.system.tools_for(message(PERSON)) is None
        assert running.system.tools_for(message(ADMIN)) is not None
        ok = await running.call("run_python", {"code": "1"}, author=ADMIN)
        assert not ok.error
        await policies.change("discord", GUILD, by="test", mode="off")
        assert running.system.tools_for(message(ADMIN)) is None
        # A DM is not a server: its author may run code there.
        assert running.system.tools_for(message(PERSON, guild_id=None)) is not None


async def test_without_a_backend_the_model_is_told_code_is_off(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path, no_backend=True) as running:
        provider = running.system.tools_for(message())
        assert isinstance(provider, SandboxOff)
        result = await running.call("run_python", {"code": "print(1)"})
        assert running.system.readiness_details()["backend"] == "none"
    assert result.error and "CLARA_SANDBOX_BACKEND=none" in result.text


async def test_without_a_backend_sandbox_commands_say_code_is_off(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path, no_backend=True) as running:
        status = await running.system.admin.run(
            "status", {}, PERSON, platform="discord", channel_id="1",
            guild_id=GUILD,
        )  # fmt: skip
    assert status.startswith("Running code is turned off on this Clara")


async def test_a_channel_offers_the_sandbox_tools_of_the_person_it_answers(tmp_path: Path) -> None:
    from clara.actors.channel.subsystem import tools_for  # noqa: PLC0415

    upload = Attachment(filename="a.txt", content_type="text/plain", size=2, data=b"hi")
    async with sandbox_running(tmp_path) as running:
        registry_for = tools_for(
            running.system.settings, None, None, sandbox=running.system.tools_for
        )
        registry = registry_for(message(attachments=(upload,)))
        names = {spec.name for spec in registry.specs()}
        assert {"sandbox__run_python", "sandbox__unzip", "sandbox__install_package"} <= names
        result = await registry.call("sandbox__list_files", {}, timeout=60.0)
    assert result.text == "[the attached files are in /work: a.txt]\na.txt (2 bytes)"


async def _serve_file(body: bytes, *, task_status: trio.TaskStatus[int]) -> None:
    """A one-file HTTP server on loopback (answers every request with ``body``)."""

    async def answer(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            request += chunk
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        await stream.send_all(head.encode() + body)
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(answer, listeners)


async def test_an_attachment_behind_a_url_is_fetched_into_the_sandbox(tmp_path: Path) -> None:
    body = b"x" * 5000
    env = {"CLARA_SANDBOX_WORK_MB": "1"}
    async with httpx.AsyncClient() as client, trio.open_nursery() as nursery:
        port = await nursery.start(_serve_file, body)
        url = f"http://127.0.0.1:{port}/file"
        fits = Attachment(filename="data.bin", content_type="application/x", size=5000, url=url)
        huge = Attachment(filename="big.iso", content_type="application/x", size=2**30, url=url)
        async with sandbox_running(tmp_path, env=env, http=client) as running:
            provider = running.system.tools_for(message(attachments=(fits, huge)))
            assert provider is not None
            listed = await provider.call("list_files", {})
            stored = running.backend.of(OWNER).files
        nursery.cancel_scope.cancel()
    assert stored == {"data.bin": body}
    assert isinstance(listed, str)
    assert "big.iso could not be fetched: 1,073,741,824 bytes is more than" in listed
    assert "[the attached files are in /work: data.bin]" in listed
