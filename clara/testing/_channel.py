"""Channel actor dependencies for tests: the shared settings filled in, fakes plugged in."""

from __future__ import annotations

from typing import Any

from ..actors import ActorRef
from ..actors.channel import ChannelDependencies
from ..adapters.chat import ChatTransport
from ..config import DiscordSettings, LlmSettings

__all__ = ["channel_dependencies"]


def channel_dependencies(
    transport: ChatTransport,
    llm: ActorRef,
    *,
    discord: DiscordSettings | None = None,
    llm_settings: LlmSettings | None = None,
    **fields: Any,
) -> ChannelDependencies:
    """``ChannelDependencies`` with default settings, for a ``ChannelActor`` under test.

    Args:
        transport: where replies go (a ``FakeTransport``, a ``FakeBridge``).
        llm: the ``LlmGatewayActor`` (over a ``Gateway([FakeProvider(...)])``).
        discord: default ``DiscordSettings()`` (mention mode, 10 messages a minute each).
        llm_settings: default: a deployment whose one provider is named ``fake`` (so "no
            model answered" reads as it does for a configured provider).
        **fields: any other field of ``ChannelDependencies`` (``database``, ``tools_for``,
            ``http``, ``reply_timeout``...).

    Raises:
        TypeError: a field ``ChannelDependencies`` does not have.
    """
    return ChannelDependencies(
        transport=transport,
        llm=llm,
        discord=discord if discord is not None else DiscordSettings(),
        llm_settings=llm_settings if llm_settings is not None else LlmSettings(providers=("fake",)),
        **fields,
    )
