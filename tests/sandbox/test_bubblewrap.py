"""The bubblewrap backend for real: abuse contained, each case ending with a clear result and
a backend that still runs ``print(1)`` afterwards."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from clara.adapters.sandbox._bubblewrap import BubblewrapBackend
from clara.adapters.sandbox._types import (
    SandboxError,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
)

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"
)

LIMITS = SandboxLimits(memory_mb=256, cpus=1.0, pids=32, work_mb=4)


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder every user can pass through (pytest's own are 0700, and the sandbox's uid
    must reach its work folder)."""
    folder = Path(tempfile.mkdtemp(prefix="clara-bwrap-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["cgroups", "prlimit-only"])
def backend(root: Path, request: pytest.FixtureRequest) -> BubblewrapBackend:
    """Each case runs twice: with cgroup v1 folders (writable here) and with prlimit alone,
    as on a host where the cgroups are not Clara's to write."""
    if request.param == "cgroups":
        made = BubblewrapBackend(root / "sandboxes")
        assert "cgroup v1 for the whole sandbox: cpu, memory, pids" in made.describe()
        return made
    return BubblewrapBackend(root / "sandboxes", cgroup_root=None)


@pytest.fixture
def sandbox(backend: BubblewrapBackend) -> Iterator[SandboxHandle]:
    handle = backend.create(f"test-{uuid.uuid4()}", LIMITS)
    yield handle
    backend.remove(handle)


def python(
    backend: BubblewrapBackend, handle: SandboxHandle, code: str, timeout: float = 10.0
) -> bytes:
    result = backend.execute(handle, ["python3", "-c", code], timeout=timeout, output_limit=65536)
    assert result.exit_code == 0, result
    return result.stdout


def assert_healthy(backend: BubblewrapBackend, handle: SandboxHandle) -> None:
    assert backend.alive(handle) is None
    assert python(backend, handle, "print(1)") == b"1\n"


def sandbox_processes(handle: SandboxHandle, marker: str) -> list[str]:
    """Host processes whose command line holds ``marker``, or (as root) that run as the
    sandbox's own uid, still running: what a run left behind (the test's own excepted)."""
    uid = (
        json.loads((Path(handle.id) / "meta.json").read_bytes())["uid"]
        if os.geteuid() == 0
        else None
    )
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields["State"].split()[0] in ("Z", "X"):
            continue  # a sandbox's pid 1 waiting for the host's init to reap it: not running
        if marker.encode() in cmdline or int(fields["Uid"].split()[0]) == uid:
            found.append(f"{entry.name}: {cmdline!r}")
    return found


def test_print_runs_as_nobody_in_work_with_a_minimal_environment(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    out = python(backend, sandbox, "import os; print(os.getuid(), os.getcwd(), sorted(os.environ))")
    assert out == b"65534 /work ['HOME', 'LANG', 'PATH', 'PWD', 'TMPDIR']\n"
    assert "bubblewrap" in backend.describe()


def test_host_environment_is_not_inside(
    backend: BubblewrapBackend, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"secret-{uuid.uuid4()}"
    monkeypatch.setenv("CLARA_TEST_TOKEN", marker)
    result = backend.execute(
        sandbox,
        ["sh", "-c", "env; cat /proc/*/environ; cat /proc/1/cmdline"],
        timeout=10,
        output_limit=65536,
    )
    assert marker.encode() not in result.stdout + result.stderr
    assert b"CLARA_TEST_TOKEN" not in result.stdout
    assert_healthy(backend, sandbox)


def test_a_server_on_the_hosts_loopback_cannot_be_reached(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        out = python(
            backend,
            sandbox,
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('refused', type(exc).__name__)\n"
            "lines = open('/proc/net/dev').readlines()[2:]\n"
            "print(sorted(line.split(':')[0].strip() for line in lines))\n",
        )
        assert out == b"refused ConnectionRefusedError\n['lo']\n"
        with pytest.raises(BlockingIOError):
            server.accept()
    assert_healthy(backend, sandbox)


def test_a_fork_bomb_stops_at_the_pids_limit(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    marker = f"bomb-{uuid.uuid4().hex}"
    result = backend.execute(
        sandbox,
        [
            "python3",
            "-c",
            "import os, time\n"
            "n = 0\n"
            "try:\n"
            "    while True:\n"
            "        if os.fork() == 0:\n"
            "            while True:\n"
            "                try:\n"
            "                    os.fork()\n"
            "                except OSError:\n"
            "                    time.sleep(60)\n"
            "        n += 1\n"
            "except OSError as exc:\n"
            "    print('stopped', exc.errno, flush=True)\n",
            marker,
        ],
        timeout=10,
        output_limit=4096,
    )
    assert result.stdout == b"stopped 11\n"  # EAGAIN
    assert not result.timed_out
    assert sandbox_processes(sandbox, marker) == []
    assert_healthy(backend, sandbox)


def test_allocating_two_gigabytes_fails_inside(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    result = backend.execute(
        sandbox,
        ["python3", "-c", "b = bytearray(2 * 1024**3); b[::4096] = b'x' * len(b[::4096])"],
        timeout=10,
        output_limit=4096,
    )
    assert result.exit_code != 0
    assert b"MemoryError" in result.stderr
    assert_healthy(backend, sandbox)


def test_an_infinite_loop_is_killed_at_the_time_limit(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    result = backend.execute(
        sandbox, ["python3", "-c", "while True: pass"], timeout=1, output_limit=4096
    )
    assert result.timed_out
    assert result.exit_code is None
    assert result.duration >= 1
    assert_healthy(backend, sandbox)


def test_a_child_ignoring_sigterm_dies_with_the_run_and_nothing_is_left(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    marker = f"sleeper-{uuid.uuid4().hex}"
    child = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        'os.setsid(); print("child", flush=True); time.sleep(600)'
    )
    result = backend.execute(
        sandbox,
        ["sh", "-c", f"python3 -c '{child}' {marker} & sleep 600; : {marker}"],
        timeout=2,
        output_limit=4096,
    )
    assert result.timed_out
    assert result.stdout == b"child\n"
    assert sandbox_processes(sandbox, marker) == []
    assert_healthy(backend, sandbox)


def test_nothing_outside_work_and_tmp_is_writable(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    out = python(
        backend,
        sandbox,
        "import os\n"
        "for path in ['/usr/x', '/x', '/etc/x', '/dev/x', '/proc/x', '/home/x', '/var/x',\n"
        "             '/work/ok', '/tmp/ok']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print(path, 'written')\n"
        "    except OSError as exc:\n"
        "        print(path, 'refused')\n",
    )
    assert out.decode().splitlines() == [
        "/usr/x refused",
        "/x refused",
        "/etc/x refused",
        "/dev/x refused",
        "/proc/x refused",
        "/home/x refused",
        "/var/x refused",
        "/work/ok written",
        "/tmp/ok written",
    ]
    assert not Path("/usr/x").exists()
    assert python(backend, sandbox, "import os; print(os.path.exists('/tmp/ok'))") == b"False\n"
    assert_healthy(backend, sandbox)


def test_fifty_megabytes_of_output_are_capped_at_the_source(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    result = backend.execute(
        sandbox,
        [
            "python3",
            "-c",
            "import sys; sys.stdout.buffer.write(b'x' * 50_000_000); "
            "print('done', file=sys.stderr)",
        ],
        timeout=20,
        output_limit=10_000,
    )
    assert result.truncated
    assert result.stdout == b"x" * 10_000
    assert result.stderr == b"done\n"
    assert result.exit_code == 0
    assert_healthy(backend, sandbox)


def test_endless_output_is_stopped_after_the_drain_limit(root: Path) -> None:
    backend = BubblewrapBackend(root / "drain", drain_limit=1_000_000)
    handle = backend.create(f"test-{uuid.uuid4()}", LIMITS)
    try:
        result = backend.execute(handle, ["yes"], timeout=30, output_limit=100)
        assert result.truncated
        assert not result.timed_out
        assert result.stdout == b"y\n" * 50
        assert_healthy(backend, handle)
    finally:
        backend.remove(handle)


def test_files_go_in_and_come_out(backend: BubblewrapBackend, sandbox: SandboxHandle) -> None:
    backend.put_file(sandbox, "in/data.txt", b"hello")
    out = python(
        backend,
        sandbox,
        "print(open('in/data.txt').read()); open('out.bin', 'wb').write(b'\\0\\1')",
    )
    assert out == b"hello\n"
    assert backend.get_file(sandbox, "out.bin", 10) == b"\0\1"
    assert backend.get_file(sandbox, "/work/in/data.txt", 10) == b"hello"
    names = [(entry.path, entry.size, entry.is_dir) for entry in backend.list_files(sandbox)]
    assert names == [("in", 4096, True), ("in/data.txt", 5, False), ("out.bin", 2, False)]
    assert [entry.path for entry in backend.list_files(sandbox, "in")] == ["in/data.txt"]
    with pytest.raises(SandboxError, match="5 bytes, more than the 3 allowed"):
        backend.get_file(sandbox, "in/data.txt", 3)
    with pytest.raises(SandboxError, match="no file"):
        backend.get_file(sandbox, "missing", 10)
    with pytest.raises(SandboxError, match="is a folder"):
        backend.get_file(sandbox, "in", 10)


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "in/../../escape", "a\0b"])
def test_paths_leaving_work_are_refused(
    backend: BubblewrapBackend, sandbox: SandboxHandle, path: str
) -> None:
    with pytest.raises(SandboxError):
        backend.put_file(sandbox, path, b"x")
    with pytest.raises(SandboxError):
        backend.get_file(sandbox, path, 100)


def test_symlinks_made_inside_are_not_followed(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    passwd = Path("/etc/passwd").read_bytes()
    python(
        backend, sandbox, "import os; os.symlink('/etc/passwd', 'link'); os.symlink('/etc', 'etc')"
    )
    with pytest.raises(SandboxError, match="symbolic link"):
        backend.get_file(sandbox, "link", 1_000_000)
    with pytest.raises(SandboxError, match="symbolic link"):
        backend.get_file(sandbox, "etc/passwd", 1_000_000)
    with pytest.raises(SandboxError, match="symbolic link"):
        backend.put_file(sandbox, "link", b"owned")
    with pytest.raises(SandboxError, match="symbolic link"):
        backend.put_file(sandbox, "etc/passwd", b"owned")
    with pytest.raises(SandboxError, match="symbolic link"):
        backend.list_files(sandbox, "etc")
    assert Path("/etc/passwd").read_bytes() == passwd
    assert sorted(entry.path for entry in backend.list_files(sandbox)) == ["etc", "link"]
    assert_healthy(backend, sandbox)


def test_the_storage_quota_holds_for_uploads_and_runs(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    with pytest.raises(SandboxQuotaExceeded, match="quota of 4 MB"):
        backend.put_file(sandbox, "big", b"x" * 5_000_000)
    with pytest.raises(SandboxQuotaExceeded, match="past its quota of 4 MB"):
        backend.execute(
            sandbox,
            ["sh", "-c", "for i in 1 2 3 4 5; do head -c 1000000 /dev/zero > f$i; done"],
            timeout=10,
            output_limit=4096,
        )
    # One file past the quota is stopped by the file size limit inside.
    result = backend.execute(
        sandbox,
        ["sh", "-c", "rm f*; head -c 5000000 /dev/zero > one"],
        timeout=10,
        output_limit=4096,
    )
    assert result.exit_code != 0
    assert os.path.getsize(Path(sandbox.id) / "work" / "one") == 4 * 1024 * 1024
    backend.execute(sandbox, ["rm", "one"], timeout=10, output_limit=4096)
    backend.put_file(sandbox, "small", b"x" * 1000)
    assert_healthy(backend, sandbox)


def test_create_empties_a_leftover_and_remove_makes_it_gone(backend: BubblewrapBackend) -> None:
    owner = f"test-{uuid.uuid4()}"
    first = backend.create(owner, LIMITS)
    backend.put_file(first, "old.txt", b"old")
    second = backend.create(owner, LIMITS)
    assert second.name == first.name
    assert backend.list_files(second) == []
    backend.remove(second)
    assert backend.alive(second) == "removed"
    with pytest.raises(SandboxGone):
        backend.execute(second, ["true"], timeout=5, output_limit=10)
    backend.remove(second)  # already gone: no error


def test_a_network_is_not_offered(backend: BubblewrapBackend) -> None:
    with pytest.raises(SandboxError, match="without a network"):
        backend.create("someone", SandboxLimits(network=True))


def test_cgroups_hold_the_whole_sandbox_where_writable(root: Path) -> None:
    backend = BubblewrapBackend(root / "sandboxes")
    handle = backend.create(f"test-{uuid.uuid4()}", LIMITS)
    try:
        memory = Path("/sys/fs/cgroup/memory/clara-sandbox") / handle.name
        pids = Path("/sys/fs/cgroup/pids/clara-sandbox") / handle.name
        assert (memory / "memory.limit_in_bytes").read_text().strip() == str(256 * 1024 * 1024)
        assert (pids / "pids.max").read_text().strip() == "32"
        assert (
            python(backend, handle, "b = bytearray(100 * 1024 * 1024); print(len(b))")
            == b"104857600\n"
        )
        assert int((memory / "memory.max_usage_in_bytes").read_text()) > 100 * 1024 * 1024
        assert (memory / "cgroup.procs").read_text() == ""
    finally:
        backend.remove(handle)
    assert not memory.exists()
    assert not pids.exists()


def test_a_run_killed_for_the_sandboxs_memory_says_so(root: Path) -> None:
    """Each of two processes stays under the per-process limit; together they pass the
    cgroup's: the kernel kills one, and the result says it was for memory."""
    backend = BubblewrapBackend(root / "sandboxes")
    handle = backend.create(f"test-{uuid.uuid4()}", LIMITS)
    hog = (
        "import os, time\n"
        "pid = os.fork()\n"
        "b = bytearray(200 * 1024 * 1024)\n"
        "for i in range(0, len(b), 4096): b[i] = 1\n"
        "time.sleep(1)\n"
        "if pid: os.waitpid(pid, 0)\n"
    )
    try:
        result = backend.execute(handle, ["python3", "-c", hog], timeout=20, output_limit=4096)
        assert result.oom, result
        assert not result.timed_out
        calm = backend.execute(handle, ["python3", "-c", "print(1)"], timeout=20, output_limit=64)
        assert calm.stdout == b"1\n" and not calm.oom, calm
    finally:
        backend.remove(handle)


@pytest.mark.skipif(
    os.geteuid() != 0, reason="a host uid per sandbox is given only when Clara runs as root"
)
def test_as_root_each_sandbox_has_a_host_uid_of_its_own(backend: BubblewrapBackend) -> None:
    first = backend.create(f"test-{uuid.uuid4()}", LIMITS)
    second = backend.create(f"test-{uuid.uuid4()}", LIMITS)
    try:
        uids = {(Path(handle.id) / "work").stat().st_uid for handle in (first, second)}
        assert len(uids) == 2
        assert min(uids) >= 1_500_000_000
    finally:
        backend.remove(first)
        backend.remove(second)


def test_deeply_nested_folders_are_measured_and_removed(backend: BubblewrapBackend) -> None:
    handle = backend.create(f"test-{uuid.uuid4()}", SandboxLimits(work_mb=64))
    python(backend, handle, "import os\nfor _ in range(1500):\n    os.mkdir('d'); os.chdir('d')\n")
    backend.put_file(handle, "small", b"x")
    assert backend.list_files(handle)[0].path == "d"
    assert_healthy(backend, handle)
    backend.remove(handle)
    assert not Path(handle.id).exists()


def test_stdin_reaches_the_code_and_dev_null_works(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    data = b"line\n" * 200_000  # a megabyte: more than a pipe holds at once
    result = backend.execute(
        sandbox,
        ["sh", "-c", "wc -c; echo gone > /dev/null"],
        stdin=data,
        timeout=10,
        output_limit=100,
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, b"1000000\n", b"")
    assert_healthy(backend, sandbox)


def test_bad_arguments_are_refused_with_the_reason(
    backend: BubblewrapBackend, sandbox: SandboxHandle
) -> None:
    with pytest.raises(SandboxError, match="argv is empty"):
        backend.execute(sandbox, [], timeout=1, output_limit=10)
    with pytest.raises(SandboxError, match="timeout must be above 0"):
        backend.execute(sandbox, ["true"], timeout=0, output_limit=10)
    with pytest.raises(SandboxError, match="limits.pids must be at least 1"):
        backend.create("someone", SandboxLimits(pids=0))


def test_a_sweep_removes_every_sandbox_folder_and_its_cgroups(root: Path) -> None:
    backend = BubblewrapBackend(root / "sandboxes")
    handles = [backend.create(f"test-{uuid.uuid4()}", LIMITS) for _ in range(2)]
    python(backend, handles[0], "open('kept.txt', 'w').write('x')")
    assert backend.sweep() == 2
    for handle in handles:
        assert backend.alive(handle) == "removed"
        assert not (Path("/sys/fs/cgroup/memory/clara-sandbox") / handle.name).exists()
    assert list((root / "sandboxes").iterdir()) == []
    assert backend.sweep() == 0
