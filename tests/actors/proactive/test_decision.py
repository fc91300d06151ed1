"""Reading the model's decision: what it must be, and garbage taken as WAIT with the reason."""

from __future__ import annotations

import json

import pytest

from clara.actors.proactive.decision import MESSAGE_CHARS, read_decision

SHOWN = {"m1", "m2"}


def answer(**fields: object) -> str:
    return json.dumps({"assessment": "a thought", **fields})


def test_a_valid_speak_think_and_wait_are_taken_as_they_are() -> None:
    spoken = read_decision(answer(decision="SPEAK", message=" Hi there! "), SHOWN)
    assert spoken.invalid is None and spoken.decision.message == "Hi there!"
    noted = read_decision(
        answer(decision="THINK", note="ask about it", sources=["m2", "zz"], confidence=0.9), SHOWN
    )
    assert noted.invalid is None
    assert noted.decision.sources == ["m2"]  # only what was shown
    assert read_decision(answer(decision="WAIT"), SHOWN).invalid is None


def test_a_fenced_answer_with_prose_around_it_is_read() -> None:
    text = "Sure!\n```json\n" + answer(decision="WAIT", next_check_minutes=90) + "\n```"
    reading = read_decision(text, SHOWN)
    assert reading.invalid is None and reading.decision.next_check_minutes == 90


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("banana", "not the decision asked for"),
        ("", "not the decision asked for"),
        ('{"decision": "SPEAK", "message": "hi"}', "not the decision asked for"),
        (answer(decision="SHOUT"), "not the decision asked for"),
        (answer(decision="SPEAK"), "SPEAK without a message"),
        (answer(decision="SPEAK", message="   "), "SPEAK without a message"),
        (answer(decision="SPEAK", message="x" * (MESSAGE_CHARS + 1)), "characters"),
        (answer(decision="THINK", sources=["m1"]), "THINK without a note"),
        (answer(decision="THINK", note="n", sources=["elsewhere"]), "names none of the messages"),
        (answer(decision="THINK", note="n", sources=[]), "names none of the messages"),
        (answer(decision="WAIT", confidence=2), "confidence"),
        (answer(decision="WAIT", next_check_minutes=-5), "must be positive"),
        (json.dumps({"assessment": "  ", "decision": "WAIT"}), "no assessment"),
        (json.dumps([1, 2, 3]), "not the decision asked for"),
    ],
)
def test_anything_else_is_a_wait_that_says_why(text: str, why: str) -> None:
    reading = read_decision(text, SHOWN)
    assert reading.decision.decision == "WAIT"
    assert reading.invalid is not None and why in reading.invalid
