"""The proactive engine with 10,000 active people: what the schedule costs, what a passivated
person weighs, and how checks spread after a restart.

    python -m bench.proactive [--quick]

Each part runs in a fresh interpreter (``bench._harness.run_in_subprocess``) on a migrated
SQLite store of its own (``clara.testing.throwaway_database``), seeded with N people (users
and ``proactive_people`` rows; 10,000, or 1,000 with ``--quick``):

1. **Schedule** (``schedule``): the store work of the schedule itself, as the scheduler and
   a check do it, with no actor and no model: every ``tick`` (30 s) one ``due_people(session,
   now, 200)`` query, then for each person due the next check written 30 minutes on, either
   with ``save_check`` (a WAIT's whole outcome: counts, assessment row, next check) or with a
   bare ``UPDATE ... SET next_check_at``; the writes of one tick share one transaction, each
   in a savepoint (as the store's writer groups writes queued together). Virtual time moves
   tick by tick over a slice (``slice_minutes``; every person is checked once every 30
   minutes); CPU seconds of the process (``time.process_time``) are scaled to a day and
   divided by N.
2. **Checks with real actors** (``actors``): ``proactive_subsystem`` under an
   ``ActorTestKit``, with a model actor that answers WAIT at once, in trio's virtual time
   (``MockClock``, autojump) with the store's units of work inline in the trio thread, so the
   process's CPU time is all the engine's: scheduler ticks, person actors started (snapshot
   read), the check's reads, ``save_check``, passivation after ``idle_seconds`` (snapshot
   written). CPU per check, times 48 checks a day.
3. **Passivated people** (``memory``): N person actors started through the people's
   DynamicSupervisor (``get_or_start``, as the scheduler does), then virtual time past
   ``CLARA_PROACTIVE_IDLE_SECONDS`` so all are passivated; process RSS (psutil, after
   ``gc.collect()``) before, with all live, and after, per person; and the snapshot bytes
   kept in the store (``length(snapshot)`` of every row).
4. **Spread after a restart** (``spread``): all N people overdue (next check an hour ago);
   ``spread_overdue(session, now, stagger(key, 30 min))`` timed (wall and CPU, its commit
   included); then how many people are due in each minute (and each 30 s tick) of the next
   30: max against the mean, and the ticks a scheduler waking 200 per tick needs.

Writes bench/results/proactive.json and .md (``proactive-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._harness import failed_part, rss_bytes, run_in_subprocess, write_results

FULL: dict[str, Any] = {
    "people": 10_000,
    "schedule_slice_minutes": 60,
    "actors_slice_minutes": 30,
    "actors_people": 10_000,
    "memory_people": 10_000,
}
QUICK: dict[str, Any] = {
    "people": 1_000,
    "schedule_slice_minutes": 60,
    "actors_slice_minutes": 30,
    "actors_people": 1_000,
    "memory_people": 1_000,
}

#: Monday 2 March 2026, 09:00 UTC: outside the default quiet hours (22-08 UTC).
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
INTERVAL = dt.timedelta(minutes=30)
TICK = 30.0
ACTIVE = dt.timedelta(days=30)  # the scheduler's default: people who wrote within 30 days
IDLE_SECONDS = 300.0  # CLARA_PROACTIVE_IDLE_SECONDS's default
BATCH = 200
CHECKS_PER_DAY = dt.timedelta(days=1) / INTERVAL  # 48
WAIT = json.dumps({"assessment": "nothing to say", "decision": "WAIT"})


def _key(index: int) -> tuple[str, str]:
    return "discord", f"{100_000_000 + index}"


def seed(database: Any, people: int, first_check: Callable[[int], dt.datetime]) -> None:
    """``people`` users with a proactive row each, next check at ``first_check(index)``."""
    from sqlalchemy import insert, select  # noqa: PLC0415

    from clara.store.models import InteractionPattern, ProactivePerson, User  # noqa: PLC0415

    with database.unit_of_work() as session:
        session.execute(
            insert(User),
            [
                {"platform": p, "platform_user_id": u, "display_name": f"person {i}"}
                for i, (p, u) in ((i, _key(i)) for i in range(people))
            ],
        )
        ids = dict(session.execute(select(User.platform_user_id, User.id)).all())
        session.execute(
            insert(ProactivePerson),
            [
                {"user_id": ids[_key(i)[1]], "next_check_at": first_check(i), "updated_at": START}
                for i in range(people)
            ],
        )
        # Active people: they wrote yesterday (the scheduler checks only the recently active).
        session.execute(
            insert(InteractionPattern),
            [
                {
                    "user_id": ids[_key(i)[1]],
                    "time_zone": "UTC",
                    "active_hours": [],
                    "message_count": 1,
                    "last_seen_at": START - dt.timedelta(days=1),
                    "last_channel_id": f"dm-{i}",
                }
                for i in range(people)
            ],
        )


def _staggered(people: int) -> Callable[[int], dt.datetime]:
    from clara.proactive import stagger  # noqa: PLC0415

    return lambda i: START + stagger(":".join(_key(i)), INTERVAL)


@contextmanager
def _store(threads: bool = False) -> Iterator[Any]:
    from clara.testing import throwaway_database  # noqa: PLC0415

    with throwaway_database(threads=threads) as database:
        yield database


def _cpu() -> float:
    return time.process_time()


# -- 1. the schedule, store only ----------------------------------------------------------------


def schedule(people: int, slice_minutes: int = 60) -> dict[str, Any]:
    """See the module's docstring (part 1)."""
    from sqlalchemy import select, update  # noqa: PLC0415

    from clara.store._proactive import CheckOutcome, due_people, save_check  # noqa: PLC0415
    from clara.store.models import ProactivePerson, User  # noqa: PLC0415

    logging.disable(logging.CRITICAL)
    ticks = int(slice_minutes * 60 / TICK)
    figures: dict[str, Any] = {"people": people, "slice_minutes": slice_minutes, "ticks": ticks}
    for variant in ("save_check", "update"):
        with _store() as database:
            seed(database, people, _staggered(people))
            query_cpu = write_cpu = 0.0
            due_per_tick: list[int] = []
            checks = 0
            for tick in range(ticks):
                now = START + dt.timedelta(seconds=tick * TICK)
                started = _cpu()
                with database.unit_of_work() as session:
                    due = due_people(session, now, BATCH, active_since=now - ACTIVE)
                query_cpu += _cpu() - started
                due_per_tick.append(len(due))
                started = _cpu()
                with database.unit_of_work() as session:
                    for platform, user_id in due:
                        with session.begin_nested():
                            if variant == "save_check":
                                save_check(
                                    session,
                                    platform,
                                    user_id,
                                    CheckOutcome(
                                        at=now,
                                        decision="WAIT",
                                        reason="nothing to say",
                                        next_check_at=now + INTERVAL,
                                    ),
                                )
                            else:
                                session.execute(
                                    update(ProactivePerson)
                                    .where(
                                        ProactivePerson.user_id
                                        == select(User.id)
                                        .where(User.platform == platform)
                                        .where(User.platform_user_id == user_id)
                                        .scalar_subquery()
                                    )
                                    .values(next_check_at=now + INTERVAL)
                                )
                write_cpu += _cpu() - started
                checks += len(due)
        ticks_per_day = 86_400 / TICK
        query_per_tick = query_cpu / ticks
        write_per_check = write_cpu / checks if checks else 0.0
        per_person_day = (
            query_per_tick * ticks_per_day + write_per_check * CHECKS_PER_DAY * people
        ) / people
        figures[variant] = {
            "checks": checks,
            "due_per_tick_max": max(due_per_tick),
            "due_per_tick_mean": round(statistics.fmean(due_per_tick), 1),
            "query_cpu_s": round(query_cpu, 4),
            "write_cpu_s": round(write_cpu, 4),
            "due_query_cpu_ms_per_tick": round(query_per_tick * 1000, 3),
            "write_cpu_us_per_check": round(write_per_check * 1e6, 1),
            "cpu_ms_per_person_per_day": round(per_person_day * 1000, 3),
            "cpu_s_per_day_all_people": round(per_person_day * people, 2),
        }
    return figures


