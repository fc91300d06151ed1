"""Hostile requests to every status route, over a real socket to the real server.

Each gets a clean 4xx (405, 414, 431, ...) with a one-line reason in JSON, or the right
answer; never a 500, never a traceback; and the server answers the next request as before.
Requests the HTTP parser (h11) cannot read at all are refused by hypercorn itself, with a
bodiless 400 or 431 and the connection closed: those are marked ``bodiless`` below.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from tests.adapters.http.harness import TOKEN, Served, serving

ROUTES = ("/", "/status", "/status/schema", "/healthz", "/readyz", "/metrics", "/oauth/callback")
#: A real-time bound on one exchange, so a server that never answers fails instead of hanging.
PATIENCE = 20


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_head: bytes = field(repr=False, default=b"")

    def error(self) -> str:
        """The one-line reason of a JSON error body."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        reason = json.loads(self.body)["error"]
        assert isinstance(reason, str) and reason and "\n" not in reason, reason
        return reason


def parse(
    data: bytes, heads: int = 1, *, head_request: bool = False, closed: bool = False
) -> list[Answer] | None:
    """The first ``heads`` responses in ``data``, or None while one is incomplete
    (``closed``: the server closed the connection, which ends a body without a length)."""
    answers: list[Answer] = []
    rest = data
    while len(answers) < heads:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            return None
        head, rest = rest[:end], rest[end + 4 :]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if head_request or status in (101, 204, 304):
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_end = rest.find(b"\r\n")
                if size_end < 0:
                    return None
                size = int(rest[:size_end], 16)
                if len(rest) < size_end + 2 + size + 2:
                    return None
                body += rest[size_end + 2 : size_end + 2 + size]
                rest = rest[size_end + 2 + size + 2 :]
                if size == 0:
                    break
        elif "content-length" not in headers:  # HTTP/1.0: the body runs to the close
            if not closed:
                return None
            body, rest = rest, b""
        else:
            length = int(headers["content-length"])
            if len(rest) < length:
                return None
            body, rest = rest[:length], rest[length:]
        answers.append(Answer(status, headers, body, head))
    return answers


async def exchange(
    served: Served, raw: bytes, heads: int = 1, *, head_request: bool = False
) -> list[Answer]:
    """Send ``raw`` on a new connection; read ``heads`` responses (or until it closes)."""
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host.strip("[]"), int(port))
    data = b""
    with trio.fail_after(PATIENCE):
        # Refused before all of it was read: the answer is there all the same.
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(raw)
        while (answers := parse(data, heads, head_request=head_request)) is None:
            try:
                piece = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                piece = b""
            if not piece:
                answers = parse(data, heads, head_request=head_request, closed=True)
                break
            data += piece
    await stream.aclose()
    assert answers is not None, f"no complete answer to {raw[:80]!r}: got {data[:200]!r}"
    for answer in answers:
        assert answer.status < 500, answer
        assert b"Traceback" not in answer.body and b'File "' not in answer.body, answer
    return answers


def request(target: str, method: str = "GET", *headers: str, version: str = "1.1") -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: clara", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def still_answers(served: Served) -> None:
    response = await served.client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


@pytest.mark.parametrize("route", [*ROUTES, "/nope"])
@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"]
)
@pytest.mark.trio
async def test_a_method_other_than_get_is_a_405_on_every_route(route: str, method: str) -> None:
    async with serving() as served:
        headers = ("Content-Length: 5",) if method in ("POST", "PUT", "PATCH") else ()
        [answer] = await exchange(served, request(route, method, *headers) + b"hello")
        assert answer.status == 405
        assert answer.headers["allow"] == "GET, HEAD"
        assert answer.error() == f"{method} is not allowed here; use GET"
        await still_answers(served)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.trio
async def test_head_on_every_route_answers_without_a_body(route: str) -> None:
    async with serving() as served:
        [answer] = await exchange(served, request(route, "HEAD"), head_request=True)
        assert answer.status in (200, 404)  # the callback: nothing waits for one
        assert answer.body == b""
        await still_answers(served)


