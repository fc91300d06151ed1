"""What a check shows the model, and how it asks.

``CheckContext`` gathers, for one person at one instant: their local time and usual hours,
their last conversations (with message ids, so a note can name what it stands on) and the
DM's summary, their notes (relevance now), the last proactive messages and how they were
answered, events from their calendar, mail Clara was told about, boundaries they stated,
the arc of their last conversation and topics they keep coming back to.

``check_request`` turns it into one request: a system prompt with the rules and the JSON
the answer must be (``decision.Decision``), the context as a user turn. The model's words
never reach a tool here: the request offers none.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence

import msgspec

from ...adapters.llm import ChatMessage, ChatRequest, Tier
from ...proactive import ActiveHours, QuietHours, ResponseStats
from ...proactive.zones import local, zone
from ...store._proactive import NoteRecord, PersonLine, SentRecordRow
from .decision import MESSAGE_CHARS, NOTE_KINDS

__all__ = [
    "CheckContext",
    "MailHint",
    "UpcomingEvent",
    "boundaries",
    "check_request",
    "describe_json",
    "known_ids",
]

_LINE_CHARS = 400
_BOUNDARY = re.compile(
    r"\b(?:don'?t|do not|never|stop|please don'?t|no more)\b[^.!?\n]{0,60}?"
    r"\b(?:message|messaging|text|texting|ping|pinging|remind|reminding|contact|"
    r"check(?:ing)? (?:in|on)|bother|dm)\b[^.!?\n]{0,80}",
    re.IGNORECASE,
)


class MailHint(msgspec.Struct, frozen=True, kw_only=True):
    """Important mail an email account's actor told the person's actor about."""

    sender: str
    subject: str
    importance: str
    at: dt.datetime


class UpcomingEvent(msgspec.Struct, frozen=True, kw_only=True):
    summary: str
    start: dt.datetime
    end: dt.datetime
    all_day: bool = False


class CheckContext(msgspec.Struct, frozen=True, kw_only=True):
    now: dt.datetime
    zone_name: str
    name: str
    active: ActiveHours
    quiet: QuietHours
    lines: Sequence[PersonLine]
    summary: str
    notes: Sequence[tuple[NoteRecord, float]]
    """Each note with its relevance now."""
    sent: Sequence[SentRecordRow]
    response: ResponseStats
    events: Sequence[UpcomingEvent] = ()
    mail: Sequence[MailHint] = ()
    mood: str = ""
    topics: Sequence[str] = ()
    may_speak: bool = True
    """False when a rule forbids speaking now (the model may still THINK)."""
    why_not: str = ""


def boundaries(lines: Sequence[PersonLine]) -> list[str]:
    """What the person said about being contacted ("don't message me before noon"), from
    their own messages, newest last."""
    found: list[str] = []
    for line in lines:
        if line.role != "user":
            continue
        for match in _BOUNDARY.finditer(line.content):
            text = match.group(0).strip()
            if text not in found:
                found.append(text[:160])
    return found[-5:]


def _when(moment: dt.datetime, context: CheckContext) -> str:
    mine = local(moment, zone(context.zone_name))
    return mine.strftime("%a %d %b %H:%M")


def _context_text(context: CheckContext) -> str:
    here = local(context.now, zone(context.zone_name))
    parts = [
        f"Now for {context.name or 'the person'}: {here.strftime('%A %d %B %Y, %H:%M')} "
        f"({context.zone_name}).",
        "Usually active (their local hours): "
        + (", ".join(f"{hour:02d}h" for hour in context.active.likely_hours()) or "unknown")
        + ("" if context.active.learned else " (little known yet)"),
        f"Quiet hours (never speak then): {'none' if context.quiet.none else context.quiet}.",
    ]
    rate = context.response.rate
    parts.append(
        "Their answers to Clara's own messages: "
        + (
            f"{context.response.replied} of {context.response.counted} answered"
            if rate is not None
            else "none sent yet"
        )
        + (
            f"; the last {context.response.ignored_streak} went unanswered"
            if context.response.ignored_streak
            else ""
        )
        + "."
    )
    if not context.may_speak:
        parts.append(f"You may NOT speak now ({context.why_not}): WAIT or THINK only.")
    stated = boundaries(context.lines)
    if stated:
        parts.append("Boundaries they stated: " + " | ".join(stated))
    if context.summary:
        parts.append(f"Summary of their earlier DMs: {context.summary[:1500]}")
    if context.mood:
        parts.append(f"Mood: {context.mood}")
    if context.topics:
        parts.append("Topics they keep coming back to: " + ", ".join(context.topics))
    if context.lines:
        parts.append("Their recent messages (id, when, where, who: text):")
        for line in context.lines:
            where = "DM" if line.is_dm else f"#{line.channel_id}"
            who = "them" if line.role == "user" else "Clara"
            text = line.content.replace("\n", " ")[:_LINE_CHARS]
            parts.append(f"  [{line.message_id}] {_when(line.at, context)} {where} {who}: {text}")
    else:
        parts.append("No recent messages.")
    if context.notes:
        parts.append("Notes Clara kept (relevance 0-1 now):")
        for note, value in context.notes:
            expires = f", until {_when(note.expires_at, context)}" if note.expires_at else ""
            parts.append(f"  - ({note.kind}, {value:.2f}{expires}) {note.text}")
    if context.events:
        parts.append("Calendar (recently ended and the next 24 hours):")
        for event in context.events:
            start = "all day" if event.all_day else _when(event.start, context)
            parts.append(f"  - {start}: {event.summary}")
    if context.mail:
        parts.append("Mail Clara was told about:")
        for mail in context.mail:
            parts.append(
                f"  - {_when(mail.at, context)} {mail.importance}: {mail.subject} "
                f"(from {mail.sender})"
            )
    if context.sent:
        parts.append("Clara's last messages of its own (newest first):")
        for sent in context.sent:
            answered = (
                "answered"
                if sent.replied_at is not None
                else ("not answered" if sent.state == "delivered" else sent.state)
            )
            parts.append(
                f"  - {_when(sent.claimed_at, context)} ({answered}): "
                f"{sent.text.replace(chr(10), ' ')[:200]}"
            )
    return "\n".join(parts)


_SYSTEM = """You decide whether Clara, an AI companion, should reach out to one person on her \
own right now. Clara speaks only with a real reason: a follow-up on something they mentioned, \
an upcoming event, a thread left open, something worth a word. Silence is the normal answer. \
Respect what they said about being contacted, their hours and their mood; never repeat a \
message Clara sent already; after unanswered messages, hold back.

