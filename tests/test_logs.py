"""Secrets never reach the logs, even when logged by accident."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from clara.logs import SecretFilter, configure_logging

CONFIGURED = "my-very-own-secret-value"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_logging("DEBUG", "text", [CONFIGURED, "abc"], stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in before[0]:
        root.addHandler(handler)
    root.setLevel(before[1])


def test_a_configured_secret_is_masked_in_messages_and_arguments(captured: io.StringIO) -> None:
    log = logging.getLogger("clara.test")
    log.info("connecting with %s", CONFIGURED)
    log.warning(f"oops, the key is {CONFIGURED}")
    text = captured.getvalue()
    assert CONFIGURED not in text
    assert text.count("****") == 2


@pytest.mark.parametrize(
    ("leak", "kept"),
    [
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", ""),
        ("sk-or-v1-0123456789abcdef0123456789abcdef", ""),
        ("MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123", ""),
        ("Authorization: Bearer s3cret.token-value_123", "Bearer "),
        ("postgresql://clara:hunter22@db.example/clara", "postgresql://clara:"),
        ("api_key=ABCD1234efgh", "api_key="),
        ('{"password": "letmein!"}', '"password": "'),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", ""),
        ("key 8Xb0w8cOd9H1uRKmzD4gUq3Y2sW5tZ7vN6yA1bC2dE0= loaded", "key "),
    ],
)
def test_token_shaped_strings_are_masked_even_when_not_configured(
    captured: io.StringIO, leak: str, kept: str
) -> None:
    logging.getLogger("clara.test").error("request failed: %s", leak)
    text = captured.getvalue()
    secret_part = leak.replace(kept, "").split("@")[0]
    assert secret_part not in text or not secret_part
    assert "****" in text
    if kept:
        assert kept in text


def test_exceptions_that_carry_a_key_are_masked(captured: io.StringIO) -> None:
    log = logging.getLogger("clara.test")
    try:
        raise RuntimeError(f"401 from provider with key {CONFIGURED} and sk-abcdefgh12345678")
    except RuntimeError:
        log.exception("the provider refused us")
    text = captured.getvalue()
    assert "RuntimeError: 401 from provider with key **** and ****" in text
    assert CONFIGURED not in text and "sk-abcdefgh12345678" not in text
    assert "Traceback" in text


def test_json_format_masks_too() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", [CONFIGURED], stream=stream)
    try:
        logging.getLogger("clara.test").info("token %s", CONFIGURED)
        entry = json.loads(stream.getvalue().splitlines()[-1])
        assert entry["message"] == "token ****"
        assert entry["level"] == "INFO" and entry["logger"] == "clara.test"
    finally:
        logging.getLogger().removeHandler(handler)


def test_short_values_are_not_treated_as_secrets() -> None:
    assert SecretFilter(["abc"]).mask("abcdef") == "abcdef"


def test_ordinary_text_is_left_alone() -> None:
    message = "actor /clara/channels/1234 crashed handling MessageReceived: ValueError: boom"
    assert SecretFilter([CONFIGURED]).mask(message) == message


def test_chatty_libraries_speak_at_warning_unless_debug(captured: io.StringIO) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/v1/chat")
    logging.getLogger("openai._base_client").info("Retrying request in 0.4 seconds")
    logging.getLogger("clara.x").info("ours")
    logging.getLogger("httpx").warning("a warning still shows")
    assert stream.getvalue().count("\n") == 2
    assert "ours" in stream.getvalue() and "a warning still shows" in stream.getvalue()

    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/v1/chat")
    assert "HTTP Request" in stream.getvalue()
