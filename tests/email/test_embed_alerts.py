"""``EmbedAlertSink``: each alert an embed coloured by importance, with sender, subject,
snippet, account and rule; to the account's channel, else a DM to its owner; the owner
pinged only when the account says so; the alert's nonce kept. With a fake transport, and
end to end through the real Discord bridge against ``FakeDiscord``."""

from __future__ import annotations

import datetime as dt

import pytest
import trio

from clara.actors.email.alerts import (
    IMPORTANCE_COLOURS,
    AccountNotice,
    Alert,
    AlertUndeliverable,
    EmbedAlertSink,
    NoticeKind,
)
from clara.adapters.chat import Pings
from clara.testing import FakeTransport
from tests.adapters.test_discord_history import connected

pytestmark = pytest.mark.trio

OWNER = "420000000000000042"


def alert(**changes: object) -> Alert:
    values: dict[str, object] = {
        "alert_id": 1,
        "account_id": 7,
        "address": "ann@x.org",
        "owner_platform_user_id": OWNER,
        "channel_id": "300",
        "uidvalidity": 9,
        "uid": 12,
        "sender": "Bank <bank@y.org>",
        "subject": "Your statement",
        "importance": "normal",
        "rule_name": "financial",
        "received_at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        "snippet": "Dear Ann, your statement is ready.",
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("importance", "colour"),
    [("urgent", 0xED4245), ("high", 0xE67E22), ("normal", 0x3498DB), ("low", 0x95A5A6)],
)
async def test_an_alert_is_an_embed_coloured_by_importance_with_its_fields_and_nonce(
    importance: str, colour: int
) -> None:
    fake = FakeTransport()
    sent = alert(importance=importance)
    posted = await EmbedAlertSink(fake).deliver(sent)
    [embed] = fake.embeds
    assert posted == "embed-1" and IMPORTANCE_COLOURS[importance] == colour
    assert (embed.channel_id, embed.nonce, embed.embed.colour) == ("300", sent.nonce, colour)
    assert "Your statement" in embed.embed.title
    assert embed.embed.description == "Dear Ann, your statement is ready."
    fields = {field.name: field.value for field in embed.embed.fields}
    assert fields == {"From": "Bank <bank@y.org>", "Account": "ann@x.org", "Rule": "financial"}
    assert importance in embed.embed.footer


async def test_a_resent_alert_is_posted_once() -> None:
    fake = FakeTransport()
    sink = EmbedAlertSink(fake)
    await sink.deliver(alert())
    await sink.deliver(alert())  # a crash between posting and marking delivered
    assert len(fake.embeds) == 1


async def test_without_an_alert_channel_the_owner_gets_a_dm() -> None:
    fake = FakeTransport()
    await EmbedAlertSink(fake).deliver(alert(channel_id=None))
    assert fake.dm_channels == {OWNER: f"dm-{OWNER}"}
    assert fake.embeds[0].channel_id == f"dm-{OWNER}"


async def test_with_neither_channel_nor_owner_the_alert_is_undeliverable() -> None:
    with pytest.raises(AlertUndeliverable, match="account 7 has no alert channel"):
        await EmbedAlertSink(FakeTransport()).deliver(
            alert(channel_id=None, owner_platform_user_id="")
        )


async def test_the_owner_is_pinged_only_when_the_account_asks_and_nobody_else_ever() -> None:
    fake = FakeTransport()
    sink = EmbedAlertSink(fake)
    await sink.deliver(alert(uid=1, subject="@everyone look"))
    await sink.deliver(alert(uid=2, ping_owner=True, subject="@everyone look"))
    quiet, loud = fake.embeds
    assert (quiet.content, quiet.pings) == ("", Pings())
    assert (loud.content, loud.pings) == (f"<@{OWNER}>", Pings(users=(OWNER,)))


async def test_long_subjects_senders_and_snippets_are_cut_with_an_ellipsis() -> None:
    fake = FakeTransport()
    await EmbedAlertSink(fake).deliver(
        alert(subject="S" * 1000, sender="s" * 2000, snippet="x" * 2000, rule_name="r" * 2000)
    )
    embed = fake.embeds[0].embed
    assert len(embed.title) == 256 and embed.title.endswith("…")
    assert len(embed.description) == 300 and embed.description.endswith("…")
    assert all(len(f.value) <= 1024 and f.value.endswith("…") for f in embed.fields[::2])
    assert embed.total() <= 6000


async def test_a_notice_is_an_embed_to_the_same_place_and_pings_nobody() -> None:
    fake = FakeTransport()
    notice = AccountNotice(
        account_id=7,
        address="ann@x.org",
        owner_platform_user_id=OWNER,
        channel_id=None,
        kind=NoticeKind.LOGIN_REFUSED,
        detail="AUTHENTICATIONFAILED",
        episode="login:never",
    )
    await EmbedAlertSink(fake).notify(notice)
    [sent] = fake.embeds
    assert (sent.channel_id, sent.nonce, sent.pings) == (f"dm-{OWNER}", notice.nonce, Pings())
    assert "refused the password" in sent.embed.title
    assert "AUTHENTICATIONFAILED" in sent.embed.description


async def test_through_the_real_discord_bridge_a_dm_with_a_ping_and_a_channel_without() -> None:
    async with connected() as c:
        sink = EmbedAlertSink(c.bridge)
        with trio.fail_after(10):
            await sink.deliver(alert(uid=1, channel_id=None, ping_owner=True, importance="urgent"))
            await sink.deliver(alert(uid=2, importance="low"))
            await sink.deliver(alert(uid=2, importance="low"))  # resent: Discord drops it
        dm = c.discord.dm_channels[OWNER]
        first, second = c.discord.posted
        assert [p.nonce for p in c.discord.repeats] == [alert(uid=2).nonce]
        assert (first.channel_id, first.nonce, first.content) == (
            dm,
            alert(uid=1).nonce,
            f"<@{OWNER}>",
        )
        assert first.allowed_mentions == {"parse": [], "users": [int(OWNER)]}
        assert first.embeds[0]["color"] == 0xED4245
        assert (second.channel_id, second.content) == ("300", "")
        assert second.allowed_mentions == {"parse": []}
        assert second.embeds[0]["color"] == 0x95A5A6
        assert {f["name"]: f["value"] for f in second.embeds[0]["fields"]} == {
            "From": "Bank <bank@y.org>",
            "Account": "ann@x.org",
            "Rule": "financial",
        }
