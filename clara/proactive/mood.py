"""Emotional continuity and recurring topics, from a person's own messages.

Pure functions, no model download, no network:

- ``sentiment``: one message's mood, VADER's compound score in [-1, 1] (``vaderSentiment``
  ships its lexicon in its wheel);
- ``last_conversation``, ``arc`` and ``describe``: how the last conversation went, as one
  short line for a prompt ("the last conversation, 3 days ago, started low and ended better");
- ``topics``: what the person brought up in at least two messages of the last 14 days, with
  YAKE keyword extraction (``yake``, statistical, English stop words shipped in its wheel).

Everything here is CPU-bound but small (VADER: well under a millisecond per message; YAKE:
0.5 to 3 ms per message where this was measured). ``topics`` over hundreds of messages
belongs in a worker thread (``trio.to_thread.run_sync``). Nothing here logs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Final, Literal

import msgspec
import yake
from vaderSentiment.vaderSentiment import (
    SentimentIntensityAnalyzer,
)

__all__ = [
    "Arc",
    "Topic",
    "Trend",
    "arc",
    "describe",
    "last_conversation",
    "mood_word",
    "sentiment",
    "topics",
]

SENTIMENT_TEXT_LIMIT: Final = 5000
"""Characters of a message ``sentiment`` reads (the rest is ignored), bounding its cost."""

TREND_DELTA: Final = 0.25
"""``arc``: rising when the end mood is at least this much above the start mood, falling when
at least this much below."""

MIXED_LOW: Final = -0.3
MIXED_HIGH: Final = 0.3
"""``arc``: neither rising nor falling, but with a message at or below ``MIXED_LOW`` and one
at or above ``MIXED_HIGH``: mixed. Otherwise steady."""

EDGE_MESSAGES: Final = 3
"""``arc``: the start (end) mood is the mean of the first (last) ``min(3, max(1, n // 3))``
scores of ``n``: one message alone does not make the start or the end."""

TOPIC_TEXT_LIMIT: Final = 1000
"""Characters of a message ``topics`` reads."""

TOPIC_MESSAGES_LIMIT: Final = 1000
"""Most messages ``topics`` reads: the most recent ones of the window."""

KEYWORDS_PER_MESSAGE: Final = 8
"""Keywords YAKE gives per message (single words and two-word phrases)."""

FEELING_VALENCE: Final = 1.5
"""A single word whose VADER valence is at least this strong (``happy`` 2.7, ``sad`` -2.1,
``good`` 1.9) is a feeling, not a topic: ``topics`` leaves it out."""

_CHATTER_WORDS = """
    yeah yes yep nope okay ok lol haha hahaha hmm hey hi hello thanks thank please sorry
    today tomorrow yesterday tonight morning afternoon evening night week weekend day days
    time times thing things stuff lot bit way really actually just maybe pretty kinda gonna
    wanna gotta think thought know knew feel felt want wanted need needed get got going
    make made said say says tell told see saw look looks let lets clara
"""
CHATTER: Final = frozenset(_CHATTER_WORDS.split())
"""Words that are never a topic on their own (fillers, times of day, common verbs). A phrase
is dropped when every word of it is chatter."""

Trend = Literal["rising", "falling", "steady", "mixed"]


class Arc(msgspec.Struct, frozen=True):
    """The mood of one conversation: VADER compound scores in [-1, 1].

    ``start`` and ``end`` are means over the first and last messages (``EDGE_MESSAGES``),
    ``lowest`` and ``highest`` single messages' scores; ``started_at`` and ``ended_at`` the
    first and last messages' times; ``messages`` how many were scored.
    """

    started_at: datetime
    ended_at: datetime
    messages: int
    start: float
    end: float
    lowest: float
    highest: float
    trend: Trend


class Topic(msgspec.Struct, frozen=True):
    """A recurring topic: its normalised text (lower case, singular), the number of distinct
    messages that mention it, and when the latest of them was written."""

    text: str
    count: int
    last_mentioned: datetime


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """The mood of ``text``: VADER's compound score in [-1, 1] (-1 most negative, 0 neutral
    or empty, 1 most positive). VADER reads English words, emoticons, emoji, capitals and
    "!" emphasis, negations ("not bad" is positive); other languages mostly score 0. Only
    the first ``SENTIMENT_TEXT_LIMIT`` characters are read. Thread-safe."""
    text = text[:SENTIMENT_TEXT_LIMIT]
    if not text.strip():
        return 0.0
    score = float(_analyzer().polarity_scores(text)["compound"])
    return max(-1.0, min(1.0, score))


def last_conversation(
    scores: Sequence[tuple[datetime, float]], *, gap: timedelta = timedelta(hours=3)
) -> list[tuple[datetime, float]]:
    """The last conversation in ``scores``: the latest run of messages with no silence of
    ``gap`` or more between two of them, in time order (``[]`` for no scores)."""
    ordered = sorted(scores, key=lambda item: item[0])
    first = len(ordered)
    while first > 0 and (first == len(ordered) or ordered[first][0] - ordered[first - 1][0] < gap):
        first -= 1
    return ordered[first:]


def arc(scores: Sequence[tuple[datetime, float]]) -> Arc:
    """The arc of a conversation from its messages' ``(time, sentiment)``, in any order.

    Trend, with ``delta = end - start``: ``rising`` if ``delta >= TREND_DELTA``, ``falling``
    if ``delta <= -TREND_DELTA``; otherwise ``mixed`` when the conversation had a message at
    or below ``MIXED_LOW`` and one at or above ``MIXED_HIGH``, else ``steady``. One message
    is steady. ``ValueError`` for no scores.
    """
    if not scores:
        raise ValueError("arc: a conversation needs at least one scored message")
    ordered = sorted(scores, key=lambda item: item[0])
    values = [max(-1.0, min(1.0, score)) for _, score in ordered]
    edge = min(EDGE_MESSAGES, max(1, len(values) // 3))
    start = sum(values[:edge]) / edge
    end = sum(values[-edge:]) / edge
    lowest, highest = min(values), max(values)
    trend: Trend
    if end - start >= TREND_DELTA:
        trend = "rising"
    elif start - end >= TREND_DELTA:
        trend = "falling"
    elif lowest <= MIXED_LOW and highest >= MIXED_HIGH:
        trend = "mixed"
    else:
        trend = "steady"
    return Arc(
        started_at=ordered[0][0],
        ended_at=ordered[-1][0],
        messages=len(values),
        start=start,
        end=end,
        lowest=lowest,
        highest=highest,
        trend=trend,
    )


def mood_word(score: float) -> str:
    """A word for a compound score: very low (<= -0.5), low (<= -0.15), neutral (< 0.15),
    positive (< 0.5), very positive."""
    if score <= -0.5:
        return "very low"
    if score <= -0.15:
        return "low"
    if score < 0.15:
        return "neutral"
    if score < 0.5:
        return "positive"
    return "very positive"


def _ago(elapsed: timedelta) -> str:
    seconds = elapsed.total_seconds()
    if seconds < 60:
        return "just now"

    def plural(count: int, unit: str) -> str:
        return f"{count} {unit}{'' if count == 1 else 's'} ago"

    if seconds < 3600:
        return plural(int(seconds // 60), "minute")
    if seconds < 86_400:
        return plural(int(seconds // 3600), "hour")
    if elapsed.days < 14:
        return plural(elapsed.days, "day")
    return plural(elapsed.days // 7, "week")


def describe(conversation: Arc, *, now: datetime | None = None) -> str:
    """One short line for a prompt, e.g. "the last conversation, 3 days ago, started low and
    ended better (positive)". With ``now`` (of the same kind, aware or naive, as the arc's
    times) the line says how long ago the conversation ended; a time after ``now`` reads
    "just now". Mood words: ``mood_word``."""
    start, end = mood_word(conversation.start), mood_word(conversation.end)
    if conversation.trend == "rising":
        body = f"started {start} and ended better ({end})"
    elif conversation.trend == "falling":
        body = f"started {start} and ended worse ({end})"
    elif conversation.trend == "mixed":
        body = (
            f"went up and down (from {mood_word(conversation.lowest)} to "
            f"{mood_word(conversation.highest)}) and ended {end}"
        )
    else:
        body = f"stayed {end} throughout"
    when = f", {_ago(now - conversation.ended_at)}," if now is not None else ""
    return f"the last conversation{when} {body}"


# --- Recurring topics ----------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*[a-z0-9]|[a-z0-9]")


def _singular(word: str) -> str:
    """A simple English singular: parties → party, boxes → box, classes → class, dogs → dog;
    words of three letters or fewer, and words in -ss, -us, -is, stay as they are."""
    word = word.removesuffix("'s")
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _normalised(keyword: str) -> str | None:
    """The topic key of a YAKE keyword (lower case, singular words), or ``None`` to drop it."""
    words = [_singular(word) for word in _WORD.findall(keyword.lower())]
    if not words or all(word in CHATTER for word in words):
        return None
    text = " ".join(words)
    if len(text) < 3 or not any(char.isalpha() for char in text):
        return None
    if len(words) == 1 and abs(_analyzer().lexicon.get(words[0], 0.0)) >= FEELING_VALENCE:
        return None
    return text


def topics(
    messages: Sequence[tuple[datetime, str]],
    now: datetime,
    *,
    days: int = 14,
    at_least: int = 2,
    limit: int = 10,
) -> list[Topic]:
    """Topics mentioned in at least ``at_least`` distinct messages written within the last
    ``days`` days (``now - days <= time <= now``; times of the same kind as ``now``).

    Per message (its first ``TOPIC_TEXT_LIMIT`` characters; the ``TOPIC_MESSAGES_LIMIT``
    most recent messages of the window), YAKE picks up to ``KEYWORDS_PER_MESSAGE`` single
    words and two-word phrases. Each is normalised (lower case, ``_singular`` per word: "Dogs"
    and "dog" are one topic); chatter (``CHATTER``) and single feeling words
    (``FEELING_VALENCE``) are dropped. A message counts once per topic however often it
    repeats it. A single word is left out when a phrase holding it was found in exactly the
    same messages (the phrase says more). Most mentioned first, then most recent; at most
    ``limit``.
    """
    since = now - timedelta(days=days)
    recent = sorted(
        ((when, text) for when, text in messages if since <= when <= now),
        key=lambda item: item[0],
    )[-TOPIC_MESSAGES_LIMIT:]
    extractor = yake.KeywordExtractor(lan="en", n=2, top=KEYWORDS_PER_MESSAGE)
    seen: dict[str, set[int]] = {}
    last: dict[str, datetime] = {}
    for index, (when, message) in enumerate(recent):
        text = message[:TOPIC_TEXT_LIMIT]
        if not text.strip():
            continue
        found_here = (_normalised(keyword) for keyword, _ in extractor.extract_keywords(text))
        for key in {key for key in found_here if key is not None}:
            seen.setdefault(key, set()).add(index)
            last[key] = max(last.get(key, when), when)
    found = {key: where for key, where in seen.items() if len(where) >= at_least}
    kept = [
        key
        for key, where in found.items()
        if not any(
            other != key and key in other.split() and found[other] == where for other in found
        )
    ]
    kept.sort(key=lambda key: (-len(found[key]), -last[key].timestamp(), key))
    return [Topic(text=key, count=len(found[key]), last_mentioned=last[key]) for key in kept][
        :limit
    ]
