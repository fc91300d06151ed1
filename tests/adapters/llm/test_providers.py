"""Both provider protocols against a real HTTP server on loopback speaking them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from clara.adapters.llm import (
    ChatMessage,
    ChatRequest,
    ImagePart,
    StreamDone,
    TextDelta,
    TextPart,
    Tier,
    ToolCall,
    ToolSpec,
)
from clara.errors import (
    MalformedResponse,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from clara.testing import Echo, Fail, Garbage, Hang, Reply
from tests.adapters.llm.harness import anthropic, fake_server, openai

WEATHER = ToolSpec(
    name="weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


def request(**kwargs: Any) -> ChatRequest:
    return ChatRequest(
        messages=[
            ChatMessage(role="system", content="You are Clara."),
            ChatMessage(role="user", content="Hello?"),
        ],
        **kwargs,
    )


@pytest.mark.parametrize("make", [openai, anthropic], ids=["openai", "anthropic"])
@pytest.mark.trio
async def test_a_plain_reply(make: Any) -> None:
    async with fake_server() as (server, url):
        provider = make(url)
        server.script(Reply("Hi there, Ada."))
        completion = await provider.complete(request(tier=Tier.HIGH), timeout=5)
        assert completion.text == "Hi there, Ada."
        assert completion.tool_calls == []
        assert completion.model == "big"
        assert completion.provider == provider.name
        assert completion.usage.output_tokens > 0
        await provider.aclose()


@pytest.mark.trio
async def test_openai_wire_format_carries_tools_images_and_the_key() -> None:
    async with fake_server() as (server, url):
        provider = openai(url)
        server.script(Reply("", tool_calls=(("weather", {"city": "Lyon"}),)))
        completion = await provider.complete(
            ChatRequest(
                messages=[
                    ChatMessage(
                        role="user",
                        content=[
                            TextPart("what is this?"),
                            ImagePart(media_type="image/png", data="aGVsbG8="),
                        ],
                    ),
                    ChatMessage(
                        role="assistant",
                        tool_calls=[ToolCall(id="c0", name="weather", arguments={"city": "Oslo"})],
                    ),
                    ChatMessage(role="tool", tool_call_id="c0", content="rain"),
                ],
                tools=[WEATHER],
                tier=Tier.LOW,
            ),
            timeout=5,
        )
        assert completion.tool_calls == [
            ToolCall(id="call_1", name="weather", arguments={"city": "Lyon"})
        ]
        assert completion.finish_reason == "tool_calls"
        [sent] = server.requests
        assert sent.headers["authorization"] == "Bearer sk-test-key-123"
        body = sent.body
        assert body["model"] == "small"
        assert body["tools"][0]["function"]["name"] == "weather"
        user, assistant, tool = body["messages"]
        assert user["content"][1] == {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,aGVsbG8="},
        }
        assert assistant["tool_calls"][0]["function"] == {
            "name": "weather",
            "arguments": '{"city":"Oslo"}',
        }
        assert tool == {"role": "tool", "tool_call_id": "c0", "content": "rain"}
        await provider.aclose()


@pytest.mark.trio
async def test_anthropic_wire_format_folds_system_and_tool_results() -> None:
    async with fake_server() as (server, url):
        provider = anthropic(url)
        server.script(Reply("Lyon is sunny.", tool_calls=(("weather", {"city": "Lyon"}),)))
        completion = await provider.complete(
            ChatRequest(
                messages=[
                    ChatMessage(role="system", content="You are Clara."),
                    ChatMessage(role="user", content="weather?"),
                    ChatMessage(
                        role="assistant",
                        tool_calls=[ToolCall(id="t0", name="weather", arguments={"city": "Oslo"})],
                    ),
                    ChatMessage(role="tool", tool_call_id="t0", content="rain"),
                ],
                tools=[WEATHER],
            ),
            timeout=5,
        )
        assert completion.text == "Lyon is sunny."
        assert completion.tool_calls[0].arguments == {"city": "Lyon"}
        [sent] = server.requests
        assert sent.headers["x-api-key"] == "sk-ant-test-key"
        assert sent.headers["anthropic-version"] == "2023-06-01"
        body = sent.body
        assert body["system"] == "You are Clara."
        assert body["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}
        assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
        assert body["messages"][2]["content"] == [
            {"type": "tool_result", "tool_use_id": "t0", "content": "rain"}
        ]
        await provider.aclose()


@pytest.mark.parametrize("make", [openai, anthropic], ids=["openai", "anthropic"])
@pytest.mark.trio
async def test_streaming_yields_text_as_it_comes_and_the_tool_calls_at_the_end(
    make: Any,
) -> None:
    async with fake_server() as (server, url):
        provider = make(url)
        server.script(Reply("one two three", tool_calls=(("weather", {"city": "Nice"}),)))
        deltas: list[str] = []
        done = None
        async for event in provider.stream(request(tools=[WEATHER]), timeout=5):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            else:
                assert isinstance(event, StreamDone)
                done = event.completion
        assert deltas == ["one ", "two ", "three"]
        assert done is not None
        assert done.text == "one two three"
        assert [(c.name, c.arguments) for c in done.tool_calls] == [("weather", {"city": "Nice"})]
        assert server.requests[0].body["stream"] is True
        await provider.aclose()


@pytest.mark.parametrize("make", [openai, anthropic], ids=["openai", "anthropic"])
@pytest.mark.parametrize(
    ("step", "error", "text"),
    [
        (Fail(429, retry_after=7), ProviderRateLimited, "rate limited (429)"),
        (Fail(503), ProviderUnavailable, "server error 503"),
        (Fail(401, message="invalid api key"), ProviderRejected, "invalid api key"),
        (Garbage(), MalformedResponse, "not JSON"),
        (Garbage('{"unexpected": true}'), MalformedResponse, "the answer lacks"),
    ],
)
@pytest.mark.trio
async def test_failures_map_to_clara_errors(make: Any, step: Any, error: type, text: str) -> None:
    async with fake_server() as (server, url):
        provider = make(url)
        server.script(step)
        with pytest.raises(error, match=re.escape(text)) as caught:
            await provider.complete(request(), timeout=5)
        assert caught.value.provider == provider.name
        if isinstance(caught.value, ProviderRateLimited):
            assert caught.value.retry_after == 7
        assert "sk-" not in str(caught.value)
        await provider.aclose()


@pytest.mark.trio
async def test_a_hang_is_a_timeout_and_a_dead_server_is_unavailable() -> None:
    async with fake_server() as (server, url):
        provider = openai(url)
        server.script(Hang(seconds=30))
        with pytest.raises(ProviderTimeout, match="within 0.2s"):
            await provider.complete(request(), timeout=0.2)
        await provider.aclose()
    dead = openai("http://127.0.0.1:9")
    with pytest.raises(ProviderUnavailable, match="cannot reach 127.0.0.1:9: ConnectError"):
        await dead.complete(request(), timeout=5)
    await dead.aclose()


def test_retry_after_accepts_seconds_and_dates() -> None:
    from clara.adapters.llm._http import retry_after_seconds  # noqa: PLC0415

    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


@pytest.mark.trio
async def test_anthropic_sends_images_as_base64_blocks() -> None:
    async with fake_server() as (server, url):
        provider = anthropic(url)
        await provider.complete(
            ChatRequest(
                messages=[
                    ChatMessage(
                        role="user",
                        content=[
                            TextPart("what is this?"),
                            ImagePart(media_type="image/jpeg", data="/9j/4AAQ"),
                        ],
                    )
                ]
            ),
            timeout=5,
        )
        [turn] = server.requests[0].body["messages"]
        assert turn["content"] == [
            {"type": "text", "text": "what is this?"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
            },
        ]
        await provider.aclose()


@pytest.mark.trio
async def test_openrouter_sends_its_attribution_header() -> None:
    from clara.adapters.llm import build_providers  # noqa: PLC0415
    from clara.config import load_settings  # noqa: PLC0415

    settings = load_settings({"OPENROUTER_API_KEY": "sk-or-12345678"})
    [openrouter, local] = build_providers(settings.llm)
    assert (openrouter.name, local.name) == ("openrouter", "local")
    assert openrouter._headers["X-Title"] == "Clara"  # type: ignore[attr-defined]
    assert openrouter._url == "https://openrouter.ai/api/v1/chat/completions"  # type: ignore[attr-defined]
    assert openrouter.model_for(Tier.HIGH) == "anthropic/claude-sonnet-4.5"
    for provider in (openrouter, local):
        await provider.aclose()


SECRET_TEXT = "my bank pin is 4921 and my sister's name is Ottoline"


def private_request() -> ChatRequest:
    return ChatRequest(
        messages=[
            ChatMessage(role="system", content="You are Clara."),
            ChatMessage(role="user", content=SECRET_TEXT),
        ]
    )


@pytest.mark.parametrize("make", [openai, anthropic], ids=["openai", "anthropic"])
@pytest.mark.parametrize("as_json", [True, False], ids=["json-error", "text-page"])
@pytest.mark.parametrize("status", [400, 429, 502])
@pytest.mark.trio
async def test_an_error_that_echoes_the_request_shows_neither_the_key_nor_the_text(
    make: Any, as_json: bool, status: int
) -> None:
    """Issue 13, item 1: a provider (or a proxy) that repeats the request in its error puts
    the API key and what people said into the error's reason, which ends up in the
    breaker's last error, /status and /readyz. The reason withholds the echo."""
    async with fake_server() as (server, url):
        provider = make(url)
        server.script(Echo(status=status, as_json=as_json))
        with pytest.raises((ProviderRejected, ProviderRateLimited, ProviderUnavailable)) as caught:
            await provider.complete(private_request(), timeout=5)
        reason = str(caught.value)
        key = (
            server.requests[0].headers.get("authorization")
            or server.requests[0].headers["x-api-key"]
        )
        assert key.removeprefix("Bearer ") not in reason
        for piece in ("4921", "Ottoline", "sk-"):
            assert piece not in reason
        assert str(status) in reason
        if as_json:
            assert "repeated the request; withheld" in reason
        else:
            assert "bytes of text/plain, not shown" in reason
        await provider.aclose()


