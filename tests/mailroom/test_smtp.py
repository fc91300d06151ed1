"""The SMTP adapter against a real SMTP server on loopback (aiosmtpd): STARTTLS, TLS from
the start and plain, with and without a login; every failure mapped to what the caller does
next; the password never in a message."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from clara.adapters.smtp import (
    SmtpEndpoint,
    SmtpLoginRefused,
    SmtpRefused,
    SmtpUnavailable,
    send_message,
)
from tests.mailroom.smtp_server import SmtpServer, certificate

PASSWORD = "hunter2-smtp-secret"

#: aiosmtpd cannot tell that a session under TLS from the first byte is encrypted, and warns.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def a_message(subject: str = "Re: hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Clara <clara@test.local>"
    message["To"] = "bob@example.com"
    message["Subject"] = subject
    message.set_content("Hello Bob.\n")
    return message


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return certificate(tmp_path)


@pytest.fixture
def servers() -> Iterator[list[SmtpServer]]:
    started: list[SmtpServer] = []
    yield started
    for server in started:
        server.stop()


def run(servers: list[SmtpServer], server: SmtpServer) -> SmtpServer:
    server.start()
    servers.append(server)
    return server


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_message_goes_over_tls_with_a_login(
    servers: list[SmtpServer], cert: tuple[Path, Path], security: str
) -> None:
    server = run(servers, SmtpServer(users={"clara": PASSWORD}, tls=security, cert=cert))
    endpoint = SmtpEndpoint(
        host="127.0.0.1",
        port=server.port,
        security=security,
        username="clara",
        password=PASSWORD,
        timeout=5.0,
    )
    send_message(
        endpoint,
        a_message(),
        sender="clara@test.local",
        recipients=["bob@example.com"],
        tls=server.client_context(),
    )
    [received] = server.received
    assert received.login == "clara" and received.tls
    assert received.mail_from == "clara@test.local"
    assert received.rcpt_tos == ("bob@example.com",)
    assert received.message["Subject"] == "Re: hello"


def test_plain_without_a_login_reaches_a_relay(servers: list[SmtpServer]) -> None:
    server = run(servers, SmtpServer())
    endpoint = SmtpEndpoint(host="127.0.0.1", port=server.port, security="plain", timeout=5.0)
    send_message(endpoint, a_message(), sender="clara@test.local", recipients=["bob@example.com"])
    [received] = server.received
    assert received.login is None and not received.tls


def test_the_envelope_names_only_the_recipients_given_whatever_the_headers_say(
    servers: list[SmtpServer],
) -> None:
    server = run(servers, SmtpServer())
    message = a_message()
    message["Cc"] = "everyone@example.com"
    endpoint = SmtpEndpoint(host="127.0.0.1", port=server.port, security="plain", timeout=5.0)
    send_message(endpoint, message, sender="clara@test.local", recipients=["bob@example.com"])
    assert server.received[0].rcpt_tos == ("bob@example.com",)


def test_a_wrong_password_is_a_refused_login_that_never_shows_the_password(
    servers: list[SmtpServer], cert: tuple[Path, Path]
) -> None:
    server = run(servers, SmtpServer(users={"clara": "the-right-one"}, tls="starttls", cert=cert))
    endpoint = SmtpEndpoint(
        host="127.0.0.1",
        port=server.port,
        username="clara",
        password=PASSWORD,
        timeout=5.0,
    )
    with pytest.raises(SmtpLoginRefused) as caught:
        send_message(
            endpoint,
            a_message(),
            sender="clara@test.local",
            recipients=["bob@example.com"],
            tls=server.client_context(),
        )
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(endpoint)
    assert f"clara@127.0.0.1:{server.port}" in str(caught.value)
    assert server.received == []


def test_a_server_without_starttls_gets_nothing_in_the_clear(servers: list[SmtpServer]) -> None:
    server = run(servers, SmtpServer())  # offers no STARTTLS
    endpoint = SmtpEndpoint(
        host="127.0.0.1", port=server.port, username="clara", password=PASSWORD, timeout=5.0
    )
    with pytest.raises(SmtpUnavailable, match="does not offer STARTTLS"):
        send_message(endpoint, a_message(), sender="clara@test.local", recipients=["b@x.org"])
    assert server.received == []


def test_a_server_that_is_down_is_unavailable() -> None:
    server = SmtpServer()  # never started: its port refuses connections
    endpoint = SmtpEndpoint(host="127.0.0.1", port=server.port, security="plain", timeout=5.0)
    with pytest.raises(SmtpUnavailable, match="cannot connect"):
        send_message(endpoint, a_message(), sender="clara@test.local", recipients=["b@x.org"])


@pytest.mark.parametrize(
    ("answer", "error"),
    [("550 5.1.1 no such user", SmtpRefused), ("451 4.3.0 try later", SmtpUnavailable)],
)
def test_a_refused_recipient_is_final_on_5xx_and_temporary_on_4xx(
    servers: list[SmtpServer], answer: str, error: type[Exception]
) -> None:
    server = run(servers, SmtpServer(refuse={"bob@example.com": answer}))
    endpoint = SmtpEndpoint(host="127.0.0.1", port=server.port, security="plain", timeout=5.0)
    with pytest.raises(error, match=answer.split(maxsplit=1)[0]):
        send_message(
            endpoint, a_message(), sender="clara@test.local", recipients=["bob@example.com"]
        )
    assert server.received == []


def test_an_endpoint_names_a_bad_setting() -> None:
    with pytest.raises(ValueError, match="security must be one of starttls, ssl, plain"):
        SmtpEndpoint(host="h", port=25, security="tls")
    with pytest.raises(ValueError, match="port must be 1 to 65535"):
        SmtpEndpoint(host="h", port=0)
    with pytest.raises(ValueError, match="at least one recipient"):
        send_message(SmtpEndpoint(host="h", port=25), a_message(), sender="a@b.c", recipients=[])
