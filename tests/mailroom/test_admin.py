"""``/mailroom`` decisions: only operators, where they may decide; rate limited; every attempt
audited (who, which mail, the outcome; never the mail's or the draft's text)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from clara.actors.mailroom import MailroomAdmin
from clara.adapters.chat import Author
from clara.config import DiscordSettings
from clara.store import Database, save_mailroom_summary
from clara.store.models import AuditLogEntry
from tests.mailroom.conftest import CLARA, OPERATOR_CHANNEL, a_draft, row, seed

pytestmark = pytest.mark.trio

ADMIN = Author(id="42", name="Ada", is_admin=True)
MEMBER = Author(id="7", name="Mo")
DM_STRANGER = Author(id="666", name="Eve", is_admin=True)  # alone in a DM: "admin" of it
ROLE_HOLDER = Author(id="8", name="Ro", roles=("999",))


def admin(database: Database, **changes: Any) -> MailroomAdmin:
    values: dict[str, Any] = {
        "database": database,
        "desk": None,
        "operator_channel": OPERATOR_CHANNEL,
        "operators": (),
        "discord": DiscordSettings(admin_role="999"),
        "address": CLARA,
    }
    values.update(changes)
    return MailroomAdmin(**values)


def summarised(database: Database, uid: int = 1, draft: str = "Hi Bob") -> int:
    [message_id] = seed(database, a_draft(uid))
    with database.unit_of_work() as session:
        save_mailroom_summary(session, message_id, "Bob asks.", draft)
    return message_id


def audit(database: Database) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    with database.unit_of_work() as session:
        return [
            (entry.actor, entry.action, entry.target, entry.outcome, dict(entry.details))
            for entry in session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id))
        ]


async def test_a_member_cannot_approve_and_the_attempt_is_audited(database: Database) -> None:
    message_id = summarised(database)
    answer = await admin(database).run(
        "approve", {"id": message_id}, MEMBER, channel_id=OPERATOR_CHANNEL
    )
    assert "Only server administrators or the 999 role" in answer
    assert row(database, message_id).state == "summarised"
    [(who, action, target, outcome, details)] = audit(database)
    assert (who, action, target, outcome) == (
        "discord:7",
        "mailroom.approve",
        f"mailroom:{message_id}",
        "refused",
    )
    assert details["reason"] == "not an operator"


async def test_an_administrator_in_a_dm_or_another_channel_cannot_decide(
    database: Database,
) -> None:
    message_id = summarised(database)
    room = admin(database)
    for author, channel in ((DM_STRANGER, "dm-666"), (ADMIN, "general"), (ADMIN, None)):
        answer = await room.run("approve", {"id": message_id}, author, channel_id=channel)
        assert "in the mailroom's operator channel" in answer
    assert row(database, message_id).state == "summarised"
    assert [entry[3] for entry in audit(database)] == ["refused"] * 3


async def test_administrators_and_the_admin_role_decide_in_the_operator_channel(
    database: Database,
) -> None:
    first, second = summarised(database, 1), summarised(database, 2)
    room = admin(database)
    answer = await room.run("approve", {"id": first}, ADMIN, channel_id=OPERATOR_CHANNEL)
    assert "on its way to bob@example.com" in answer
    answer = await room.run("reject", {"id": f"#{second}"}, ROLE_HOLDER, channel_id="ops")
    assert "gets no reply" in answer
    assert (row(database, first).state, row(database, second).state) == ("approved", "rejected")
    assert row(database, first).decided_by == "discord:42"
    assert [(entry[0], entry[1], entry[3]) for entry in audit(database)] == [
        ("discord:42", "mailroom.approve", "done"),
        ("discord:8", "mailroom.reject", "done"),
    ]


async def test_with_an_operator_list_only_the_people_on_it_decide_wherever_they_are(
    database: Database,
) -> None:
    message_id = summarised(database)
    room = admin(database, operators=("7",))
    refused = await room.run("approve", {"id": message_id}, ADMIN, channel_id=OPERATOR_CHANNEL)
    assert refused == "Only the mailroom's operators can do that."
    answer = await room.run("edit", {"id": message_id, "text": "Dear Bob"}, MEMBER)
    assert "is now yours" in answer
    assert row(database, message_id).draft == "Dear Bob"
    edit = audit(database)[-1]
    assert edit[4]["chars"] == 8 and "Dear Bob" not in str(edit)  # the text is not audited


async def test_each_operator_is_rate_limited(database: Database) -> None:
    room = admin(database, ops_per_minute=2)
    for _ in range(2):
        assert "No mail is waiting" in await room.run("pending", {}, ADMIN, channel_id="ops")
    answer = await room.run("pending", {}, ADMIN, channel_id="ops")
    assert "Too many mailroom commands: 2 a minute" in answer
    assert audit(database)[-1][3:] == ("refused", {"channel": "ops", "reason": "rate"})


async def test_bad_requests_are_answered_clearly(database: Database) -> None:
    room = admin(database)
    no_draft = summarised(database, 1, draft="")
    said = await room.run("approve", {"id": no_draft}, ADMIN, channel_id="ops")
    assert "there is no draft to send" in said
    assert "no /mailroom send" in await room.run("send", {}, ADMIN, channel_id="ops")
    assert "by its number" in await room.run("approve", {"id": "twelve"}, ADMIN, channel_id="ops")
    assert "There is no mail #999" in await room.run(
        "approve", {"id": 999}, ADMIN, channel_id="ops"
    )
    said = await room.run("edit", {"id": no_draft, "text": "x" * 4000}, ADMIN, channel_id="ops")
    assert "at most 3500 characters" in said
    said = await room.run("edit", {"id": no_draft}, ADMIN, channel_id="ops")
    assert "Give the new reply" in said
    [skipped] = seed(database, a_draft(5, skip_reason="bulk mail (Precedence: bulk)"))
    said = await room.run("approve", {"id": skipped}, ADMIN, channel_id="ops")
    assert "skipped as automated mail (bulk mail (Precedence: bulk))" in said


async def test_pending_lists_what_waits_for_a_decision(database: Database) -> None:
    first = summarised(database, 1)
    seed(database, a_draft(2, skip_reason="bulk"))
    said = await admin(database).run("pending", {}, ADMIN, channel_id="ops")
    assert said.splitlines() == [
        "Mail waiting for a decision, or on its way out:",
        f"#{first} [summarised] Bob Example <bob@example.com> — Lunch on Friday?",
    ]
