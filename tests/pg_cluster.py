"""A private PostgreSQL cluster for one test: started by ``initdb``/``pg_ctl`` on a port of
its own, so the test can stop it (``-m immediate``: a crash, as an outage looks to
clients) and start it again without touching the machine's shared server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import require

__all__ = ["PrivateCluster", "free_port", "private_postgresql"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class PrivateCluster:
    folder: Path
    port: int
    pg_ctl: str
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", str(self.folder / "data"), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-w", "-l", str(self.folder / "log"), "-o", options, "start")

    def stop(self) -> None:
        """Stop it as a crash would (``-m immediate``): clients' connections just break."""
        self._ctl("-m", "immediate", "stop")


@contextmanager
def private_postgresql() -> Iterator[PrivateCluster]:
    """A fresh cluster (trust auth, user ``postgres``), running; removed on exit."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    require(initdb and pg_ctl, "PostgreSQL's initdb and pg_ctl")
    assert initdb is not None and pg_ctl is not None
    as_postgres: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="clara-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        require(runuser, "runuser (to run PostgreSQL as its own user)")
        as_postgres = [str(runuser), "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    cluster = PrivateCluster(folder, free_port(), pg_ctl, as_postgres)
    try:
        subprocess.run(
            [*as_postgres, initdb, "-D", str(folder / "data"), "-A", "trust", "-U", "postgres",
             "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
