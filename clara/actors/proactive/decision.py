"""What the model decides at a check, and how its answer is read.

The model answers one JSON object (``Decision``): its assessment, then ``WAIT``, ``THINK``
(keep a note, grounded in the ids of the messages it stands on) or ``SPEAK`` (a message to
send), with a suggested next check. ``read_decision`` never raises: an answer that is not
that object, or breaks a rule below, is a ``WAIT`` whose ``invalid`` says why, counted and
shown on the person's actor, so a model returning garbage costs a check, never a message.

Rules beyond the JSON's shape:
- ``THINK`` needs a ``note`` and at least one of ``sources`` among the message ids the check
  showed the model (a note about nothing said is a guess, not a note);
- ``SPEAK`` needs a ``message`` of 1 to ``MESSAGE_CHARS`` characters;
- ``confidence`` is 0 to 1; ``expires_in_hours`` and ``next_check_minutes`` are positive.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal

import msgspec

__all__ = [
    "ASSESSMENT_CHARS",
    "MESSAGE_CHARS",
    "NOTE_CHARS",
    "NOTE_KINDS",
    "Decision",
    "Reading",
    "read_decision",
]

ASSESSMENT_CHARS = 1500
NOTE_CHARS = 500
MESSAGE_CHARS = 1500
NOTE_KINDS = ("follow_up", "event", "open_thread", "check_in", "mail")

Kind = Literal["follow_up", "event", "open_thread", "check_in", "mail"]
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The model's answer at one check (the JSON object it is asked for)."""

    assessment: str
    """What the model makes of the person's situation now (kept in the assessments)."""
    decision: Literal["WAIT", "THINK", "SPEAK"]
    note: str | None = None
    """THINK: what to keep in mind (one or two sentences)."""
    note_kind: Kind = "follow_up"
    confidence: float = 0.5
    """How sure the model is the note (or message) is worth it: 0 to 1."""
    expires_in_hours: float | None = None
    """THINK: when the note stops mattering (an event's end, a deadline); None: it decays."""
    sources: list[str] = msgspec.field(default_factory=list)
    """THINK: ids of the messages the note stands on."""
    message: str | None = None
    """SPEAK: the message to send, as Clara would write it."""
    message_kind: Kind = "check_in"
    next_check_minutes: int | None = None
    """The model's suggestion for the next check (the rules clamp it)."""


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """``read_decision``'s result: the decision to act on, and why the answer was refused
    (None when it was valid)."""

    decision: Decision
    invalid: str | None = None


def _wait(why: str, assessment: str = "") -> Reading:
    return Reading(
        decision=Decision(assessment=assessment[:ASSESSMENT_CHARS], decision="WAIT"),
        invalid=why,
    )


def _json_object(text: str) -> str:
    cleaned = text.strip()
    fenced = _FENCE.match(cleaned)
    if fenced is not None:
        cleaned = fenced.group(1)
    start, end = cleaned.find("{"), cleaned.rfind("}")
    return cleaned[start : end + 1] if start != -1 and end > start else cleaned


def read_decision(text: str, known_ids: Collection[str]) -> Reading:
    """The decision in the model's answer ``text``; ``known_ids``: the message ids the check
    showed it (a THINK's sources must be among them)."""
    try:
        decision = msgspec.json.decode(_json_object(text), type=Decision)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return _wait(f"not the decision asked for: {str(error)[:200]}")
    assessment = decision.assessment.strip()
    if not assessment:
        return _wait("no assessment")
    if not 0.0 <= decision.confidence <= 1.0:
        return _wait(f"confidence {decision.confidence} is not between 0 and 1", assessment)
    for field in ("expires_in_hours", "next_check_minutes"):
        value = getattr(decision, field)
        if value is not None and not value > 0:
            return _wait(f"{field} must be positive, got {value}", assessment)
    if decision.decision == "THINK":
        note = (decision.note or "").strip()
        if not note:
            return _wait("THINK without a note", assessment)
        sources = [source for source in decision.sources if source in known_ids]
        if not sources:
            return _wait("THINK whose note names none of the messages shown", assessment)
        decision = msgspec.structs.replace(decision, note=note[:NOTE_CHARS], sources=sources)
    elif decision.decision == "SPEAK":
        message = (decision.message or "").strip()
        if not message:
            return _wait("SPEAK without a message", assessment)
        if len(message) > MESSAGE_CHARS:
            return _wait(f"a message of {len(message)} characters (at most {MESSAGE_CHARS})")
        decision = msgspec.structs.replace(decision, message=message)
    return Reading(
        decision=msgspec.structs.replace(decision, assessment=assessment[:ASSESSMENT_CHARS])
    )