@pytest.mark.parametrize(
    ("target", "status", "says"),
    [
        ("/../../etc/passwd", 404, "no such page: /../../etc/passwd"),
        ("/status/../readyz", 404, "no such page: /status/../readyz"),
        ("/%2e%2e/%2e%2e/etc/passwd", 404, "no such page: /../../etc/passwd"),
        ("/status%2f..%2fhealthz", 404, "no such page: /status/../healthz"),
        ("//status", 404, "no such page: //status"),
        ("/./status", 404, "no such page: /./status"),
        ("/status/", 404, "no such page: /status/"),
        ("/st%C3%A4tus", 404, "no such page: /stätus"),
        ("/%FF%FE", 404, "no such page: /\ufffd\ufffd"),
        ("http://elsewhere.example/status", 404, "no such page: /http://elsewhere.example/status"),
        ("*", 404, "no such page: /*"),
        ("/" + "a" * 5000, 414, "the request target is 5,001 bytes; at most 4,096"),
        ("/status?path=/clara%27%20OR%201=1--", 400, "path must not contain spaces"),
        ("/status?state=running;DROP%20TABLE", 400, "state must be one of"),
        ("/status?state=", 400, "state must be one of starting, running, backing_off"),
        ("/status?limit=", 400, "limit must be an integer; got ''"),
        ("/status?limit=1&limit=2", 400, "limit may be given once"),
        ("/status?path=/a&path=/b", 400, "path may be given once"),
        ("/status?offset=1&offset=1", 400, "offset may be given once"),
        ("/status?path=%00", 400, "path must start with '/'"),
        ("/status?path=/clara%00", 400, "path must not contain spaces or control characters"),
        ("/status?path=/clara%0d%0aX-Injected:%201", 400, "path must not contain spaces"),
        ("/status?=x", 400, "unknown query parameter ''"),
        ("/status?%zz=1", 400, "unknown query parameter '%zz'"),
        ("/status?limit=0x10", 400, "limit must be an integer; got '0x10'"),
        ("/status?limit=1_000", 400, "limit must be an integer; got '1_000'"),
        ("/status?path=" + "/a" * 600, 400, "path must be at most 1000 characters; got 1200"),
        ("/status?" + "state=running&" * 300, 414, "the request target is"),
        ("/oauth/callback?state=" + "s" * 300, 404, None),
    ],
)
@pytest.mark.trio
async def test_odd_paths_and_queries_are_refused_with_the_reason(
    target: str, status: int, says: str | None
) -> None:
    async with serving() as served:
        [answer] = await exchange(served, request(target))
        assert answer.status == status, answer
        if says is not None:
            assert says in answer.error()
        await still_answers(served)


@pytest.mark.parametrize(
    "target",
    [
        "/status?&&&",
        "/status?state=RUNNING&state=running,backing_off",
        "/status?path=/clara/%C3%BC",
        "/status?path=/%F0%9F%98%80&view=tree",
        "/status?view=tree&limit=1&offset=10000000",
        "/readyz?anything=ignored",
        "/healthz?%00",
    ],
)
@pytest.mark.trio
async def test_odd_but_valid_queries_get_the_right_answer(target: str) -> None:
    async with serving() as served:
        [answer] = await exchange(served, request(target))
        assert answer.status == 200, answer
        json.loads(answer.body)
        await still_answers(served)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"garbage\r\n\r\n", 400),
        (b"GET /healthz\r\n\r\n", 400),  # HTTP/0.9
        (b"GET /st\xc3\xa4tus HTTP/1.1\r\nHost: clara\r\n\r\n", 400),  # raw bytes in the target
        (b"GET /healthz HTTP/1.1\r\nHost: clara\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: clara\r\nBad Header: x\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: clara\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: clara\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n", 431),
    ],
)
@pytest.mark.trio
async def test_what_the_parser_cannot_read_is_refused_by_hypercorn_and_the_server_goes_on(
    raw: bytes, status: int
) -> None:
    async with serving() as served:
        [answer] = await exchange(served, raw)
        assert (answer.status, answer.body) == (status, b"")  # bodiless
        assert answer.headers["connection"] == "close"
        await still_answers(served)


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        (("X-Big: " + "a" * 20_000,), "request headers are 20,014 bytes; at most 8,192"),
        (tuple(f"X-{n}: {n}" for n in range(100)), "101 request headers; at most 64"),
        (("Cookie: " + "c=1; " * 3000,), "request headers are"),
    ],
)
@pytest.mark.trio
async def test_huge_or_many_headers_are_a_431(headers: tuple[str, ...], says: str) -> None:
    async with serving() as served:
        [answer] = await exchange(served, request("/status", "GET", *headers))
        assert answer.status == 431
        assert says in answer.error()
        await still_answers(served)


@pytest.mark.trio
async def test_http_1_0_is_answered_and_closed() -> None:
    async with serving() as served:
        [answer] = await exchange(served, b"GET /healthz HTTP/1.0\r\n\r\n")
        assert answer.status == 200 and json.loads(answer.body) == {"status": "alive"}
        assert answer.headers["connection"].lower() == "close"
        for target in (b"/status", b"/status?view=tree"):  # one body, and one sent in pieces
            [page] = await exchange(served, b"GET " + target + b" HTTP/1.0\r\n\r\n")
            assert page.status == 200 and json.loads(page.body)["root"] == "/clara"
            assert page.headers["connection"].lower() == "close"