@pytest.mark.parametrize(
    ("message", "shown", "hidden"),
    [
        (
            "Incorrect API key provided: sk-live-abcdefghijklmnop",
            "Incorrect API key provided",
            "abcdefgh",
        ),
        ("model 'gpt-9' does not exist", "model 'gpt-9' does not exist", None),
        ("token=supersecretvalue123 rejected", "rejected", "supersecretvalue123"),
        ("x" * 5000, "x" * 150, "x" * 300),
        ("line one\nline two\r\nline three", "line one line two line three", "\n"),
    ],
)
@pytest.mark.trio
async def test_a_providers_own_error_message_is_shown_masked_short_and_on_one_line(
    message: str, shown: str, hidden: str | None
) -> None:
    async with fake_server() as (server, url):
        provider = openai(url)
        server.script(Fail(400, message=message))
        with pytest.raises(ProviderRejected) as caught:
            await provider.complete(request(), timeout=5)
        reason = str(caught.value)
        assert shown in reason
        if hidden is not None:
            assert hidden not in reason
        assert len(reason) < 300
        await provider.aclose()


@pytest.mark.trio
async def test_a_body_that_is_not_json_is_described_not_shown() -> None:
    async with fake_server() as (server, url):
        provider = openai(url)
        server.script(Garbage(f"<html>{SECRET_TEXT}</html>"))
        with pytest.raises(
            MalformedResponse, match=r"not JSON \(\d+ bytes of application/json, not shown\)"
        ) as caught:
            await provider.complete(private_request(), timeout=5)
        assert "Ottoline" not in str(caught.value)
        await provider.aclose()
