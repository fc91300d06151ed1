"""A real dovecot on loopback for the email tests and the email benchmark.

Each ``Dovecot`` has a private folder (config, runtime ``base_dir``, state, mail), its own
port, and a passwd-file that is both its password and its user database, so every user gets
a uid of its own: dovecot's IDLE uses inotify, whose instances are limited per uid, and
users sharing one uid past ~128 silently fall back to 30 s polling. Run as root (as CI and
these machines do), users get uids from 20,000 up; otherwise everyone is the caller.

``kill()`` ends the master's whole process group with SIGKILL (a cut: SIGTERM is not one,
sessions live on ~14 s), waits for it, and removes the stale ``master.pid`` a killed master
leaves; ``start()`` brings it back on the same port and mail.

``Dovecot(oauth2_introspection=URL)`` also takes XOAUTH2 and OAUTHBEARER logins, checked by
dovecot's ``oauth2`` passdb against an RFC 7662 introspection endpoint at ``URL`` (POST
``token=...``; the answer's ``active`` must be true and its ``username`` the login). Users
still come from the passwd-file (their uid and home) and may still log in with their
password. Nothing is cached (``auth_cache_size = 0``) and a refused login costs the next
one nothing (the auth penalty is off: its socket is closed to the auth process), so every
login is decided by the introspection answer of that moment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["Dovecot", "dovecot_binary", "free_port"]

_FIRST_UID = 20_000


def dovecot_binary() -> str | None:
    """The dovecot executable, or None when it is not installed."""
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Dovecot:
    """One dovecot master, a child of this process in its own process group."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        port: int | None = None,
        oauth2_introspection: str | None = None,
    ) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
        self.binary = binary
        # Not under pytest's tmp_path: its folders are the caller's alone (0700), and the
        # mail users (other uids) must reach their homes.
        self.root = root or Path(tempfile.mkdtemp(prefix="clara-dovecot-"))
        self.root.chmod(0o755)
        self.port = port or free_port()
        self.oauth2_introspection = oauth2_introspection
        self.users: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        for folder in ("run", "state", "mail"):
            (self.root / folder).mkdir(exist_ok=True)
        (self.root / "mail").chmod(0o1777)
        self._write_config()

    # -- users --------------------------------------------------------------------------------

    def add_user(self, name: str, password: str = "secret") -> str:
        """Add a mail user (its own uid when running as root); returns the login name."""
        self.users[name] = password
        self._write_passwd()
        return name

    def home(self, name: str) -> Path:
        return self.root / "mail" / name

    # -- life ---------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the master and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.root / "run" / "master.pid").unlink()
        self._launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                # A killed master's children may still hold its sockets for a moment
                # ("Socket already exists", "Address already in use"): try again.
                if "Failed to start listeners" not in self.log_tail(4):
                    raise RuntimeError(f"dovecot exited at start: {self.log_tail()}")
                time.sleep(0.05)
                self.process = None
                self._launch()
                continue
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe,
            ):
                probe.settimeout(2.0)
                if probe.recv(100).startswith(b"* OK"):
                    return
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not listen on {self.port} in {timeout} s")

    def _launch(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / "run" / "master.pid").unlink()
        log = (self.root / "dovecot.out").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """Cut every connection at once: SIGKILL to the whole process group, then reap it."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            (self.root / "run" / "master.pid").unlink()
        self._wait_port_free()

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        """The master's children die a moment after it: wait until none holds the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError:
                    time.sleep(0.01)
                    continue
                return
        raise RuntimeError(f"port {self.port} still taken {timeout} s after dovecot was killed")

    def close(self) -> None:
        """Kill it and remove its folder."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def reset_uidvalidity(self, name: str) -> None:
        """Make the user's INBOX a new mailbox to IMAP (a new UIDVALIDITY, UIDs from 1):
        dovecot is stopped, its UID list and indexes are removed, the mail stays."""
        was_running = self.process is not None
        self.kill()
        maildir = self.home(name) / "Maildir"
        # Kept: dovecot-uidvalidity, the next UIDVALIDITY to hand out (without it dovecot
        # takes the clock's second, which may be the old value again).
        for path in maildir.glob("dovecot*"):
            if path.is_file() and not path.name.startswith("dovecot-uidvalidity"):
                path.unlink()
        if was_running:
            self.start()

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("dovecot.log", "dovecot.out"):
            with contextlib.suppress(FileNotFoundError):
                text += (self.root / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- files --------------------------------------------------------------------------------

    def _write_passwd(self) -> None:
        root_user = os.geteuid() == 0
        lines = []
        for index, (name, password) in enumerate(self.users.items()):
            uid = _FIRST_UID + index if root_user else os.geteuid()
            gid = uid if root_user else os.getegid()
            lines.append(f"{name}:{{PLAIN}}{password}:{uid}:{gid}::{self.home(name)}\n")
        passwd = self.root / "passwd"
        passwd.write_text("".join(lines))
        passwd.chmod(0o644)

    def _write_config(self) -> None:
        root = self.root
        self._write_passwd()
        oauth2 = self.oauth2_introspection
        lines = [
            "protocols = imap",
            "listen = 127.0.0.1",
            f"base_dir = {root / 'run'}",
            f"state_dir = {root / 'state'}",
            f"log_path = {root / 'dovecot.log'}",
            "ssl = no",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login" + (" xoauth2 oauthbearer" if oauth2 else ""),
            # A wrong password answers at once (a real server waits 2 s; tests need not).
            "auth_failure_delay = 0",
            "first_valid_uid = 1",
            "mail_location = maildir:~/Maildir",
        ]
        if oauth2:
            (root / "oauth2.conf.ext").write_text(
                "\n".join(
                    [
                        "introspection_mode = post",
                        f"introspection_url = {oauth2}",
                        "force_introspection = yes",
                        "username_attribute = username",
                        "active_attribute = active",
                        "active_value = true",
                    ]
                )
                + "\n"
            )
            lines += [
                "auth_cache_size = 0",
                "passdb {",
                "  driver = oauth2",
                "  mechanisms = xoauth2 oauthbearer",
                f"  args = {root / 'oauth2.conf.ext'}",
                "}",
            ]
        lines += [
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {root / 'passwd'}",
            *(["  mechanisms = plain login"] if oauth2 else []),
            "}",
            "userdb {",
            "  driver = passwd-file",
            f"  args = username_format=%u {root / 'passwd'}",
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.port}",
            "  }",
            "  process_min_avail = 1",
            "}",
            # Room for the benchmark's 1,000 sessions.
            "default_client_limit = 4000",
            "default_process_limit = 2000",
            "service imap {",
            "  process_limit = 2000",
            "}",
            "service anvil {",
            "  client_limit = 5000",
            # No auth penalty with OAuth: a refused token would slow the next login by
            # seconds (dovecot's anvil penalty; mode 0 keeps the unprivileged auth process
            # out of its socket). Tests of refused tokens then run at the speed of logins.
            *(["  unix_listener anvil-auth-penalty {", "    mode = 0", "  }"] if oauth2 else []),
            "}",
        ]
        if os.geteuid() != 0:
            lines += [f"default_login_user = {os.environ.get('USER', 'nobody')}"]
        (root / "dovecot.conf").write_text("\n".join(lines) + "\n")
