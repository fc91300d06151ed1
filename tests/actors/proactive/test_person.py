"""A person's proactive actor, its scheduler and hub, against a real store and a scripted model,
in virtual time (the wall clock moves with trio's)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import trio
import trio.testing

from clara.actors.email.account import ImportantMail
from clara.adapters.chat import nonce_for
from clara.errors import ProviderUnavailable
from clara.store import Database, record_exchange
from clara.store._proactive import save_person_choice, set_server_proactive
from clara.store.models import ProactiveAssessment, ProactiveMessage, ProactiveNote
from tests.actors.proactive.harness import (
    START,
    WAIT,
    ScriptedModel,
    proactive_running,
    speak,
    think,
)

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
HOUR = 3600.0


async def first_seen(running, *, message_id: str = "m1") -> None:  # type: ignore[no-untyped-def]
    running.write("I have my driving test on Thursday, wish me luck", message_id=message_id)
    await running.flush()


async def test_someone_who_writes_gets_a_schedule_and_a_first_check(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    async with proactive_running(tmp_path, store) as running:
        await first_seen(running)
        person = running.person()
        # The first check comes 30 minutes after the first message, plus the person's stagger.
        assert person.next_check_at is not None
        wait = (person.next_check_at - START).total_seconds()
        assert 30 * 60 <= wait < 60 * 60 + 2.5
        assert running.model.requests == []
        await running.checked(1)
        assert running.clock() >= person.next_check_at
        assert len(running.model.requests) == 1
        assessments = running.rows(ProactiveAssessment)
        assert [(row.decision, row.valid) for row in assessments] == [("WAIT", True)]
        after = running.person()
        assert after.checks == 1 and after.next_check_at > after.last_check_at


async def test_a_speak_is_recorded_then_sent_once_to_their_dms(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    model = ScriptedModel([speak("Good luck with the driving test today!")])
    async with proactive_running(tmp_path, store, model) as running:
        await first_seen(running)
        await running.check_now()
        [sent] = running.transport.sent
        assert sent.channel_id == "dm-42"
        assert sent.text == "Good luck with the driving test today!"
        [row] = running.rows(ProactiveMessage)
        assert row.state == "delivered" and row.platform_message_id is not None
        assert sent.nonce == nonce_for(row.idempotency_key, 0)
        assert running.person().speaks == 1
        # The model was told the rules and when it is for them.
        context = running.model.context()
        assert "Monday 02 March 2026" in context and "(UTC)" in context


async def test_garbage_from_the_model_is_a_wait_counted_and_visible(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    model = ScriptedModel(["I think you should say hi!", '{"decision": "SPEAK"}', WAIT])
    async with proactive_running(tmp_path, store, model) as running:
        await first_seen(running)
        for _ in range(2):
            await running.check_now()
        assert running.transport.sent == []
        rows = running.rows(ProactiveAssessment)
        assert [(row.decision, row.valid) for row in rows] == [("WAIT", False), ("WAIT", False)]
        assert rows[0].reason.startswith("invalid answer: not the decision asked for")
        person = running.person()
        assert person.invalid == 2 and person.waits == 2
        [actor] = running.system.people.keys()
        details = running.system.people.get(actor).statistics().details  # type: ignore[union-attr]
        assert details is not None and details["invalid"] == 2


async def test_quiet_hours_in_their_own_zone_ask_no_model_and_wait_for_their_end(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    # 09:00 UTC is 01:00 in Los Angeles (PST): quiet until 08:00 there (16:00 UTC), and
    # someone with no learned hours is looked at from 09:00 their time: 17:00 UTC.
    async with proactive_running(tmp_path, store) as running:
        await first_seen(running)
        running.set_zone("America/Los_Angeles")
        await running.check_now()
        assert running.model.requests == []
        person = running.person()
        assert person.last_decision == "quiet"
        assert person.next_check_at == dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)


async def test_the_gap_and_the_daily_cap_hold_back_a_second_message(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    model = ScriptedModel([speak("Morning! How did it go?")])
    env = {"CLARA_PROACTIVE_MIN_GAP_MINUTES": "240"}
    async with proactive_running(tmp_path, store, model, env=env) as running:
        await first_seen(running)
        await running.check_now()
        assert len(running.transport.sent) == 1
        await running.check_now()
        assert len(running.transport.sent) == 1  # within the 4-hour gap: held back
        second = running.rows(ProactiveAssessment)[-1]
        assert second.decision == "WAIT" and "not sent" in second.reason
        assert "You may NOT speak now" in running.model.context()


async def test_a_think_keeps_a_note_grounded_in_message_ids_which_fades_to_archived(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    model = ScriptedModel(
        [
            think("Driving test on Thursday: ask how it went", ["m7"], confidence=0.3),
            think("A note about nothing", ["not-a-shown-id"]),
            WAIT,
        ]
    )
    env = {"CLARA_PROACTIVE_NOTE_DAYS": "10"}
    async with proactive_running(tmp_path, store, model, env=env) as running:
        await first_seen(running)
        running.remember("driving test thursday!", message_id="m7", at=START)
        await running.check_now()
        [note] = running.rows(ProactiveNote)
        assert note.note.startswith("Driving test") and note.sources == ["m7"]
        assert "[m7]" in running.model.context(0)
        await running.check_now()
        assert len(running.rows(ProactiveNote)) == 1  # a note naming nothing shown: refused
        assert running.rows(ProactiveAssessment)[-1].valid is False
        # 0.3 fades at 0.1 a day: gone after 3 days.
        await trio.sleep(3 * 24 * HOUR + HOUR)
        await running.check_now()
        [note] = running.rows(ProactiveNote)
        assert note.archived_at is not None


async def test_a_reply_within_the_window_is_linked_to_the_message_it_answers(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    model = ScriptedModel([speak("How was the test?")])
    async with proactive_running(tmp_path, store, model) as running:
        await first_seen(running)
        await running.check_now()
        await trio.sleep(HOUR)
        running.write("I passed!!", message_id="m9")
        await running.flush()
        [row] = running.rows(ProactiveMessage)
        assert row.reply_message_id == "m9" and row.replied_at is not None


async def test_a_model_that_fails_costs_a_check_not_a_crash(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    model = ScriptedModel([ProviderUnavailable("fake", "down")])
    async with proactive_running(tmp_path, store, model) as running:
        await first_seen(running)
        await running.check_now()
        person = running.person()
        assert person.last_decision == "WAIT"
        assert person.last_reason is not None and "could not be asked" in person.last_reason
        assert person.next_check_at > running.clock()


async def test_a_person_who_opted_out_is_not_checked(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    async with proactive_running(tmp_path, store) as running:
        await first_seen(running)
        with store.unit_of_work() as session:
            save_person_choice(session, "discord", "42", enabled=False)
        running.due_now()
        await trio.sleep(3600)
        assert running.model.requests == [] and running.person().checks == 0


async def test_important_mail_an_account_hands_over_reaches_the_next_check(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    async with proactive_running(tmp_path, store) as running:
        await first_seen(running)
        running.system.important_mail(
            ImportantMail(
                platform="discord",
                user_id="42",
                sender="dmv@example.org",
                subject="Your driving test is moved to Friday",
                importance="urgent",
                received_at=START,
            )
        )
        await running.flush()
        await running.check_now()
        context = running.model.context()
        assert "Mail Clara was told about" in context
        assert "urgent: Your driving test is moved to Friday (from dmv@example.org)" in context


async def test_a_passivated_person_comes_back_with_what_only_their_actor_knew(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    env = {"CLARA_PROACTIVE_IDLE_SECONDS": "60"}
    async with proactive_running(tmp_path, store, env=env) as running:
        await first_seen(running)
        running.system.important_mail(
            ImportantMail(
                platform="discord",
                user_id="42",
                sender="boss@example.org",
                subject="Friday's review moved",
                importance="high",
                received_at=START,
            )
        )
        await running.flush()
        await trio.sleep(300)  # idle past CLARA_PROACTIVE_IDLE_SECONDS: passivated
        assert running.system.people.passivations >= 1
        snapshot = running.person().snapshot
        assert snapshot is not None and snapshot["mail"][0]["subject"] == "Friday's review moved"
        await running.check_now()  # restored from the store's snapshot
        assert "Friday's review moved" in running.model.context()


async def test_only_people_active_lately_are_checked_until_they_write_again(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    env = {"CLARA_PROACTIVE_ACTIVE_DAYS": "2"}
    async with proactive_running(tmp_path, store, env=env) as running:
        await first_seen(running)
        await trio.sleep(3 * 24 * HOUR)  # silent for three days
        checks = running.person().checks
        running.due_now()
        await trio.sleep(3600)
        assert running.person().checks == checks  # not active lately: not checked
        running.write("back from holiday", message_id="m2")
        await running.flush()
        await running.checked(checks + 1, limit=120)


async def test_the_totals_reach_metrics_and_each_person_shows_on_the_status_tree(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415
    from prometheus_client.registry import Collector  # noqa: PLC0415

    model = ScriptedModel(["garbage", speak("Hello!")])
    async with proactive_running(tmp_path, store, model) as running:
        await first_seen(running)
        await running.check_now()
        await running.check_now()
        system = running.system

        class Totals(Collector):
            def collect(self):  # type: ignore[no-untyped-def]
                return system.metrics()

        registry = CollectorRegistry()
        registry.register(Totals())
        text = generate_latest(registry).decode()
        [key] = system.people.keys()
        details = system.people.get(key).statistics().details  # type: ignore[union-attr]
    assert 'clara_proactive_checks_total{decision="WAIT"} 1.0' in text
    assert 'clara_proactive_checks_total{decision="SPEAK"} 1.0' in text
    assert "clara_proactive_invalid_answers_total 1.0" in text
    assert 'clara_proactive_messages_total{state="delivered"} 1.0' in text
    assert 'clara_proactive_activities_total{outcome="written"} 1.0' in text
    assert "clara_proactive_people_live 1.0" in text
    assert "42" not in text  # labelled by outcome, never by person
    assert details is not None
    assert (details["last_decision"], details["checks"], details["invalid"]) == ("SPEAK", 2, 1)
    assert details["next_check"] is not None


async def test_a_server_that_opted_out_stops_checks_of_people_reached_there_not_in_dms(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    async with proactive_running(tmp_path, store) as running:
        running.write("hi all", message_id="m1", channel="general", dm=False, guild="g1")
        await running.flush()
        with store.unit_of_work() as session:
            record_exchange(
                session,
                platform="discord",
                channel_id="general",
                guild_id="g1",
                is_dm=False,
                turns=[("42", "Ada", "hi all", "m1")],
                reply="Hello!",
            )
            save_person_choice(session, "discord", "42", reach_channel_id="general")
            set_server_proactive(session, "discord", "g1", False, "discord:7")
        await running.check_now()
        assert running.person().last_decision == "off" and running.model.requests == []
        with store.unit_of_work() as session:
            save_person_choice(session, "discord", "42", reach_dm=True)
        await running.check_now()
        assert running.person().last_decision == "WAIT" and len(running.model.requests) == 1
