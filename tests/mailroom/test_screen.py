"""Which mail gets no reply: every automated signal, and what a person's mail looks like."""

from __future__ import annotations

import pytest

from clara.actors.mailroom import skip_reason

OWN = "clara@test.local"
PERSON = "bob@example.com"


def reason(headers: dict[str, str], sender: str = PERSON, reply: str | None = None) -> str | None:
    return skip_reason(headers, sender, PERSON if reply is None else reply, OWN)


def test_a_person_writing_gets_a_reply() -> None:
    assert reason({}) is None
    assert reason({"auto-submitted": "no"}) is None
    assert reason({"precedence": "first-class"}) is None
    assert reason({"content-type": "text/plain; charset=utf-8"}) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"auto-submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"auto-submitted": "Auto-Generated; owner-email=x@y"}, "Auto-Submitted: auto-generated"),
        ({"precedence": "bulk"}, "Precedence: bulk"),
        ({"precedence": "List"}, "Precedence: list"),
        ({"precedence": "junk"}, "Precedence: junk"),
        ({"list-id": "<news.example.com>"}, "mailing list (List-Id)"),
        ({"list-unsubscribe": "<mailto:u@x>"}, "mailing list (List-Unsubscribe)"),
        ({"return-path": "<>"}, "empty Return-Path"),
        ({"x-autoreply": "yes"}, "X-Autoreply"),
        ({"x-autorespond": "on vacation"}, "X-Autorespond"),
        ({"x-auto-response-suppress": "All"}, "X-Auto-Response-Suppress"),
        ({"x-auto-response-suppress": "DR, OOF"}, "X-Auto-Response-Suppress"),
        (
            {"content-type": 'multipart/report; report-type="delivery-status"; boundary=x'},
            "multipart/report",
        ),
    ],
)
def test_automated_mail_is_skipped_with_its_reason(headers: dict[str, str], expected: str) -> None:
    found = reason(headers)
    assert found is not None and expected in found


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@example.com",
        "no-reply@example.com",
        "No_Reply+news@example.com",
        "donotreply@example.com",
        "do-not-reply@example.com",
        "mailer-daemon@example.com",
        "MAILER-DAEMON@example.com",
        "postmaster@example.com",
        "bounces+123@example.com",
    ],
)
def test_no_reply_senders_are_skipped(sender: str) -> None:
    found = reason({}, sender=sender.lower(), reply=sender.lower())
    assert found is not None and "no-reply" in found


def test_a_no_reply_reply_to_is_skipped_too() -> None:
    found = reason({}, reply="noreply@example.com")
    assert found is not None and "reply address" in found


def test_mail_from_clara_herself_or_with_nowhere_to_reply_is_skipped() -> None:
    assert "own address" in (reason({}, sender=OWN, reply=OWN) or "")
    assert "own address" in (reason({}, reply=OWN) or "")
    assert reason({}, reply="") == "no address to reply to"


def test_a_local_part_that_only_contains_the_words_is_a_person() -> None:
    assert reason({}, sender="noreplyhero@example.com", reply="noreplyhero@example.com") is None
    assert reason({}, sender="postmasters-guild@example.com") is None
