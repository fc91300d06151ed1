"""Reading hostile mail: bounded, one-line headers, odd encodings, broken structure; never
an exception."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from clara.actors.mailroom import mail_key, one_line, parse_inbound

RECEIVED = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def raw(headers: str, body: str | bytes = "Hello") -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return headers.replace("\n", "\r\n").encode() + b"\r\n\r\n" + data


def test_a_plain_message_is_read_whole() -> None:
    mail = parse_inbound(
        7,
        raw(
            "From: Bob Example <Bob@Example.com>\nTo: clara@test.local\nSubject: Lunch?\n"
            "Message-ID: <m1@example.com>\nReferences: <r0@example.com>\n"
            "In-Reply-To: <r1@example.com>\nDate: Tue, 01 Dec 2026 09:59:00 +0000",
            "Are you free\non Friday?",
        ),
        RECEIVED,
    )
    assert mail.uid == 7 and mail.internal_date == RECEIVED
    assert mail.sender == "Bob Example <bob@example.com>"
    assert mail.sender_address == mail.reply_address == "bob@example.com"
    assert mail.subject == "Lunch?" and mail.message_id == "<m1@example.com>"
    assert mail.references == ("<r0@example.com>", "<r1@example.com>")
    assert mail.text == "Are you free\non Friday?" and not mail.truncated
    assert mail.date == dt.datetime(2026, 12, 1, 9, 59, tzinfo=dt.UTC)
    assert mail_key(mail) == "<m1@example.com>"


def test_reply_to_wins_over_from_and_only_a_plain_address_is_kept() -> None:
    mail = parse_inbound(
        1, raw("From: bob@example.com\nReply-To: not an address, Team <team@example.com>"), None
    )
    assert mail.reply_address == "team@example.com"
    bad = parse_inbound(1, raw('From: "x" <bob@example.com\r\nBcc: v@x.org>'), None)
    assert "\n" not in bad.sender and "\r" not in bad.sender


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?b?" + base64.b64encode(b"Hi\r\nBcc: victim@example.org").decode() + "?=",
        "=?utf-8?q?Hi=0D=0ABcc:_victim@example.org?=",
        "Hi\u2028Bcc: victim@example.org",
        "Hi\x85Bcc: victim@example.org",
    ],
)
def test_a_subject_that_smuggles_a_line_break_comes_out_on_one_line(subject: str) -> None:
    mail = parse_inbound(1, raw(f"From: bob@example.com\nSubject: {subject}"), None)
    assert mail.subject == "Hi Bcc: victim@example.org"


def test_odd_encodings_are_read_or_replaced_never_raised() -> None:
    body = base64.b64encode("Grüße aus Köln".encode("latin-1")).decode()
    mail = parse_inbound(
        1,
        raw(
            "From: =?bogus-charset?q?Mall=F6ry?= <m@example.com>\n"
            "Subject: caf\u00e9 =?utf-8?q?=E2=98=95?=\nContent-Type: text/plain; charset=latin-1\n"
            "Content-Transfer-Encoding: base64",
            body,
        ),
        None,
    )
    assert mail.text == "Grüße aus Köln"
    assert mail.subject == "café ☕"
    assert mail.sender_address == "m@example.com"
    broken = parse_inbound(
        2,
        raw(
            "From: b@example.com\nContent-Type: text/plain; charset=x-no-such\n"
            "Content-Transfer-Encoding: base64",
            "!!!not base64 at all",
        ),
        None,
    )
    assert isinstance(broken.text, str)


def test_html_only_mail_is_read_without_its_tags() -> None:
    mail = parse_inbound(
        1,
        raw(
            "From: b@example.com\nContent-Type: text/html; charset=utf-8",
            "<html><body><p>Hello &amp; welcome</p><script>x()</script></body></html>",
        ),
        None,
    )
    assert "Hello & welcome" in mail.text and "<p>" not in mail.text


def test_attachments_are_not_read_as_the_text() -> None:
    message = (
        "From: b@example.com\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="B"\n\n'
        "--B\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=x.pdf\n\n"
        "%PDF-1.4 secret\n--B\nContent-Type: text/plain\n\nThe real text\n--B--\n"
    )
    mail = parse_inbound(1, message.replace("\n", "\r\n").encode(), None)
    assert mail.text == "The real text"


def test_a_huge_body_is_cut_and_said_to_be() -> None:
    mail = parse_inbound(1, raw("From: b@example.com", "word " * 100_000), None, max_chars=500)
    assert len(mail.text) <= 500 and mail.truncated
    cut = parse_inbound(1, raw("From: b@example.com", "short"), None, cut=True)
    assert cut.truncated


def test_a_broken_structure_gives_what_could_be_read() -> None:
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(3000)
    )
    mail = parse_inbound(1, b"From: b@example.com\r\n" + nested.encode(), None)
    assert mail.sender_address == "b@example.com" and isinstance(mail.text, str)
    empty = parse_inbound(1, b"", None)
    assert empty.sender_address == "" and empty.reply_address == ""
    garbage = parse_inbound(1, bytes(range(256)) * 10, None)
    assert isinstance(garbage.subject, str)


def test_control_characters_leave_the_text_and_headers() -> None:
    mail = parse_inbound(
        1, raw("From: b@example.com\nSubject: a\x1b[31mred\x07", "line\x00one\x1b[0m"), None
    )
    assert "\x1b" not in mail.subject and "\x07" not in mail.subject
    assert "\x00" not in mail.text and "\x1b" not in mail.text


def test_a_message_without_message_id_is_known_by_a_digest() -> None:
    first = parse_inbound(1, raw("From: b@example.com\nSubject: x\nMessage-ID: junk"), None)
    assert first.message_id is None and mail_key(first).startswith("digest:")
    assert mail_key(first) == mail_key(
        parse_inbound(9, raw("From: b@example.com\nSubject: x"), None)
    )


def test_one_line_makes_every_separator_a_space() -> None:
    assert one_line("a\r\nb\tc\u2029d\x00e   f", 100) == "a b c d e f"
    assert one_line("x" * 50, 10) == "x" * 10
