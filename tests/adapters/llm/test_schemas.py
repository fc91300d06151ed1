"""Tool schemas reach each provider in its dialect: no ``$schema`` (or ``$id``, ``$comment``)
anywhere, an object at the top, and for Anthropic no alternatives there (issue 14, item 8)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from clara.adapters.llm import ChatMessage, ChatRequest, StreamDone, ToolSpec
from clara.adapters.llm._schemas import ANTHROPIC, OPENAI, tool_parameters
from clara.testing import Reply
from tests.adapters.llm.harness import anthropic, fake_server, openai

#: What a zod- or pydantic-made MCP server sends: meta keywords at the top and within.
FROM_AN_MCP_SERVER: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://example.test/search.json",
    "$comment": "generated",
    "type": "object",
    "properties": {
        "query": {"type": "string", "$comment": "free text"},
        "filters": {
            "type": "array",
            "items": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"field": {"$ref": "#/$defs/Field"}},
            },
        },
        "when": {"anyOf": [{"type": "string", "$id": "#date"}, {"type": "null"}]},
    },
    "$defs": {"Field": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}},
    "required": ["query"],
    "additionalProperties": False,
}


def keys_anywhere(value: Any) -> Iterator[str]:
    """Every key of every object in a JSON value, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_anywhere(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_anywhere(item)


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_meta_keywords_are_dropped_at_every_depth_and_the_rest_is_kept(dialect: Any) -> None:
    original = copy.deepcopy(FROM_AN_MCP_SERVER)
    cleaned = tool_parameters(FROM_AN_MCP_SERVER, dialect)
    assert not {"$schema", "$id", "$comment"} & set(keys_anywhere(cleaned))
    assert cleaned == {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "filters": {
                "type": "array",
                "items": {"type": "object", "properties": {"field": {"$ref": "#/$defs/Field"}}},
            },
            "when": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "$defs": {"Field": {"type": "string"}},
        "required": ["query"],
        "additionalProperties": False,
    }
    assert original == FROM_AN_MCP_SERVER  # the caller's schema is untouched
    cleaned["properties"]["query"]["type"] = "integer"  # and shares nothing with the result
    assert FROM_AN_MCP_SERVER["properties"]["query"]["type"] == "string"


def test_a_parameter_named_like_a_keyword_and_data_that_holds_one_are_kept() -> None:
    schema = {
        "type": "object",
        "properties": {"$schema": {"type": "string", "default": "draft-07"}},
        "default": {"$schema": "kept: this is a value, not a keyword"},
    }
    assert tool_parameters(schema, OPENAI) == schema


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, {"type": "object", "properties": {}}),
        ({}, {"type": "object", "properties": {}}),
        (
            {"properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"a": {"type": "string"}}},
        ),
        ({"type": ["object", "null"]}, {"type": "object", "properties": {}}),
        (
            {"type": "string", "description": "a city"},
            {"type": "object", "properties": {}, "description": "a city"},
        ),
        ({"type": "array", "items": {"type": "string"}}, {"type": "object", "properties": {}}),
        ({"type": "object", "properties": None}, {"type": "object", "properties": {}}),
    ],
    ids=["none", "empty", "no-type", "nullable", "string", "array", "null-properties"],
)
def test_the_top_level_is_always_an_object_schema(
    dialect: Any, schema: Any, expected: dict[str, Any]
) -> None:
    assert tool_parameters(schema, dialect) == expected


ALTERNATIVES = {
    "type": "object",
    "properties": {"verbose": {"type": "boolean"}},
    "oneOf": [
        {
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
        {
            "properties": {"lat": {"type": "number"}, "days": {"type": "integer"}},
            "required": ["lat", "days"],
        },
    ],
    "allOf": [{"properties": {"units": {"type": "string"}}, "required": ["units"]}],
}


def test_anthropic_gets_the_top_level_alternatives_folded_into_one_object() -> None:
    folded = tool_parameters(ALTERNATIVES, ANTHROPIC)
    assert folded == {
        "type": "object",
        "properties": {
            "verbose": {"type": "boolean"},
            "units": {"type": "string"},
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "lat": {"type": "number"},
        },
        # allOf: all its parts are given; oneOf: only what every alternative requires.
        "required": ["units", "days"],
    }
    # OpenAI takes alternatives beside an object top level (outside strict mode): kept.
    assert tool_parameters(ALTERNATIVES, OPENAI) == ALTERNATIVES


TOOL = ToolSpec(name="search", description="Search", parameters=FROM_AN_MCP_SERVER)


def chat() -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="find it")], tools=[TOOL])


@pytest.mark.parametrize("make", [openai, anthropic], ids=["openai", "anthropic"])
@pytest.mark.trio
async def test_what_reaches_each_provider_has_no_schema_keyword_anywhere(make: Any) -> None:
    """Over loopback, as both ``complete`` and ``stream`` send it."""
    async with fake_server() as (server, url):
        provider = make(url)
        server.script(Reply("found"), Reply("found"))
        await provider.complete(chat(), timeout=5)
        async for event in provider.stream(chat(), timeout=5):
            assert isinstance(event, StreamDone) or event.text
        assert len(server.requests) == 2
        for sent in server.requests:
            [tool] = sent.body["tools"]
            schema = tool["function"]["parameters"] if "function" in tool else tool["input_schema"]
            assert schema["type"] == "object"
            assert schema["properties"]["query"] == {"type": "string"}
            assert not {"$schema", "$id", "$comment"} & set(keys_anywhere(sent.body))
        assert "$schema" in TOOL.parameters  # the tool's own spec is left as it was
        await provider.aclose()