@pytest.mark.trio
async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving() as served:
        raw = request("/healthz") + request("/nope") + request("/status") + request("/readyz")
        answers = await exchange(served, raw, heads=4)
        assert [answer.status for answer in answers] == [200, 404, 200, 200]
        assert json.loads(answers[2].body)["query"]["view"] == "overview"
        assert json.loads(answers[3].body) == {"ready": True, "reasons": {}}


@pytest.mark.trio
async def test_a_websocket_upgrade_is_refused_with_the_reason() -> None:
    async with serving() as served:
        upgrade = (
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        )
        for route in ROUTES:
            [answer] = await exchange(served, request(route, "GET", *upgrade))
            assert answer.status == 400
            assert answer.error() == "no WebSocket here: the status endpoint serves HTTP GET"
        await still_answers(served)


@pytest.mark.trio
async def test_an_h2c_upgrade_does_not_disturb_the_server() -> None:
    async with serving() as served:
        upgrade = (
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABk",
        )
        [answer] = await exchange(served, request("/healthz", "GET", *upgrade))
        assert answer.status in (101, 200)  # hypercorn speaks HTTP/2 when asked: the right answer
        await still_answers(served)


def basic(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


BAD_TOKENS = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer nope",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN.upper()}",
    f"Bearer {TOKEN} {TOKEN}",
    f"Token {TOKEN}",
    TOKEN,
    f"Bearer\t{TOKEN}x",
    f"Bearer {TOKEN}\u00e4",
    basic(TOKEN.encode()),  # no colon: no password
    basic(b"operator:nope"),
    basic(b"\xff\xfe:\x00"),
    "Basic !!!",
    "Basic " + "A" * 5000,
    f"Digest {TOKEN}",
    "Bearer " + "x" * 6000,
]


@pytest.mark.parametrize("value", BAD_TOKENS, ids=range(len(BAD_TOKENS)))
@pytest.mark.trio
async def test_a_bad_token_in_any_spelling_is_a_401_that_repeats_nothing(value: str) -> None:
    async with serving(token=TOKEN) as served:
        for route in ROUTES[:-1]:  # the OAuth callback is open: its state is the credential
            raw = request(route, "GET", f"Authorization: {value}".encode().decode("latin-1"))
            [answer] = await exchange(served, raw.decode("latin-1").encode("latin-1"))
            if answer.status == 431:  # a 6,000-byte header: refused before the token is read
                continue
            assert answer.status == 401, (route, answer)
            assert answer.error().startswith("missing or wrong token")
            assert TOKEN.encode() not in answer.body
            assert "Bearer" in answer.headers["www-authenticate"]
        await still_answers(served)


@pytest.mark.trio
async def test_two_authorization_headers_are_refused_even_if_one_is_right() -> None:
    async with serving(token=TOKEN) as served:
        for first, second in (
            (f"Bearer {TOKEN}", "Bearer nope"),
            ("Bearer nope", f"Bearer {TOKEN}"),
        ):
            raw = request("/status", "GET", f"Authorization: {first}", f"Authorization: {second}")
            [answer] = await exchange(served, raw)
            assert answer.status == 401
        in_query = await exchange(served, request(f"/status?token={TOKEN}"))
        assert in_query[0].status == 401


@pytest.mark.parametrize(
    "value",
    [f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  ", basic(f"x:{TOKEN}".encode())],
)
@pytest.mark.trio
async def test_the_right_token_in_any_usual_spelling_is_accepted(value: str) -> None:
    async with serving(token=TOKEN) as served:
        [answer] = await exchange(served, request("/readyz", "GET", f"Authorization: {value}"))
        assert answer.status == 200


@pytest.mark.trio
async def test_a_request_that_never_ends_is_closed_after_the_keep_alive_timeout(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with serving() as served:
        host, port = served.url.removeprefix("http://").rsplit(":", 1)
        slow = await trio.open_tcp_stream(host, int(port))
        await slow.send_all(b"GET /status HTTP/1.1\r\nHost: clara\r\nX-Slow: ")
        await trio.testing.wait_all_tasks_blocked()
        # Meanwhile everyone else is answered.
        await still_answers(served)
        [answer] = await exchange(served, request("/readyz"))
        assert answer.status == 200
        mock_clock.jump(29)
        await slow.send_all(b"still coming")
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(2)  # past the 30 s keep-alive timeout, in virtual time
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(PATIENCE):
            assert await slow.receive_some(65536) == b""  # closed, without an answer
        await slow.aclose()
        await still_answers(served)


@pytest.mark.trio
async def test_a_client_that_goes_away_mid_answer_does_not_disturb_the_server() -> None:
    async with serving() as served:
        for route in ("/status?view=tree", "/metrics", "/"):
            host, port = served.url.removeprefix("http://").rsplit(":", 1)
            stream = await trio.open_tcp_stream(host, int(port))
            await stream.send_all(request(route))
            await stream.aclose()
            await trio.testing.wait_all_tasks_blocked()
            await still_answers(served)