# -- 2 and 3. real actors ----------------------------------------------------------------------


def _settings(folder: Path, **env: str) -> Any:
    from clara.config import load_settings  # noqa: PLC0415

    return load_settings(
        {
            "CLARA_DATA_DIR": str(folder),
            "CLARA_STATUS_ENABLED": "false",
            "CLARA_PROACTIVE_QUIET_HOURS": "22-08",
            "CLARA_PROACTIVE_MAX_PEOPLE": "100000",
            **env,
        }
    )


def _model_actor() -> Any:
    from clara.actors import Actor  # noqa: PLC0415
    from clara.actors.llm import Complete  # noqa: PLC0415
    from clara.adapters.llm import Completion  # noqa: PLC0415

    class InstantWait(Actor):
        """The model: WAIT, at once."""

        def __init__(self) -> None:
            self.asked = 0

        async def on_receive(self, message: Any) -> Any:
            assert isinstance(message, Complete)
            self.asked += 1
            return Completion(text=WAIT)

    return InstantWait()


@contextmanager
def _running_world(people: int, first_check: Callable[[int], dt.datetime]) -> Iterator[Any]:
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="clara-bench-proactive-") as folder, _store() as db:
        seed(db, people, first_check)
        yield Path(folder), db


def actors(people: int, slice_minutes: int = 30) -> dict[str, Any]:
    """See the module's docstring (part 2)."""
    import trio  # noqa: PLC0415
    import trio.testing  # noqa: PLC0415

    from clara.actors.proactive import proactive_subsystem  # noqa: PLC0415
    from clara.store._proactive import count_people  # noqa: PLC0415
    from clara.testing import ActorTestKit, FakeTransport  # noqa: PLC0415

    logging.disable(logging.CRITICAL)
    with _running_world(people, _staggered(people)) as (folder, database):
        settings = _settings(folder)

        async def main() -> dict[str, Any]:
            clock = lambda: START + dt.timedelta(seconds=trio.current_time())  # noqa: E731
            async with ActorTestKit() as kit:
                kit.event_log.close()  # a test kit keeps every lifecycle event: not here
                model = _model_actor()
                llm = await kit.spawn(lambda: model, name="model")
                system = proactive_subsystem(
                    settings,
                    database=database,
                    llm=llm,
                    transport=FakeTransport(),
                    clock=clock,
                    tick=TICK,
                )
                gc.collect()
                cpu, wall = _cpu(), time.perf_counter()
                await kit.start_supervisor(system.supervisor, name="proactive")
                # Just short of the slice's end: the tick at the end would start the next
                # round of checks.
                await trio.sleep(slice_minutes * 60 - 1)
                cpu, wall = _cpu() - cpu, time.perf_counter() - wall
                people_now = await database.run(count_people)
                return {
                    "people": people_now,
                    "slice_minutes": slice_minutes,
                    "checks": model.asked,
                    "activations": system.people.activations,
                    "passivations": system.people.passivations,
                    "cpu_s": round(cpu, 3),
                    "wall_s": round(wall, 3),
                }

        result: dict[str, Any] = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    checks = result["checks"]
    if not checks:
        raise RuntimeError("no check ran in the slice: is anyone due and active?")
    per_check = result["cpu_s"] / checks
    result["cpu_ms_per_check"] = round(per_check * 1000, 3)
    result["cpu_ms_per_person_per_day"] = round(per_check * CHECKS_PER_DAY * 1000, 2)
    result["cpu_s_per_day_all_people"] = round(per_check * CHECKS_PER_DAY * people, 1)
    return result


