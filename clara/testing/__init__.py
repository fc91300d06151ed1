"""The public test kit: start one actor alone with fakes, probe what it sends, move a virtual clock.

- ``ActorTestKit``: a supervisor and dead-letter office of the test's own; ``spawn`` an
  actor (a factory, so crashes restart it), ``probe()`` for collaborators.
- ``Probe``: a recording actor with ``expect`` / ``expect_no_message``.
- ``FakeLlmServer``: a scripted model server on loopback (OpenAI and Anthropic protocols,
  embeddings) for the LLM and memory code, which then runs for real against it.

Time: run tests with pytest-trio's ``autojump_clock`` fixture (trio's
``MockClock(autojump_threshold=0)``): sleeps, ask timeouts, backoff and passivation then take
no real time, and ``trio.current_time()`` gives exact virtual times to assert on.

When the code under test waits on real work (a worker thread, a loopback HTTP server), use
``mock_clock`` with ``autojump_threshold = 0.2``: time then jumps only after 0.2 s of real
idleness, so deadlines cannot fire while a thread or a socket is still busy.
"""

from ._fake_chat import FakeTransport, Sent, incoming
from ._fake_discord import BOT_ID, FakeDiscord, Posted
from ._fake_llm import Embed, Fail, FakeLlmServer, Garbage, Hang, Reply
from ._fake_memory import FakeMemory
from ._kit import ActorTestKit
from ._probe import Probe

__all__ = [
    "BOT_ID",
    "ActorTestKit",
    "Embed",
    "Fail",
    "FakeDiscord",
    "FakeLlmServer",
    "FakeMemory",
    "FakeTransport",
    "Garbage",
    "Hang",
    "Posted",
    "Probe",
    "Reply",
    "Sent",
    "incoming",
]