Answer with ONE JSON object and nothing else:
{{"assessment": "<what you make of their situation now, 1-3 sentences>",
 "decision": "WAIT" | "THINK" | "SPEAK",
 "note": "<THINK: what to keep in mind>", "note_kind": "{kinds}",
 "sources": ["<ids of the messages the note stands on, from the list>"],
 "confidence": <0 to 1>, "expires_in_hours": <when the note stops mattering, or null>,
 "message": "<SPEAK: the message, as Clara writes it, at most {chars} characters>",
 "message_kind": "{kinds}",
 "next_check_minutes": <when to look again, or null>}}
WAIT: nothing to do. THINK: keep a note grounded in their messages (give the ids). SPEAK: \
send the message now."""


def check_request(context: CheckContext, *, tier: Tier = Tier.LOW) -> ChatRequest:
    """The model's request for one check: no tools, the context as the user turn."""
    system = _SYSTEM.format(kinds=" | ".join(NOTE_KINDS), chars=MESSAGE_CHARS)
    return ChatRequest(
        messages=[
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=_context_text(context)),
        ],
        tools=[],
        tier=tier,
        max_tokens=800,
        temperature=0.4,
    )


def known_ids(context: CheckContext) -> set[str]:
    """The message ids the check showed (a THINK's sources must be among them)."""
    return {line.message_id for line in context.lines}


def describe_json(context: CheckContext) -> str:
    """The context as JSON (the status page's view of the last check): counts only."""
    return json.dumps(
        {
            "lines": len(context.lines),
            "notes": len(context.notes),
            "events": len(context.events),
            "mail": len(context.mail),
            "may_speak": context.may_speak,
        }
    )
