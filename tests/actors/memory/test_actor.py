"""The memory actor: batched writes, searches with a deadline, mem0 end to end offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from clara.actors.memory import Forget, MemoryActor, Recall, Remember
from clara.adapters.memory import Mem0Memory, mem0_config, memory_user_id
from clara.config import load_settings
from clara.testing import ActorTestKit, FakeLlmServer, FakeMemory, Reply


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    mock_clock.autojump_threshold = 0.2
    return mock_clock


def said(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}, {"role": "assistant", "content": "noted"}]


@pytest.mark.trio
async def test_writes_are_batched_per_user_over_the_window(clock: object) -> None:
    store = FakeMemory()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, batch_seconds=2.0))
        for reply in range(100):  # 100 replies from 10 people, within one window
            await ref.tell(Remember(user_id=f"u{reply % 10}", messages=said(f"fact {reply}")))
        await trio.testing.wait_all_tasks_blocked()
        assert store.add_calls == []  # nothing written on the replies' path
        await trio.sleep(2.5)
        assert len(store.add_calls) == 10  # one write per person, not one per reply
        assert all(count == 20 for _, count in store.add_calls)
        details = ref.statistics().details
        assert (details["writes"], details["messages_written"]) == (10, 200)
        assert details["pending_users"] == 0


@pytest.mark.trio
async def test_a_full_batch_is_written_before_the_window_ends(clock: object) -> None:
    store = FakeMemory()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, batch_seconds=60, max_batch=4))
        for n in range(2):
            await ref.tell(Remember(user_id="ada", messages=said(f"fact {n}")))
        await trio.sleep(1)
        assert store.add_calls == [("ada", 4)]


@pytest.mark.trio
async def test_a_search_past_its_deadline_returns_nothing_and_is_counted(clock: object) -> None:
    store = FakeMemory()
    store.memories["ada"] = ["Ada likes green tea"]
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, search_timeout=1.5))
        assert await ref.ask(Recall(user_id="ada", query="green tea")) == ["Ada likes green tea"]
        store.hold()  # the store stalls
        start = trio.current_time()
        assert await ref.ask(Recall(user_id="ada", query="green tea")) == []
        assert trio.current_time() - start == 1.5
        store.release()
        details = ref.statistics().details
        assert (details["searches"], details["search_timeouts"]) == (2, 1)


@pytest.mark.trio
async def test_forget_drops_pending_writes_too(clock: object) -> None:
    store = FakeMemory()
    store.memories["ada"] = ["old"]
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, batch_seconds=5))
        await ref.tell(Remember(user_id="ada", messages=said("secret")))
        await ref.ask(Forget(user_id="ada"))
        await trio.sleep(10)
        assert store.memories == {} and store.add_calls == []


@pytest.mark.trio
async def test_pending_writes_are_written_when_the_actor_stops(clock: object) -> None:
    store = FakeMemory()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, batch_seconds=60))
        await ref.tell(Remember(user_id="ada", messages=said("keep me")))
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop()
        assert store.add_calls == [("ada", 2)]


def test_one_mapping_from_platform_users_to_memory_ids() -> None:
    assert memory_user_id("discord", 1234) == memory_user_id("discord", "1234") == "discord:1234"


#: What a developer's or operator's shell may hold: each would send people's messages (or
#: mem0's calls) elsewhere than Clara's settings say, or hang an offline test (issue 13, 2).
HOSTILE_ENVIRONMENT = {
    "OPENROUTER_API_KEY": "sk-or-v1-planted-openrouter-key",
    "OPENROUTER_API_BASE": "http://127.0.0.1:9/v1",
    "OPENAI_API_KEY": "sk-planted-openai-key",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "OPENAI_API_BASE": "http://127.0.0.1:9/v1",
    "OPENAI_ORG_ID": "org-planted",
    "ANTHROPIC_API_KEY": "sk-ant-planted",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
}


@pytest.mark.parametrize("environment", [{}, HOSTILE_ENVIRONMENT], ids=["clean", "hostile"])
@pytest.mark.trio
async def test_mem0_end_to_end_offline_against_the_fake_server(
    clock: object, tmp_path: Path, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """mem0 talks only to what Clara's settings name, whatever the environment holds."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # Mem0Memory sets these for the process; the test's end takes them out again.
    monkeypatch.setenv("MEM0_DIR", str(tmp_path / "mem0"))
    monkeypatch.setenv("MEM0_TELEMETRY", "False")
    server = FakeLlmServer(default=Reply('{"memory": []}'))
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        settings = load_settings(
            {
                "CLARA_DATA_DIR": str(tmp_path),
                "CLARA_LOCAL_LLM_URL": f"{url}/v1",
                "CLARA_MEMORY_EMBEDDING_DIMS": "8",
            }
        )
        config = mem0_config(settings)
        assert config["embedder"]["config"]["openai_base_url"] == f"{url}/v1"
        assert config["vector_store"]["config"]["path"] == str(tmp_path.resolve() / "qdrant")
        async with ActorTestKit() as kit:
            ref = await kit.spawn(
                lambda: MemoryActor(
                    lambda: Mem0Memory(config, tmp_path / "mem0"), batch_seconds=1.0
                )
            )
            server.script(Reply('{"memory": [{"text": "Ada drinks green tea every morning"}]}'))
            await ref.tell(Remember(user_id="discord:1", messages=said("I love green tea")))
            # mem0 works in a thread (its first use imports and builds a lot, in real time):
            # wait for the three requests rather than for a virtual time.
            with trio.fail_after(3600):
                while len(server.requests) < 3:
                    await trio.sleep(0.1)
            paths = [(r.path, r.body.get("response_format")) for r in server.requests]
            # add = one embedding, one extraction (JSON mode), one batch embedding
            assert paths == [
                ("/v1/embeddings", None),
                ("/v1/chat/completions", {"type": "json_object"}),
                ("/v1/embeddings", None),
            ]
            found = await ref.ask(Recall(user_id="discord:1", query="green tea morning"))
            assert found == ["Ada drinks green tea every morning"]
            assert await ref.ask(Recall(user_id="discord:2", query="green tea")) == []
            assert len(server.requests) == 5  # each search is one embedding
            assert all("planted" not in str(r.headers) for r in server.requests)
        nursery.cancel_scope.cancel()