def memory(people: int, traced: bool = False) -> dict[str, Any]:
    """See the module's docstring (part 3). With ``traced``, the Python heap (tracemalloc)
    instead of RSS: what the objects still held weigh, without the allocator's slack (RSS
    rarely goes down again once the actors are gone)."""
    import tracemalloc  # noqa: PLC0415

    import trio  # noqa: PLC0415
    import trio.testing  # noqa: PLC0415
    from sqlalchemy import func, select  # noqa: PLC0415

    from clara.actors.proactive import proactive_subsystem  # noqa: PLC0415
    from clara.store.models import ProactivePerson  # noqa: PLC0415
    from clara.testing import ActorTestKit, FakeTransport  # noqa: PLC0415

    logging.disable(logging.CRITICAL)

    def measured() -> int:
        return tracemalloc.get_traced_memory()[0] if traced else rss_bytes()

    idle = IDLE_SECONDS
    far = START + dt.timedelta(days=2)  # nobody due: only the actors started here run
    with _running_world(people, lambda i: far) as (folder, database):
        settings = _settings(folder, CLARA_PROACTIVE_IDLE_SECONDS=str(idle))

        async def main() -> dict[str, Any]:
            clock = lambda: START + dt.timedelta(seconds=trio.current_time())  # noqa: E731
            async with ActorTestKit() as kit:
                kit.event_log.close()  # a test kit keeps every lifecycle event: not here
                llm = await kit.spawn(_model_actor, name="model")
                system = proactive_subsystem(
                    settings,
                    database=database,
                    llm=llm,
                    transport=FakeTransport(),
                    clock=clock,
                    tick=TICK,
                )
                await kit.start_supervisor(system.supervisor, name="proactive")
                await trio.sleep(1.0)
                keys = [":".join(_key(i)) for i in range(people)]
                # Warm up one person (modules, first queries) before the baseline.
                await system.people.get_or_start(keys[0])
                await trio.sleep(idle + 5)
                if traced:
                    tracemalloc.start()
                gc.collect()
                before = measured()
                started = time.perf_counter()
                for key in keys:
                    await system.people.get_or_start(key)
                start_s = time.perf_counter() - started
                gc.collect()
                live = measured()
                live_count = len(system.people)
                await trio.sleep(idle + 5)
                gc.collect()
                after = measured()
                if traced:
                    tracemalloc.stop()
                passivated = system.people.passivations
                left = len(system.people)
                with database.unit_of_work() as session:
                    snapshot_bytes = session.scalar(
                        select(func.sum(func.length(ProactivePerson.snapshot)))
                    )
                    with_snapshot = session.scalar(
                        select(func.count()).where(ProactivePerson.snapshot.is_not(None))
                    )
                return {
                    "people": people,
                    "measure": "python_heap" if traced else "rss",
                    "live_after_start": live_count,
                    "passivated": passivated,
                    "still_live_after_idle": left,
                    "start_all_s": round(start_s, 3),
                    "before_bytes": before,
                    "live_bytes": live,
                    "passivated_bytes": after,
                    "bytes_per_live_person": round((live - before) / people, 1),
                    "bytes_per_passivated_person": round((after - before) / people, 1),
                    "snapshot_bytes_total": int(snapshot_bytes or 0),
                    "snapshot_bytes_per_person": round(int(snapshot_bytes or 0) / people, 1),
                    "rows_with_snapshot": int(with_snapshot or 0),
                }

        result: dict[str, Any] = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return result


