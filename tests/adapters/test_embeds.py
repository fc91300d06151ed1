"""Embeds, pings and DMs as the chat package defines them: Discord's limits kept with "…",
nobody pinged unless named, and what the console and the fake transport make of them."""

from __future__ import annotations

import io

import pytest

from clara.adapters.chat import (
    EMBED_LIMITS,
    Embed,
    EmbedField,
    EmbedTransport,
    Pings,
    embed_text,
    fit_embed,
)
from clara.adapters.console import ConsoleTransport, PlainTransport
from clara.adapters.discord._bridge import allowed_mentions, discord_embed
from clara.errors import PlatformError
from clara.testing import FakeTransport


def test_an_embed_within_the_limits_is_sent_as_it_is() -> None:
    embed = Embed(
        title="t", description="d", colour=0x3498DB, fields=(EmbedField(name="n", value="v"),)
    )
    assert fit_embed(embed) == embed


def test_each_text_is_cut_to_its_limit_with_an_ellipsis_and_fields_past_25_dropped() -> None:
    embed = Embed(
        title="T" * 300,
        description="D" * 5000,
        fields=tuple(EmbedField(name="N" * 300, value="V" * 2000) for _ in range(30)),
        footer="F" * 3000,
    )
    fitted = fit_embed(embed)
    assert len(fitted.title) == 256 and fitted.title.endswith("T…")
    assert fitted.total() <= EMBED_LIMITS.total
    assert 0 < len(fitted.fields) <= 25
    for field in fitted.fields:
        assert len(field.name) == 256 and field.name.endswith("…")
        assert len(field.value) == 1024 and field.value.endswith("…")


def test_past_6000_characters_the_description_gives_way_before_the_fields() -> None:
    fields = tuple(EmbedField(name=f"f{i}", value="v" * 900) for i in range(5))  # ~4,510
    fitted = fit_embed(Embed(title="subject", description="d" * 4000, fields=fields))
    assert fitted.total() == EMBED_LIMITS.total
    assert fitted.fields == fields  # every field kept whole
    assert fitted.description.endswith("d…")


def test_an_embed_says_what_is_wrong_with_its_colour_url_or_an_empty_field() -> None:
    with pytest.raises(ValueError, match="Embed.colour"):
        Embed(title="t", colour=0x1000000)
    with pytest.raises(ValueError, match="Embed.url"):
        Embed(title="t", url="javascript:alert(1)")
    with pytest.raises(ValueError, match="EmbedField.value"):
        EmbedField(name="From", value=" ")


def test_by_default_nobody_is_pinged_and_otherwise_only_whom_pings_name() -> None:
    assert allowed_mentions(Pings()).to_dict() == {"parse": []}
    only_ada = allowed_mentions(Pings(users=("42",))).to_dict()
    assert only_ada == {"parse": [], "users": [42]}
    assert allowed_mentions(Pings(roles=("7",), everyone=True)).to_dict() == {
        "parse": ["everyone"],
        "roles": [7],
    }
    with pytest.raises(PlatformError, match="user ids are numbers"):
        allowed_mentions(Pings(users=("ada",)))


def test_the_discord_embed_carries_title_colour_fields_footer_and_url() -> None:
    embed = Embed(
        title="Invoice",
        description="Please pay",
        colour=0xED4245,
        fields=(EmbedField(name="From", value="bank@x.org", inline=True),),
        footer="urgent importance",
        url="https://mail.example.org/1",
    )
    data = discord_embed(embed).to_dict()
    assert (data["title"], data["description"], data["color"], data["url"]) == (
        "Invoice", "Please pay", 0xED4245, "https://mail.example.org/1",
    )  # fmt: skip
    assert data["fields"] == [{"name": "From", "value": "bank@x.org", "inline": True}]
    assert data["footer"] == {"text": "urgent importance"}


def test_embed_text_is_one_line_per_part() -> None:
    embed = Embed(title="T", description="D", fields=(EmbedField(name="A", value="b"),), footer="F")
    assert embed_text(embed) == "T\nD\nA: b\n-- F"


@pytest.mark.trio
async def test_the_console_prints_an_embed_as_text_and_every_dm_is_the_console() -> None:
    out = io.StringIO()
    console: EmbedTransport = ConsoleTransport(out)
    channel = await console.dm_channel("you")
    await console.send_embed(channel, Embed(title="T", description="D"), nonce="n", content="hi")
    assert channel == "console"
    assert out.getvalue() == "clara> | hi\nclara> | T\nclara> | D\n"
    plain = io.StringIO()
    await PlainTransport(plain).send_embed("console", Embed(title="T"), nonce="n")
    assert plain.getvalue() == "T\n"


@pytest.mark.trio
async def test_the_fake_transport_records_fitted_embeds_pings_and_dms_and_keeps_nonces() -> None:
    fake = FakeTransport()
    dm = await fake.dm_channel("42")
    assert dm == await fake.dm_channel("42") == "dm-42" and fake.dm_channels == {"42": "dm-42"}
    first = await fake.send_embed(
        dm, Embed(title="x" * 300), nonce="n1", pings=Pings(users=("42",))
    )
    again = await fake.send_embed(dm, Embed(title="retry"), nonce="n1")
    assert first != again and len(fake.embeds) == 1
    sent = fake.embeds[0]
    assert (sent.channel_id, sent.nonce, sent.pings.users) == ("dm-42", "n1", ("42",))
    assert len(sent.embed.title) == 256
