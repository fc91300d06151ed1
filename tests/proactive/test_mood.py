"""Mood and recurring topics: VADER and YAKE on real sentences, no model, no network."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from clara.proactive.mood import (
    Arc,
    Topic,
    arc,
    describe,
    last_conversation,
    sentiment,
    topics,
)

NOW = datetime(2026, 4, 20, 12, tzinfo=UTC)


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


@pytest.mark.parametrize(
    "text",
    [
        "I love this, it's wonderful!",
        "Thanks so much, that really helped :)",
        "Got the job!!! I'm so happy",
    ],
)
def test_positive_sentences(text: str) -> None:
    assert 0.5 <= sentiment(text) <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "I feel terrible and sad.",
        "This is awful, I hate everything about today.",
        "I'm so lonely and tired of it all",
    ],
)
def test_negative_sentences(text: str) -> None:
    assert -1.0 <= sentiment(text) <= -0.5


@pytest.mark.parametrize(
    "text", ["The meeting is at 3pm.", "I took the bus to the station.", "", "   "]
)
def test_neutral_sentences(text: str) -> None:
    assert abs(sentiment(text)) < 0.1


def test_negation_and_very_long_text() -> None:
    assert sentiment("not bad at all") > 0
    assert -1.0 <= sentiment("awful " * 100_000) <= 1.0


def test_vader_and_yake_need_no_network() -> None:
    # A fresh interpreter with no network namespace access at all would be the strict
    # proof; short of that, sockets are made to fail and both libraries must still work.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from clara.proactive.mood import sentiment, topics\n"
        "from datetime import datetime, UTC\n"
        "now = datetime.now(UTC)\n"
        "assert sentiment('I love it') > 0.5\n"
        "found = topics([(now, 'my thesis defense'), (now, 'the thesis again')], now)\n"
        "assert [t.text for t in found] == ['thesis'], found\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_an_arc_from_low_to_high() -> None:
    texts = [
        "I had an awful day, I feel miserable.",
        "Everything went wrong at work and I'm exhausted.",
        "Thanks for listening, that helps a bit.",
        "Okay, I feel a little better now.",
        "You're right, tomorrow is a new chance. I'm actually excited!",
        "Thank you so much, I love talking to you :)",
    ]
    scores = [(ago(days=3, minutes=60 - 10 * i), sentiment(t)) for i, t in enumerate(texts)]
    result = arc(list(reversed(scores)))  # any order
    assert result.trend == "rising"
    assert result.start < -0.3 < 0.5 < result.end
    assert result.lowest == min(score for _, score in scores)
    assert result.messages == 6
    assert result.started_at == scores[0][0] and result.ended_at == scores[-1][0]
    line = describe(result, now=NOW)
    assert line.startswith("the last conversation, 3 days ago, started ")
    assert "low and ended better" in line
    assert describe(result).startswith("the last conversation started ")


@pytest.mark.parametrize(
    ("values", "trend"),
    [
        ([0.6, 0.7, 0.5, -0.6, -0.7, -0.5], "falling"),
        ([0.0, 0.05, -0.05, 0.1, 0.0, 0.0], "steady"),
        ([0.0, 0.1, -0.7, 0.8, 0.1, 0.0], "mixed"),
        ([-0.8], "steady"),
    ],
)
def test_trends(values: list[float], trend: str) -> None:
    result = arc([(ago(minutes=len(values) - i), v) for i, v in enumerate(values)])
    assert result.trend == trend
    assert describe(result, now=NOW)


def test_describe_words_and_durations() -> None:
    steady = Arc(ago(hours=5, minutes=30), ago(hours=5), 4, -0.6, -0.6, -0.7, -0.5, "steady")
    assert (
        describe(steady, now=NOW)
        == "the last conversation, 5 hours ago, stayed very low throughout"
    )
    falling = Arc(ago(days=20), ago(days=20), 3, 0.6, 0.2, 0.1, 0.7, "falling")
    assert describe(falling, now=NOW) == (
        "the last conversation, 2 weeks ago, started very positive and ended worse (positive)"
    )
    mixed = Arc(ago(days=1), ago(minutes=1), 3, 0.0, 0.0, -0.7, 0.8, "mixed")
    assert describe(mixed, now=NOW) == (
        "the last conversation, 1 minute ago, went up and down "
        "(from very low to very positive) and ended neutral"
    )
    with pytest.raises(ValueError, match="at least one"):
        arc([])


def test_last_conversation_starts_after_the_last_long_gap() -> None:
    earlier = [(ago(days=3, minutes=m), 0.1) for m in (30, 20, 10)]
    latest = [(ago(minutes=m), 0.2) for m in (50, 40, 5)]
    assert last_conversation(latest + earlier) == latest
    assert last_conversation([]) == []
    assert len(last_conversation(latest, gap=timedelta(minutes=20))) == 1


def test_topics_mentioned_twice_in_fourteen_days_count() -> None:
    messages = [
        (ago(days=13), "My thesis defense is scheduled and I'm nervous about it."),
        (ago(days=9), "Went running with my dog in the park."),
        (ago(days=6), "Still working on the thesis, my advisor wants more experiments."),
        (ago(days=4), "The dogs were so happy at the beach!"),
        (ago(days=2), "Mentioned the thesis to my mom, and the experiments again."),
        (ago(days=1), "Ugh, the dentist appointment is tomorrow."),
        (ago(days=20), "The dentist called about my appointment."),  # too old
        (ago(days=30), "My dentist is nice."),  # too old
        (NOW + timedelta(days=1), "The dentist again."),  # after now: not yet
    ]
    found = topics(messages, NOW)
    assert found == [
        Topic("thesis", 3, ago(days=2)),
        Topic("experiment", 2, ago(days=2)),
        Topic("dog", 2, ago(days=4)),
    ]
    texts = {topic.text for topic in found}
    assert "dentist" not in texts  # once in the window, twice before it
    assert "happy" not in texts and "day" not in texts
    # A longer look-back sees the dentist twice; at_least=3 keeps only the thesis.
    assert "dentist" in {t.text for t in topics(messages, NOW, days=30)}
    assert [t.text for t in topics(messages, NOW, at_least=3)] == ["thesis"]


def test_a_phrase_found_in_the_same_messages_replaces_its_words() -> None:
    messages = [
        (ago(days=3), "Our book club meets on Thursday."),
        (ago(days=1), "I haven't finished the novel for book club yet."),
    ]
    assert [t.text for t in topics(messages, NOW)] == ["book club"]


def test_a_topic_repeated_in_one_message_counts_once() -> None:
    messages = [(ago(days=1), "Guitar practice, guitar strings, guitar guitar guitar.")]
    assert topics(messages, NOW) == []
    assert topics([], NOW) == []
