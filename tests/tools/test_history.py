"""The chat-history tools: search and read earlier messages, only where the asker can see.

A real store (SQLite and PostgreSQL): two servers, a few channels, two people's DMs, all
talking about pancakes. ``can_read`` is the platform's answer, given as a set of pairs.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from clara.adapters.chat import MessageReceived
from clara.errors import PlatformError
from clara.store import Database, record_exchange
from clara.testing import incoming
from clara.tools import ChatHistoryTools, ToolRegistry

#: (channel, server, is DM, [(person, text, message id)], Clara's reply, its id)
CONVERSATIONS = [
    ("c1", "g1", False, [("ada", "who makes the best pancakes?", "m11")], "Bob does.", "r11"),
    ("c2", "g1", False, [("bob", "my pancakes recipe: flour, eggs", "m21")], "Yum!", "r21"),
    ("c3", "g1", False, [("cy", "staff only: pancakes budget", "m31")], "Noted.", "r31"),
    ("x1", "g2", False, [("ada", "pancakes on another server", "m41")], "Sure.", "r41"),
    ("dm-ada", None, True, [("ada", "I secretly hate pancakes", "m51")], "Your secret.", "r51"),
    ("dm-bob", None, True, [("bob", "bob's private pancakes", "m61")], "Okay.", "r61"),
]


def store(database: Database) -> None:
    with database.unit_of_work() as session:
        for channel, guild, is_dm, turns, reply, reply_id in CONVERSATIONS:
            record_exchange(
                session,
                platform="discord",
                channel_id=channel,
                guild_id=guild,
                is_dm=is_dm,
                turns=[(person, person.capitalize(), text, mid) for person, text, mid in turns],
                reply=reply,
                reply_message_id=reply_id,
            )


class Platform:
    """``can_read`` from a set of (person, channel) pairs; remembers what it was asked."""

    def __init__(self, readable: Iterable[tuple[str, str]], failing: Iterable[str] = ()) -> None:
        self.readable = set(readable)
        self.failing = set(failing)
        self.asked: list[tuple[str, str]] = []

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        self.asked.append((user_id, channel_id))
        if channel_id in self.failing:
            raise PlatformError("discord", "checking the channel failed (503)")
        return (user_id, channel_id) in self.readable


#: Ada may read c1 and c2 of g1, and x1 of g2 (never asked: another server); not c3.
ADA_READS = {("ada", "c1"), ("ada", "c2"), ("ada", "x1"), ("bob", "c1"), ("bob", "c2")}


def tools(
    database: Database, asker: MessageReceived, platform: Platform | None = None
) -> ChatHistoryTools:
    store(database)
    return ChatHistoryTools(database, asker, (platform or Platform(ADA_READS)).can_read)


def in_server(channel: str = "c1", author: str = "ada") -> MessageReceived:
    return incoming(
        "what did we say about pancakes?", channel_id=channel, guild_id="g1", author=author
    )


def in_dm(author: str = "ada") -> MessageReceived:
    return incoming("pancakes?", channel_id=f"dm-{author}", is_dm=True, author=author)


@pytest.mark.trio
async def test_search_finds_what_was_said_and_replied_in_the_channels_the_asker_can_see(
    database: Database,
) -> None:
    platform = Platform(ADA_READS)
    found = await tools(database, in_server(), platform).call(
        "search_chat_history", {"query": "Pancakes recipe", "limit": 20}
    )
    lines = found.splitlines()[1:]
    # Both words first; then newest first. Not their DM: a server channel's reply is public.
    assert "my pancakes recipe: flour, eggs" in lines[0] and "channel c2" in lines[0]
    assert "(message m21)" in lines[0] and "Bob" in lines[0]
    assert "who makes the best pancakes?" in lines[1] and "this channel" in lines[1]
    assert len(lines) == 2
    assert "secretly" not in found
    assert "UTC" in lines[0]
    # Clara's replies are found too.
    replies = await tools(database, in_server()).call("search_chat_history", {"query": "bob does"})
    assert "you (Clara) (message r11): Bob does." in replies
    # The platform was asked about the server's other channels only.
    assert sorted(platform.asked) == [("ada", "c2"), ("ada", "c3")]


@pytest.mark.trio
async def test_search_never_looks_in_another_servers_channels(database: Database) -> None:
    history = tools(database, in_server())
    found = await history.call("search_chat_history", {"query": "another server"})
    assert found.startswith("No earlier messages match 'another server'")
    with pytest.raises(ValueError, match="you can't see channel x1"):
        await history.call("search_chat_history", {"query": "pancakes", "channel_id": "x1"})
    with pytest.raises(ValueError, match="you can't see channel x1"):
        await history.call("read_chat_history", {"channel_id": "x1"})


@pytest.mark.trio
async def test_another_persons_dm_is_never_searched_nor_read(database: Database) -> None:
    ada = tools(database, in_dm("ada"))
    found = await ada.call("search_chat_history", {"query": "pancakes"})
    assert "I secretly hate pancakes" in found
    # From a DM: that DM only, no server, nobody else's DM.
    assert len(found.splitlines()) == 2
    with pytest.raises(ValueError, match="you can't see channel dm-bob"):
        await ada.call("read_chat_history", {"channel_id": "dm-bob"})
    bob = ChatHistoryTools(database, in_server("c2", "bob"), Platform(ADA_READS).can_read)
    found = await bob.call("search_chat_history", {"query": "secretly hate"})
    assert found.startswith("No earlier messages match")
    with pytest.raises(ValueError, match="you can't see channel dm-ada"):
        await bob.call("search_chat_history", {"query": "pancakes", "channel_id": "dm-ada"})
    # Ada's own DM, asked about in a server channel: private there too.
    with pytest.raises(ValueError, match="you can't see channel dm-ada"):
        await tools(database, in_server()).call("read_chat_history", {"channel_id": "dm-ada"})


@pytest.mark.trio
async def test_a_channel_the_asker_cannot_read_is_a_clear_error(database: Database) -> None:
    history = tools(database, in_server())
    registry = ToolRegistry()
    registry.register(history)
    result = await registry.call("history__read_chat_history", {"channel_id": "<#c3>"}, 5.0)
    assert result.error
    assert result.text == (
        "error: ValueError: you can't see channel c3 (or no conversation there is stored)"
    )
    # The same answer for a channel nothing is known of: it tells nothing of other places.
    with pytest.raises(ValueError, match="you can't see channel c9 "):
        await history.call("read_chat_history", {"channel_id": "c9"})
    found = await history.call("search_chat_history", {"query": "budget"})
    assert found.startswith("No earlier messages match")


@pytest.mark.trio
async def test_a_channel_the_platform_cannot_check_is_left_out_of_a_search_and_said_so(
    database: Database,
) -> None:
    history = tools(database, in_server(), Platform(ADA_READS, failing={"c2"}))
    found = await history.call("search_chat_history", {"query": "recipe"})
    assert found.startswith("No earlier messages match 'recipe'")
    assert "1 channel(s) of this server could not be checked just now" in found
    with pytest.raises(PlatformError, match="503"):
        await history.call("read_chat_history", {"channel_id": "c2"})


@pytest.mark.trio
async def test_reading_a_channel_pages_back_oldest_first(database: Database) -> None:
    store(database)
    with database.unit_of_work() as session:
        for n in range(5):
            record_exchange(
                session,
                platform="discord",
                channel_id="c2",
                guild_id="g1",
                is_dm=False,
                turns=[("bob", "Bob", f"message {n}", f"p{n}")],
                reply=f"answer {n}",
                reply_message_id=f"a{n}",
            )
    history = ChatHistoryTools(database, in_server(), Platform(ADA_READS).can_read)
    page = await history.call("read_chat_history", {"channel_id": "c2", "limit": 3})
    header, *lines = page.splitlines()
    assert header == (
        "3 message(s) of channel c2, oldest first (older ones exist: before_message_id='a3'):"
    )
    assert [line.split(": ", 1)[1] for line in lines] == ["answer 3", "message 4", "answer 4"]
    assert "you (Clara) (message a3)" in lines[0] and "Bob (message p4)" in lines[1]
    older = await history.call(
        "read_chat_history", {"channel_id": "c2", "limit": 40, "before_message_id": "a3"}
    )
    header, *lines = older.splitlines()
    assert header == "9 message(s) of channel c2, oldest first:"
    assert [line.split(": ", 1)[1] for line in lines] == [
        "my pancakes recipe: flour, eggs",
        "Yum!",
        *(text for n in range(3) for text in (f"message {n}", f"answer {n}")),
        "message 3",
    ]
    here = await history.call("read_chat_history", {})
    assert here.startswith("2 message(s) of this channel, oldest first:")
    # Models send empty strings for arguments they mean to leave out.
    assert await history.call("read_chat_history", {"channel_id": "", "limit": None}) == here
    with pytest.raises(ValueError, match="there is no message nope in channel c2"):
        await history.call("read_chat_history", {"channel_id": "c2", "before_message_id": "nope"})


@pytest.mark.trio
async def test_limits_are_checked_and_bound_the_answer(database: Database) -> None:
    history = tools(database, in_server())
    found = await history.call("search_chat_history", {"query": "pancakes", "limit": 1})
    assert len(found.splitlines()) == 2
    assert (await history.call("search_chat_history", {"query": "pancakes", "limit": "2"})).count(
        "\n- "
    ) == 2
    for bad in (0, 21, -1, 2.5, True, "many"):
        with pytest.raises(ValueError, match=r"limit must be a whole number from 1 to 20"):
            await history.call("search_chat_history", {"query": "pancakes", "limit": bad})
    for bad in (0, 41):
        with pytest.raises(ValueError, match=r"limit must be a whole number from 1 to 40"):
            await history.call("read_chat_history", {"limit": bad})
    with pytest.raises(ValueError, match="query must hold at least one word"):
        await history.call("search_chat_history", {"query": " ?! "})


@pytest.mark.trio
async def test_search_is_case_insensitive_and_takes_wildcards_literally(
    database: Database,
) -> None:
    history = tools(database, in_server())
    assert "who makes the best pancakes?" in await history.call(
        "search_chat_history", {"query": "BEST"}
    )
    found = await history.call("search_chat_history", {"query": "p%s"})
    assert found.startswith("No earlier messages match")
    found = await history.call("search_chat_history", {"query": "pan_akes"})
    assert found.startswith("No earlier messages match")
