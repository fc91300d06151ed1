"""A real SMTP server on loopback for the mailroom tests: aiosmtpd, in its own thread.

``SmtpServer`` records every message it takes (envelope, login, raw bytes) and can refuse a
recipient with a given answer, ask for a login (``users``), offer STARTTLS or speak TLS from
the first byte (a self-signed certificate for 127.0.0.1, ``certificate``). ``stop()`` closes
the port (connections are refused, as with a server that is down) and ``start()`` opens it
again on the same port. ``wait_for(n)`` waits, in trio, until ``n`` messages arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.email.dovecot import free_port

__all__ = ["Received", "SmtpServer", "certificate"]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``127.0.0.1`` and ``localhost`` and its key (files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class Received:
    """One message the server took."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None
    """Who logged in (None: nobody)."""
    tls: bool
    """Whether the session was encrypted."""

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    server: SmtpServer

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = self.server.refuse.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        login = session.auth_data.login.decode() if session.authenticated else None
        self.server._arrived(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
                login=login,
                tls=server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """An SMTP server on ``127.0.0.1:port``.

    Args:
        users: logins it accepts (user → password); empty: no AUTH offered.
        tls: ``None`` (plain), ``"starttls"`` or ``"ssl"``; needs ``cert``.
        cert: (certificate, key) files.
    """

    users: dict[str, str] = field(default_factory=dict)
    tls: str | None = None
    cert: tuple[Path, Path] | None = None
    port: int = field(default_factory=free_port)
    refuse: dict[str, str] = field(default_factory=dict)
    """recipient → the answer to its RCPT (``"550 no such user"``)."""
    received: list[Received] = field(default_factory=list)
    logins_refused: int = 0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _token: trio.lowlevel.TrioToken | None = None
    _changed: trio.Event | None = None

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        context = None
        if self.tls is not None:
            assert self.cert is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        if self.tls == "starttls":
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        if self.users:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            # Under TLS from the first byte aiosmtpd does not know the session is encrypted.
            kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = Controller(
            _Handler(self),
            # A loop of asyncio's own: trio-asyncio, imported by Clara, replaces the policy
            # that would make one, and its loops only run inside trio.
            loop=asyncio.SelectorEventLoop(),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=context if self.tls == "ssl" else None,
            server_hostname="localhost",
            **kwargs,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Close the port: from now on a connection is refused."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
            controller.loop.close()

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate."""
        assert self.cert is not None
        return ssl.create_default_context(cafile=str(self.cert[0]))

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=auth_data)
        with self._lock:
            self.logins_refused += 1
        return AuthResult(success=False, handled=False)

    def _arrived(self, message: Received) -> None:
        with self._lock:
            self.received.append(message)
            token, changed = self._token, self._changed
        if token is not None and changed is not None:
            with contextlib.suppress(trio.RunFinishedError):  # the test is over
                token.run_sync_soon(changed.set)

    async def wait_for(self, count: int) -> list[Received]:
        """Wait until ``count`` messages arrived in all; all of them."""
        self._token = trio.lowlevel.current_trio_token()
        while True:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
                self._changed = trio.Event()
                changed = self._changed
            await changed.wait()