def test_mem0_configuration_follows_clara_settings() -> None:
    server = load_settings(
        {
            "CLARA_QDRANT_URL": "http://qdrant.internal:6333",
            "CLARA_QDRANT_API_KEY": "qdrant-key-1234",
            "OPENAI_API_KEY": "sk-openai-12345678",
        }
    )
    config = mem0_config(server)
    assert config["vector_store"]["config"]["url"] == "http://qdrant.internal:6333"
    assert config["vector_store"]["config"]["api_key"] == "qdrant-key-1234"
    assert config["embedder"]["config"]["model"] == "text-embedding-3-small"
    assert config["embedder"]["config"]["embedding_dims"] == 1536
    assert config["llm"]["config"]["model"] == "gpt-4.1-nano"  # openai's low tier
    anthropic_only = mem0_config(
        load_settings({"ANTHROPIC_API_KEY": "sk-ant-12345678", "CLARA_LLM_PROVIDERS": "anthropic"})
    )
    assert anthropic_only["llm"]["provider"] == "anthropic"
    pgvector = mem0_config(
        load_settings(
            {
                "CLARA_MEMORY_VECTOR_STORE": "pgvector",
                "DATABASE_URL": "postgresql://clara:pw@db/clara",
            }
        )
    )
    assert pgvector["vector_store"] == {
        "provider": "pgvector",
        "config": {
            "connection_string": "postgresql://clara:pw@db/clara",
            "collection_name": "clara_memories",
            "embedding_model_dims": 768,
        },
    }


def test_pgvector_needs_a_postgresql_database() -> None:
    from clara.config import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError, match="DATABASE_URL must name a PostgreSQL database"):
        load_settings({"CLARA_MEMORY_VECTOR_STORE": "pgvector"})


class Unreachable(FakeMemory):
    """A store whose embedder cannot be reached: every search raises."""

    def search(self, user_id: str, query: str, limit: int) -> list[str]:
        self.searched = getattr(self, "searched", 0) + 1
        raise ConnectionError("cannot reach 127.0.0.1:11434")


@pytest.mark.trio
async def test_a_failing_search_is_skipped_for_a_while_instead_of_failing_every_reply(
    clock: object,
) -> None:
    store = Unreachable()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, search_cooldown=30.0))
        assert await ref.ask(Recall(user_id="u", query="tea")) == []
        assert store.searched == 1
        start = trio.current_time()
        assert await ref.ask(Recall(user_id="u", query="tea")) == []  # at once, not tried
        assert trio.current_time() == start and store.searched == 1
        await trio.sleep(30)
        assert await ref.ask(Recall(user_id="u", query="tea")) == []
        assert store.searched == 2  # tried again after the cool-down
        details = ref.statistics().details or {}
        assert (details["searches_skipped"], details["errors"]) == (1, 2)
