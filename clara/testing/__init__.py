"""The public test kit: start one actor alone with fakes, probe what it sends, move a virtual clock.

- ``ActorTestKit``: a supervisor and dead-letter office of the test's own; ``spawn`` an
  actor (a factory, so crashes restart it), ``probe()`` for collaborators.
- ``Probe``: a recording actor with ``expect`` / ``expect_no_message``.
- ``FakeLlmServer``: a scripted model server on loopback (OpenAI and Anthropic protocols,
  embeddings) for the LLM and memory code, which then runs for real against it.
- ``FakeDiscord``: Discord's gateway and REST API on loopback, for discord.py itself:
  servers with roles and ``PermissionOverwrite``-s, channel histories, members.

In-memory fakes of every seam (no socket; each records what it got):

- ``FakeProvider``: the LLM ``Provider`` protocol, scripted with the same steps as
  ``FakeLlmServer`` (``Reply``, ``Fail``, ``Hang``, ``Garbage``, ``Echo``); ``Gateway([provider])``.
- ``FakeTransport``: the ``ChatTransport`` a channel actor answers through.
- ``FakeBridge``: the Discord connection the ``DiscordGateway`` actor runs; ``deliver``
  plays a message in, ``remember`` puts one in a channel's history without delivering it,
  ``disconnect`` drops the connection.
- ``FakeMcpConnection``: an MCP server's connection (``McpServerActor(...,
  connection_factory=fake)``): tools in Python, ``set_tools``, ``die``, ``hang``.
- ``FakeMemory``: the memory store.
- ``FakeSandboxBackend``: the sandbox ``SandboxBackend`` in memory: ``die``, ``hang_next_run``,
  ``time_out_next_run``, ``fail_next_run``; records every call.
- ``throwaway_database``: a migrated SQLite store in a temporary folder (the tests'
  ``database`` fixture); ``channel_dependencies`` fills in a channel actor's settings.
- ``throwaway_postgresql``: a database of its own on a PostgreSQL server, dropped afterwards.

Time: run tests with pytest-trio's ``autojump_clock`` fixture (trio's
``MockClock(autojump_threshold=0)``): sleeps, ask timeouts, backoff and passivation then take
no real time, and ``trio.current_time()`` gives exact virtual times to assert on.

When the code under test waits on real work (a worker thread, a loopback HTTP server), use
``mock_clock`` with ``autojump_threshold = 0.2``: time then jumps only after 0.2 s of real
idleness, so deadlines cannot fire while a thread or a socket is still busy.
"""

from ._channel import channel_dependencies
from ._events import EventLog
from ._fake_bridge import FakeBridge
from ._fake_chat import FakeTransport, Sent, SentEmbed, incoming
from ._fake_discord import BOT_ID, MEMBER_PERMISSIONS, FakeDiscord, PermissionOverwrite, Posted
from ._fake_llm import Echo, Embed, Fail, FakeLlmServer, Garbage, Hang, Reply, Step
from ._fake_mcp import FakeMcpConnection, FakeTool, McpToolCall
from ._fake_memory import FakeMemory
from ._fake_provider import FakeProvider, ProviderRequest
from ._fake_sandbox import FakeSandbox, FakeSandboxBackend
from ._kit import ActorTestKit
from ._probe import Probe
from ._store import throwaway_database, throwaway_postgresql

__all__ = [
    "BOT_ID",
    "MEMBER_PERMISSIONS",
    "ActorTestKit",
    "Echo",
    "Embed",
    "EventLog",
    "Fail",
    "FakeBridge",
    "FakeDiscord",
    "FakeLlmServer",
    "FakeMcpConnection",
    "FakeMemory",
    "FakeProvider",
    "FakeSandbox",
    "FakeSandboxBackend",
    "FakeTool",
    "FakeTransport",
    "Garbage",
    "Hang",
    "McpToolCall",
    "PermissionOverwrite",
    "Posted",
    "Probe",
    "ProviderRequest",
    "Reply",
    "Sent",
    "SentEmbed",
    "Step",
    "channel_dependencies",
    "incoming",
    "throwaway_database",
    "throwaway_postgresql",
]
