"""The channels subsystem's tool policy: which tools one reply gets."""

from __future__ import annotations

from collections.abc import Callable

from clara.actors.channel.subsystem import tools_for
from clara.adapters.chat import MessageReceived
from clara.config import load_settings
from clara.store import Database
from clara.testing import FakeTransport, incoming
from clara.tools import ToolRegistry

HISTORY_TOOLS = {"history__search_chat_history", "history__read_chat_history"}


def names(registry_for: Callable[[MessageReceived], ToolRegistry]) -> set[str]:
    return {spec.name for spec in registry_for(incoming("hi")).specs()}


def test_a_reply_gets_the_history_tools_when_there_is_a_store_and_a_platform_to_ask(
    database: Database,
) -> None:
    settings = load_settings({})
    transport = FakeTransport()
    with_history = tools_for(settings, None, None, database=database, can_read=transport.can_read)
    assert names(with_history) >= HISTORY_TOOLS
    assert not HISTORY_TOOLS & names(tools_for(settings, None, None))
    assert not HISTORY_TOOLS & names(tools_for(settings, None, None, database=database))
