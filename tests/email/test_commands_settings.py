"""``/email status|rules|presets|quiet|channel|disconnect`` on a real store: a person only ever
sees and changes their own accounts, named by address or not at all when they have one;
rules are edited in place and checked by the rule model; quiet hours are read in the
person's own time zone; alerts go to the server channel the command is run in (and the
reply says who can read them) or to DMs; disconnecting asks first, then deletes the account
with its rules and alerts. Every change is audited and restarts the account's actor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from clara.actors.email import EmailAdmin
from clara.store import (
    Database,
    EmailAlertDraft,
    SecretBox,
    connect_email_account,
    ensure_user,
    load_email_account,
    load_email_rules,
    record_email_alerts,
)
from clara.store.models import EmailAccount, EmailAlert, EmailRule, User
from clara.testing import throwaway_database
from tests.email.test_commands import Hooks, audit_rows, make_admin, run

ANN = "ann@example.com"
WORK = "ann@work.example"
BOB = "bob@example.com"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    # Units of work in the trio thread: nothing here waits for a server.
    with throwaway_database(tmp_path) as db:
        yield db


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([Fernet.generate_key().decode()])


def seed(database: Database, box: SecretBox, address: str, user_id: str = "42") -> int:
    """An account saved as ``/email connect`` saves one (without the login test)."""
    with database.unit_of_work() as session:
        saved = connect_email_account(
            session,
            box,
            platform="discord",
            platform_user_id=user_id,
            display_name="someone",
            address=address,
            imap_host="imap.example.com",
            imap_port=993,
            username=address,
            password="pw-" + address,
            use_tls=True,
        )
        return saved.id


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def admin(database: Database, box: SecretBox, hooks: Hooks) -> EmailAdmin:
    return make_admin(database, box, hooks)


def rule_names(database: Database, account_id: int) -> list[tuple[str, bool, str]]:
    with database.unit_of_work() as session:
        return [
            (rule.name, rule.enabled, rule.importance)
            for rule in load_email_rules(session, account_id)
        ]


def account(database: Database, account_id: int) -> Any:
    with database.unit_of_work() as session:
        return load_email_account(session, account_id)


@pytest.mark.trio
async def test_status_shows_each_of_ones_own_accounts_and_never_anyone_elses(
    database: Database, box: SecretBox, admin: EmailAdmin
) -> None:
    assert await run(admin, "status") == (
        "You have no mail accounts connected. Connect one with /email connect."
    )
    ann = seed(database, box, ANN)
    seed(database, box, BOB, user_id="7")
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, ann)
        assert row is not None
        row.status, row.last_error = (
            "error",
            (
                f"{ANN}@imap.example.com:993: the server refused the login (wrong user name or "
                "password): [AUTHENTICATIONFAILED] Authentication failed."
            ),
        )
        row.newest_seen_at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
        row.alert_channel_id, row.ping_owner = "555", True
        row.quiet_start, row.quiet_end = "22:00", "07:30"

    answer = await run(admin, "status")

    assert answer == "\n".join(
        [
            f"{ANN} (imap.example.com:993, TLS)",
            "- state: in error: the server refused the login: the user name or the password is "
            "wrong. (Some providers, such as Gmail and Outlook, take only an app password or an "
            "OAuth sign-in.)",
            "- newest mail seen: <t:1796117400:f>; last alert: never",
            "- alerts: <#555>, ping on",
            "- quiet hours: 22:00-07:30 (UTC)",
            "- rules: none (every new message is alerted)",
        ]
    )
    assert BOB not in answer
    assert "AUTHENTICATIONFAILED" not in answer  # plain words, not the server's
    assert audit_rows(database) == []  # reading is not a change


@pytest.mark.trio
async def test_an_account_is_named_by_address_or_not_at_all_when_one_has_only_one(
    database: Database, box: SecretBox, admin: EmailAdmin
) -> None:
    seed(database, box, ANN)
    assert (await run(admin, "rules")).startswith(f"{ANN} has no rules")
    seed(database, box, WORK)
    seed(database, box, BOB, user_id="7")

    ambiguous = await run(admin, "rules")
    assert ambiguous == f"You have 2 accounts ({ANN}, {WORK}): say which with account:…"
    someone_elses = await run(admin, "disconnect", account=BOB, confirm=True)
    assert someone_elses == f"account: you have no account '{BOB}'; yours: {ANN}, {WORK}"
    assert (await run(admin, "rules", account=WORK.upper())).startswith(f"{WORK} has no rules")
    two = await run(admin, "status")
    assert two.count("- state:") == 2 and BOB not in two
    one = await run(admin, "status", account=WORK)
    assert one.count("- state:") == 1 and one.startswith(WORK)
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(EmailAlert)) == 0
    [refused] = audit_rows(database)
    assert (refused.action, refused.outcome, refused.target) == (
        "email.disconnect",
        "refused",
        BOB,
    )


@pytest.mark.trio
async def test_rules_are_added_listed_moved_switched_and_removed_in_place(
    database: Database, box: SecretBox, admin: EmailAdmin, hooks: Hooks
) -> None:
    ann = seed(database, box, ANN)

    first = await run(
        admin,
        "rules",
        action="add",
        kind="sender_domain",
        value="@Bank.example",
        importance="urgent",
        name="Bank",
    )
    assert first == (
        "Added rule 1 (Bank). From now on only mail a rule matches is alerted (without rules, "
        "every message is)."
    )
    more = await run(
        admin, "rules", action="add", kind="subject_contains", value="statement", name="bank"
    )
    assert more.startswith("Rule 1 (Bank) has one more condition, subject contains 'statement'")
    second = await run(admin, "rules", action="add", kind="has_attachments", value="")
    assert second == "Added rule 2 (has attachments)."
    listed = await run(admin, "rules")
    assert listed.splitlines()[1:] == [
        "1. Bank: urgent, any of: sender's domain is 'bank.example'; subject contains 'statement'",
        "2. has attachments: normal, any of: has attachments",
    ]

    assert await run(admin, "rules", action="move", rule="has attachments", position=1) == (
        "Moved has attachments to 1: it is tried first."
    )
    assert await run(admin, "rules", action="disable", rule="2") == "Rule 2 (Bank) is off."
    assert rule_names(database, ann) == [
        ("has attachments", True, "normal"),
        ("Bank", False, "urgent"),
    ]
    assert await run(admin, "rules", action="remove", rule="1") == (
        "Removed rule 1 (has attachments)."
    )
    last = await run(admin, "rules", action="remove", rule="Bank")
    assert last == "Removed rule 1 (Bank). No rules left: every new message is alerted again."
    assert rule_names(database, ann) == []
    assert hooks.changed == [ann] * 7
    assert [(e.action, e.outcome) for e in audit_rows(database)] == [("email.rules", "done")] * 7


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"action": "add", "kind": "subject_regex", "value": "(unclosed"},
            "subject_regex '(unclosed' does not compile",
        ),
        ({"action": "add", "kind": "from_header", "value": "x"}, "kind: must be one of"),
        ({"action": "add", "kind": "subject_contains", "value": " "}, "value: required"),
        (
            {"action": "add", "kind": "has_attachments", "value": "several"},
            "value: for has_attachments",
        ),
        (
            {"action": "add", "kind": "subject_contains", "value": "x", "importance": "meh"},
            "importance: must be one of urgent, high, normal, low",
        ),
        (
            {"action": "add", "kind": "subject_contains", "value": "x", "match": "most"},
            "match: must be any or all",
        ),
        ({"action": "remove", "rule": "9"}, "rule: there is no rule 9"),
        ({"action": "enable", "rule": "nope"}, "rule: no rule is named 'nope'"),
        ({"action": "move", "rule": "1", "position": 5}, "position: must be between 1 and 1"),
        ({"action": "remove"}, "rule: required"),
        ({"action": "shuffle"}, "action: must be one of list, add, remove, move"),
    ],
)
@pytest.mark.trio
async def test_a_bad_rule_edit_is_refused_by_name_and_changes_nothing(
    database: Database,
    box: SecretBox,
    admin: EmailAdmin,
    hooks: Hooks,
    options: dict[str, Any],
    expected: str,
) -> None:
    ann = seed(database, box, ANN)
    await run(admin, "rules", action="add", kind="subject_contains", value="invoice")
    before = rule_names(database, ann)

    answer = await run(admin, "rules", **options)

    assert answer.startswith(expected) or expected in answer, answer
    assert rule_names(database, ann) == before
    assert hooks.changed == [ann]  # only the first add
    assert audit_rows(database)[-1].outcome == "refused"


@pytest.mark.trio
async def test_presets_are_listed_and_expand_into_ordinary_rules(
    database: Database, box: SecretBox, admin: EmailAdmin
) -> None:
    listed = await run(admin, "presets")  # no account needed to read them
    assert "- job_hunting: rule 'Job hunting', high, any of: subject contains 'interview'" in listed
    assert all(name in listed for name in ("urgent", "security", "financial", "shipping"))

    ann = seed(database, box, ANN)
    applied = await run(admin, "presets", preset="security")
    assert applied.startswith("Added rule 1 (Security, high) from the security preset")
    again = await run(admin, "presets", preset="security")
    assert again.startswith("This account already has a rule named 'Security'")
    unknown = await run(admin, "presets", preset="astrology")
    assert unknown.startswith("preset: must be one of job_hunting, urgent")
    await run(admin, "presets", preset="urgent")
    await run(admin, "rules", action="disable", rule="Security")  # an ordinary, editable rule
    assert rule_names(database, ann) == [("Security", False, "high"), ("Urgent", True, "urgent")]


@pytest.mark.trio
async def test_quiet_hours_are_set_in_the_persons_own_time_zone_and_turned_off(
    database: Database, box: SecretBox, admin: EmailAdmin, hooks: Hooks
) -> None:
    ann = seed(database, box, ANN)
    with database.unit_of_work() as session:
        ensure_user(session, "discord", "42", "Ann").time_zone = "Europe/Paris"

    assert (await run(admin, "quiet")).startswith(f"{ANN} has no quiet hours.")
    answer = await run(admin, "quiet", hours="22:00 - 07:30")
    assert answer == (
        f"Quiet hours of {ANN}: 22:00-07:30 in your time zone (Europe/Paris). Urgent alerts "
        "still come at once; the others wait and arrive together, as one digest, at 07:30."
    )
    stored = account(database, ann)
    assert (stored.quiet_start, stored.quiet_end) == ("22:00", "07:30")
    assert "(Europe/Paris)" in await run(admin, "quiet")

    for bad, expected in [
        ("25:00-07:00", "hours: the start must be a 24-hour time HH:MM"),
        ("22:00", "hours: give a window HH:MM-HH:MM"),
        ("08:00-08:00", "hours: the start and the end are the same"),
    ]:
        assert (await run(admin, "quiet", hours=bad)).startswith(expected)
    assert (account(database, ann).quiet_start, account(database, ann).quiet_end) == (
        "22:00",
        "07:30",
    )

    with database.unit_of_work() as session:
        ensure_user(session, "discord", "42", "Ann").time_zone = "Mars/Olympus_Mons"
    unknown_zone = await run(admin, "quiet", hours="23:00-06:00")
    assert "(UTC, as your time zone 'Mars/Olympus_Mons' is unknown here)" in unknown_zone
    off = await run(admin, "quiet", hours="off")
    assert off == f"{ANN} has no quiet hours now: alerts come at once."
    assert account(database, ann).quiet_start is None
    assert hooks.changed == [ann] * 3
    assert [e.outcome for e in audit_rows(database)] == [
        "done",
        "refused",
        "refused",
        "refused",
        "done",
        "done",
    ]


@pytest.mark.trio
async def test_alerts_go_to_the_server_channel_the_command_is_run_in_or_to_dms(
    database: Database, box: SecretBox, admin: EmailAdmin, hooks: Hooks
) -> None:
    ann = seed(database, box, ANN)
    assert (await run(admin, "channel")).startswith(f"Alerts of {ANN} go to your DMs, ping off.")

    here = await run(admin, "channel", to="here", channel_id="900", guild_id="5")
    assert here == (
        f"Alerts of {ANN} now go to <#900>. Everyone who can read this channel sees each "
        "alert's sender, subject and first lines; /email channel to:dm makes them private again."
    )
    assert account(database, ann).alert_channel_id == "900"
    in_a_dm = await run(admin, "channel", to="here", channel_id="dm-1", guild_id=None)
    assert in_a_dm == "This is a DM: alerts come to your DMs."
    assert account(database, ann).alert_channel_id is None
    await run(admin, "channel", to="here", channel_id="900", guild_id="5")
    assert await run(admin, "channel", to="dm", ping="on") == (
        f"Alerts of {ANN} now come to your DMs. Alerts ping you."
    )
    stored = account(database, ann)
    assert (stored.alert_channel_id, stored.ping_owner) == (None, True)
    assert await run(admin, "channel", ping="off") == "Alerts arrive without a ping."
    assert (await run(admin, "channel", to="#general")).startswith("to: must be here or dm")
    assert hooks.changed == [ann] * 5
    rows = audit_rows(database)
    assert [(e.action, e.outcome, e.details.get("channel")) for e in rows] == [
        ("email.channel", "done", "5:900"),
        ("email.channel", "done", "dm"),
        ("email.channel", "done", "5:900"),
        ("email.channel", "done", "dm"),
        ("email.channel", "done", None),
        ("email.channel", "refused", None),
    ]
    assert rows[0].actor == "discord:42" and rows[0].target == ANN


@pytest.mark.trio
async def test_disconnect_asks_first_then_stops_and_deletes_the_account_with_all_it_had(
    database: Database, box: SecretBox, admin: EmailAdmin, hooks: Hooks
) -> None:
    ann = seed(database, box, ANN)
    bob = seed(database, box, BOB, user_id="7")
    await run(admin, "presets", preset="shipping")
    with database.unit_of_work() as session:
        record_email_alerts(
            session,
            ann,
            1,
            [
                EmailAlertDraft(
                    uid=5,
                    subject="Your parcel",
                    sender="shop@example.com",
                    importance="low",
                    rule_name="Shipping",
                    message_key="<m5@x>",
                    received_at=None,
                )
            ],
            last_uid=5,
        )

    asked = await run(admin, "disconnect")
    assert asked == (
        f"This stops watching {ANN} and deletes it with its rules and alerts, for good. Run "
        "/email disconnect again with confirm:True to go ahead."
    )
    assert account(database, ann) is not None and hooks.disconnected == []

    done = await run(admin, "disconnect", confirm=True)

    assert done == f"Disconnected {ANN}: Clara no longer watches it."
    assert hooks.disconnected == [ann]
    assert account(database, ann) is None
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(EmailRule)) == 0
        assert session.scalar(select(func.count()).select_from(EmailAlert)) == 0
        assert session.scalar(select(func.count()).select_from(User)) == 2  # people stay
    assert account(database, bob) is not None  # someone else's untouched
    assert [(e.action, e.outcome) for e in audit_rows(database)][-2:] == [
        ("email.disconnect", "refused"),
        ("email.disconnect", "done"),
    ]


@pytest.mark.trio
async def test_a_failing_hook_is_told_and_what_was_saved_stays_saved(
    database: Database, box: SecretBox
) -> None:
    async def broken(account_id: int) -> None:
        raise RuntimeError("the supervisor is not running")

    admin = EmailAdmin(database, box, on_changed=broken, on_disconnected=broken)
    ann = seed(database, box, ANN)

    answer = await run(admin, "quiet", hours="21:00-06:00")

    assert answer.endswith(
        "(Clara could not apply the change just now; it will at its next start.)"
    )
    assert account(database, ann).quiet_start == "21:00"
    gone = await run(admin, "disconnect", confirm=True)
    assert gone.startswith(f"Disconnected {ANN}")
    assert account(database, ann) is None


@pytest.mark.trio
async def test_unknown_subcommands_are_named(admin: EmailAdmin) -> None:
    assert await run(admin, "purge") == (
        "There is no /email purge; try one of: connect, status, rules, presets, quiet, "
        "channel, disconnect."
    )


def test_the_admins_limits_are_checked_when_it_is_made(database: Database, box: SecretBox) -> None:
    with pytest.raises(ValueError, match="imap_timeout must be positive; got 0"):
        EmailAdmin(database, box, imap_timeout=0)
    with pytest.raises(ValueError, match="connects_per_hour must be a whole number"):
        EmailAdmin(database, box, connects_per_hour=0)
