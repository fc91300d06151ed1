"""Files in and out of a docker sandbox: confined to /work, bounded, within its quota."""

from __future__ import annotations

import pytest

from clara.adapters.sandbox import (
    DockerBackend,
    SandboxError,
    SandboxFile,
    SandboxHandle,
    SandboxQuotaExceeded,
)


def test_files_go_in_and_come_back_out_byte_for_byte(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    data = bytes(range(256)) * 100
    backend.put_file(shared_sandbox, "in/deep/data.bin", data)
    backend.put_file(shared_sandbox, "/work/top.txt", b"top")
    assert backend.get_file(shared_sandbox, "in/deep/data.bin", 1_000_000) == data
    assert backend.get_file(shared_sandbox, "./top.txt", 100) == b"top"
    listed = backend.list_files(shared_sandbox, "in")
    assert listed == [
        SandboxFile(path="in/deep", size=0, is_dir=True),
        SandboxFile(path="in/deep/data.bin", size=len(data)),
    ]
    # The code sees them as its own (and can write next to them).
    result = backend.execute(
        shared_sandbox,
        ["sh", "-c", "stat -c %u in/deep/data.bin && echo out > in/deep/made.txt"],
        timeout=10,
        output_limit=100,
    )
    assert (result.exit_code, result.stdout) == (0, b"65534\n")
    assert backend.get_file(shared_sandbox, "in/deep/made.txt", 100) == b"out\n"


def test_stdin_reaches_the_command(backend: DockerBackend, shared_sandbox: SandboxHandle) -> None:
    result = backend.execute(
        shared_sandbox, ["sh", "-c", "tr a-z A-Z"], stdin=b"hello\n", timeout=10, output_limit=100
    )
    assert result.stdout == b"HELLO\n"
    leftovers = backend.execute(shared_sandbox, ["ls", "-A", "/tmp"], timeout=10, output_limit=1000)
    assert leftovers.stdout == b""


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "a/../../x", "/etc/passwd", "/workshop/x", "a\0b"]
)
def test_paths_that_leave_the_work_directory_are_refused(
    backend: DockerBackend, shared_sandbox: SandboxHandle, path: str
) -> None:
    with pytest.raises(SandboxError, match="outside|'..'|NUL"):
        backend.put_file(shared_sandbox, path, b"x")
    with pytest.raises(SandboxError, match="outside|'..'|NUL"):
        backend.get_file(shared_sandbox, path, 100)


def test_symlinks_out_of_the_work_directory_are_not_followed(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    made = backend.execute(
        shared_sandbox,
        ["sh", "-c", "ln -sf /etc etc-link && ln -sf /tmp tmp-link && ln -sf top.txt ok-link"],
        timeout=10,
        output_limit=100,
    )
    assert made.exit_code == 0, made
    with pytest.raises(SandboxError, match="leads outside /work"):
        backend.get_file(shared_sandbox, "etc-link/passwd", 100_000)
    with pytest.raises(SandboxError, match="leads outside /work"):
        backend.put_file(shared_sandbox, "tmp-link/planted", b"x")
    with pytest.raises(SandboxError, match="leads outside /work"):
        backend.list_files(shared_sandbox, "etc-link")
    # A link that stays inside is fine.
    backend.put_file(shared_sandbox, "top.txt", b"top")
    assert backend.get_file(shared_sandbox, "ok-link", 100) == b"top"


def test_reading_a_missing_file_a_folder_or_too_much_says_which(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    backend.put_file(shared_sandbox, "sizes/ten.txt", b"0123456789")
    with pytest.raises(SandboxError, match="no such file"):
        backend.get_file(shared_sandbox, "sizes/nope.txt", 100)
    with pytest.raises(SandboxError, match="a folder"):
        backend.get_file(shared_sandbox, "sizes", 100)
    with pytest.raises(SandboxError, match="10 bytes, more than the 5"):
        backend.get_file(shared_sandbox, "sizes/ten.txt", 5)


def test_a_file_past_the_work_directorys_size_is_refused_as_over_quota(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    with pytest.raises(SandboxQuotaExceeded, match="work directory is full"):
        backend.put_file(shared_sandbox, "huge.bin", b"\0" * (17 * 1024 * 1024))
    # Code that fills it gets the operating system's answer, and the sandbox goes on.
    filled = backend.execute(
        shared_sandbox,
        ["sh", "-c", "head -c 20000000 /dev/zero > fill.bin"],
        timeout=10,
        output_limit=1000,
    )
    assert filled.exit_code != 0 and b"No space left" in filled.stderr, filled
    backend.execute(
        shared_sandbox, ["rm", "-f", "fill.bin", "huge.bin"], timeout=10, output_limit=100
    )
    backend.put_file(shared_sandbox, "small.txt", b"fits")
    assert backend.get_file(shared_sandbox, "small.txt", 100) == b"fits"
