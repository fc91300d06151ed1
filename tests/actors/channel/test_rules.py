"""A channel's rules alone: for Clara or not, allowed or not, a stop phrase, what a stop ends."""

from __future__ import annotations

from clara.actors.channel.rules import addressed, allowed, is_stop, plan_stop, without_mention
from clara.adapters.chat import Author
from clara.config import load_settings
from clara.store import ChannelConfig, GuildConfig
from clara.testing import incoming

DISCORD = load_settings({}).discord


def test_what_counts_as_addressed_to_clara_follows_the_reply_mode() -> None:
    plain, mention, dm = incoming("hi"), incoming("hi", mention=True), incoming("hi", is_dm=True)
    assert [addressed(m, ChannelConfig()) for m in (plain, mention, dm)] == [False, True, True]
    active = ChannelConfig(reply_mode="active")
    assert addressed(plain, active)
    assert not addressed(dm, ChannelConfig(reply_mode="off"))


def test_allow_lists_of_servers_channels_and_roles() -> None:
    guilds = load_settings({"CLARA_DISCORD_ALLOWED_GUILDS": "5"}).discord
    assert not allowed(incoming("hi", guild_id="6"), guilds, GuildConfig(), ChannelConfig())
    assert allowed(incoming("hi", guild_id="5"), guilds, GuildConfig(), ChannelConfig())
    assert not allowed(
        incoming("hi"), DISCORD, GuildConfig(allowed_channels=["c9"]), ChannelConfig()
    )
    roles = ChannelConfig(allowed_roles=["7"])
    assert not allowed(incoming("hi"), DISCORD, GuildConfig(), roles)
    assert allowed(incoming("hi", roles=("7",)), DISCORD, GuildConfig(), roles)
    assert allowed(incoming("hi", is_dm=True), guilds, GuildConfig(), roles)  # a DM always


def test_stop_phrases_ignore_case_a_final_mark_and_mentions() -> None:
    phrases = DISCORD.stop_phrases
    assert is_stop(without_mention("<@999> Clara STOP!"), phrases)
    assert is_stop("nevermind.", phrases)
    assert not is_stop("clara, stop being so formal", phrases)


def test_a_stop_ends_the_speakers_own_and_an_administrators_ends_all() -> None:
    ada, bob = Author(id="a", name="Ada"), Author(id="b", name="Bob")
    mine, theirs = incoming("x", author="a"), incoming("y", author="b")
    running = [(mine, None)]
    own = plan_stop(ada, False, running, [(theirs, None), (mine, None)])
    assert own.cancel_running and list(own.kept) == [(theirs, None)]
    assert set(own.stopped) == {"a"}
    other = plan_stop(bob, False, running, [(mine, None)])
    assert not other.cancel_running and list(other.kept) == [(mine, None)]
    assert other.stopped == {}
    admin = plan_stop(bob, True, running, [(theirs, None)])
    assert admin.cancel_running and not admin.kept and set(admin.stopped) == {"a", "b"}
    idle = plan_stop(ada, False, None, [])
    assert not idle.cancel_running and idle.stopped == {}