# -- 4. the spread after a restart --------------------------------------------------------------


def spread(people: int, spread_minutes: int = 30) -> dict[str, Any]:
    """See the module's docstring (part 4)."""
    from sqlalchemy import select  # noqa: PLC0415

    from clara.proactive import stagger  # noqa: PLC0415
    from clara.store._proactive import _aware, spread_overdue  # noqa: PLC0415
    from clara.store.models import ProactivePerson  # noqa: PLC0415

    logging.disable(logging.CRITICAL)
    period = dt.timedelta(minutes=spread_minutes)
    with _store() as database:
        seed(database, people, lambda i: START - dt.timedelta(hours=1))
        gc.collect()
        cpu, wall = _cpu(), time.perf_counter()
        with database.unit_of_work() as session:
            moved = spread_overdue(session, START, lambda key: stagger(key, period))
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        with database.unit_of_work() as session:
            times = [_aware(t) for t in session.scalars(select(ProactivePerson.next_check_at))]
    offsets = [(t - START).total_seconds() for t in times]
    minutes = Counter(int(s // 60) for s in offsets)
    ticks = Counter(int(s // TICK) for s in offsets)
    per_minute = [minutes.get(m, 0) for m in range(spread_minutes)]
    per_tick = [ticks.get(t, 0) for t in range(int(spread_minutes * 60 / TICK))]
    mean_minute = people / spread_minutes
    backlog = 0
    drained_ticks = 0
    for due in per_tick:  # a scheduler waking at most BATCH people a tick
        backlog = max(0, backlog + due - BATCH)
        drained_ticks += 1
    while backlog:
        backlog = max(0, backlog - BATCH)
        drained_ticks += 1
    return {
        "people": people,
        "moved": moved,
        "spread_minutes": spread_minutes,
        "spread_overdue_wall_ms": round(wall * 1000, 1),
        "spread_overdue_cpu_ms": round(cpu * 1000, 1),
        "earliest_s": round(min(offsets), 1),
        "latest_s": round(max(offsets), 1),
        "per_minute_max": max(per_minute),
        "per_minute_min": min(per_minute),
        "per_minute_mean": round(mean_minute, 1),
        "per_minute_max_over_mean": round(max(per_minute) / mean_minute, 3),
        "per_minute_stdev": round(statistics.pstdev(per_minute), 1),
        "per_tick_max": max(per_tick),
        "per_tick_mean": round(people / len(per_tick), 1),
        "ticks_with_more_than_batch": sum(1 for due in per_tick if due > BATCH),
        "ticks_to_wake_all": drained_ticks,
        "ticks_to_wake_all_unspread": -(-people // BATCH),
        "per_minute": per_minute,
    }


# -- the report ---------------------------------------------------------------------------------


def _markdown(doc: dict[str, Any]) -> str:
    machine = doc["machine"]
    load = ", ".join(f"{x:.2f}" for x in machine["load_average_1_5_15"])
    sched, act, spr = doc["schedule"], doc["actors"], doc["spread"]
    mem, heap = doc["memory"], doc["heap"]
    save, upd = sched["save_check"], sched["update"]
    n = sched["people"]
    lines = [
        f"# Proactive engine ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']}; `python -m bench.proactive"
        f"{' --quick' if doc['mode'] == 'quick' else ''}`; SQLite store, "
        f"{machine['cpus_usable']} CPUs, load average at start {load}.",
        "",
        f"### Schedule cost ({n:,} people, a check every 30 min, ticks every {TICK:.0f} s)",
        "",
        f"Store work only (no actor, no model), over {sched['slice_minutes']} virtual minutes "
        f"({sched['ticks']} ticks, {save['checks']:,} checks), scaled to a day "
        f"({86_400 / TICK:.0f} ticks, {CHECKS_PER_DAY:.0f} checks per person).",
        "",
        "| next check written with | due_people CPU per tick | write CPU per check | "
        "CPU per person per day | all people, CPU per day |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, figures in (("`save_check` (a WAIT's whole outcome)", save), ("bare UPDATE", upd)):
        lines.append(
            f"| {name} | {figures['due_query_cpu_ms_per_tick']} ms | "
            f"{figures['write_cpu_us_per_check']} µs | "
            f"{figures['cpu_ms_per_person_per_day']} ms | "
            f"{figures['cpu_s_per_day_all_people']} s |"
        )
    lines += [
        "",
        f"People due per tick: mean {save['due_per_tick_mean']}, max "
        f"{save['due_per_tick_max']} (batch {BATCH}).",
        "",
        f"### Whole checks with real actors ({act['people']:,} people, model answers WAIT at once)",
        "",
        f"{act['slice_minutes']} virtual minutes of `proactive_subsystem` (scheduler, "
        "person actors started and passivated, the check's reads and write), store inline: "
        f"{act['checks']:,} checks, {act['activations']:,} activations, "
        f"{act['passivations']:,} passivations in {act['cpu_s']} s of CPU "
        f"({act['wall_s']} s wall).",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| CPU per check | {act['cpu_ms_per_check']} ms |",
        f"| CPU per person per day (× {CHECKS_PER_DAY:.0f} checks) | "
        f"{act['cpu_ms_per_person_per_day']} ms |",
        f"| all {act['people']:,} people, CPU per day | {act['cpu_s_per_day_all_people']} s |",
        "",
        f"### Memory ({mem['people']:,} person actors)",
        "",
        "| figure | RSS (psutil) | Python heap (tracemalloc) |",
        "| --- | ---: | ---: |",
        f"| per live idle person actor | {mem['bytes_per_live_person']:,.0f} bytes | "
        f"{heap['bytes_per_live_person']:,.0f} bytes |",
        f"| per passivated person | {mem['bytes_per_passivated_person']:,.0f} bytes | "
        f"{heap['bytes_per_passivated_person']:,.0f} bytes |",
        f"| before → live → passivated | {mem['before_bytes'] / 2**20:.1f} → "
        f"{mem['live_bytes'] / 2**20:.1f} → {mem['passivated_bytes'] / 2**20:.1f} MiB | "
        f"{heap['before_bytes'] / 2**20:.1f} → {heap['live_bytes'] / 2**20:.1f} → "
        f"{heap['passivated_bytes'] / 2**20:.1f} MiB |",
        "",
        f"After {IDLE_SECONDS:.0f} s idle: {mem['passivated']:,} passivated, "
        f"{mem['still_live_after_idle']} left live. Snapshot kept in the store: "
        f"{mem['snapshot_bytes_per_person']} bytes per person ({mem['rows_with_snapshot']:,} "
        f"rows). Starting all {mem['people']:,} (one snapshot read each): "
        f"{mem['start_all_s']} s. The heap column is a second run with tracemalloc on "
        "(it slows the run and adds its own memory, so RSS is taken without it).",
        "",
        f"### Spread after a restart ({spr['people']:,} people overdue at once, "
        f"spread over {spr['spread_minutes']} min)",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| `spread_overdue` (wall / CPU, with its commit) | {spr['spread_overdue_wall_ms']} / "
        f"{spr['spread_overdue_cpu_ms']} ms |",
        f"| people due per minute: max / mean / min | {spr['per_minute_max']} / "
        f"{spr['per_minute_mean']} / {spr['per_minute_min']} |",
        f"| max over mean (per minute) | {spr['per_minute_max_over_mean']} |",
        f"| people due per {TICK:.0f} s tick: max / mean | {spr['per_tick_max']} / "
        f"{spr['per_tick_mean']} |",
        f"| ticks with more due than one tick wakes ({BATCH}) | "
        f"{spr['ticks_with_more_than_batch']} |",
        f"| ticks until all are woken: spread / all due at once | {spr['ticks_to_wake_all']} / "
        f"{spr['ticks_to_wake_all_unspread']} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proactive")
    parser.add_argument("--quick", action="store_true", help="1,000 people instead of 10,000")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if arguments.quick else FULL
    module = "bench.proactive"
    figures: dict[str, Any] = {
        "sizes": sizes,
        "schedule": run_in_subprocess(
            module,
            "schedule",
            {"people": sizes["people"], "slice_minutes": sizes["schedule_slice_minutes"]},
        ),
        "actors": run_in_subprocess(
            module,
            "actors",
            {"people": sizes["actors_people"], "slice_minutes": sizes["actors_slice_minutes"]},
        ),
        "memory": run_in_subprocess(module, "memory", {"people": sizes["memory_people"]}),
        "heap": run_in_subprocess(
            module, "memory", {"people": sizes["memory_people"], "traced": True}
        ),
        "spread": run_in_subprocess(module, "spread", {"people": sizes["people"]}),
    }
    failed = failed_part(figures)
    if failed is not None:
        print(failed, file=sys.stderr)
        return 1
    write_results("proactive", arguments.quick, figures, _markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
