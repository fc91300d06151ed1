"""Email accounts against a real dovecot: how fast an alert follows new mail, what an idle
account costs, how fast every account is back after the server restarts.

    python -m bench.email [--quick]

Every part runs in a fresh interpreter and starts its own dovecot on a free loopback port
(``tests/email/dovecot.py``: every mail user has a uid of its own, so IDLE's inotify watches
are never rationed), a SQLite store of its own, and ``email_subsystem`` under a root
supervisor exactly as run.py builds it: production timings (``AccountOptions()``), backoff
(1 s doubling to 60 s, ±20 %) and the one limiter of 16 worker threads all accounts share.
The alert sink is a stub that stamps the time it is called (no chat platform is measured).

1. Latency: ``messages`` APPENDs spread round-robin over ``accounts`` accounts, one every
   ``interval`` seconds (so one account gets mail every ``accounts * interval`` seconds, past
   dovecot's own notification delay). Each APPEND goes over a logged-in connection of its
   own; each account also has a bare imapclient session idling on the same INBOX in a thread
   of its own, stamping when the server's EXISTS arrives: the server's own notification
   time. Figures: APPEND's OK → alert posted (the sink's ``deliver`` called), APPEND's OK →
   the server's EXISTS, and their difference, Clara's own part (target: ≤ 1 s at p99).
2. Footprint: N accounts started and all waiting in IDLE; RSS, threads and open file
   descriptors of the process before the subtree starts and once every account idles
   (after ``gc.collect()``), per account; the most threads seen while they connected;
   dovecot's own memory per session (PSS) for scale.
3. Restart: N accounts idling; dovecot's whole process group is killed (every connection cut
   at once), then started again; for each account, the time until it is back in IDLE on a
   new connection (its restart count went up and it reports ``idle``).

Writes bench/results/email.json and .md (``email-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from bench._harness import (
    failed_part,
    latency_summary_us,
    rss_bytes,
    run_in_subprocess,
    write_results,
)

#: Clara's part of an alert's latency (after the server's own notification), at p99.
TARGET_CLARA_P99_MS = 1000.0

#: Sizes of a full run and of ``--quick``.
FULL = {
    "latency": {"accounts": 20, "messages": 200, "interval": 0.1},
    "footprint": [100, 1000],
    "restart": 100,
}
QUICK = {
    "latency": {"accounts": 10, "messages": 40, "interval": 0.1},
    "footprint": [100],
    "restart": 30,
}

#: How long any one wait of a part may take before the part gives up with an error.
PATIENCE = 300.0


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """A dovecot with ``users``, a store whose accounts log in as them, and their ids."""

    dovecot: Any
    database: Any
    secrets: Any
    users: list[str]
    account_ids: list[int]


@contextlib.contextmanager
def _world(accounts: int) -> Iterator[World]:
    from cryptography.fernet import Fernet  # noqa: PLC0415

    from clara.store import SecretBox, add_email_account, ensure_user  # noqa: PLC0415
    from clara.testing import throwaway_database  # noqa: PLC0415
    from tests.email.dovecot import Dovecot  # noqa: PLC0415 - no pytest in there

    dovecot = Dovecot()
    try:
        users = [dovecot.add_user(f"u{index:04d}@bench.local") for index in range(accounts)]
        dovecot.start()
        secrets = SecretBox([Fernet.generate_key().decode()])
        with throwaway_database(threads=True) as database:
            ids = []
            with database.unit_of_work() as session:
                for user in users:
                    owner = ensure_user(session, "discord", f"owner-{user}", "Owner")
                    session.flush()
                    account = add_email_account(
                        session,
                        secrets,
                        user_id=owner.id,
                        address=user,
                        imap_host="127.0.0.1",
                        imap_port=dovecot.port,
                        username=user,
                        password=dovecot.users[user],
                        use_tls=False,
                    )
                    account.alert_channel_id = "alerts"
                    session.flush()
                    ids.append(account.id)
            yield World(dovecot, database, secrets, users, ids)
    finally:
        dovecot.close()


@dataclass
class StampingSink:
    """An ``AlertSink`` that notes when each alert (by subject) was handed to it."""

    posted: dict[str, float] = field(default_factory=dict)
    notices: int = 0
    arrived: trio.Event = field(default_factory=trio.Event)

    async def deliver(self, alert: Any) -> str | None:
        self.posted[alert.subject] = time.perf_counter()
        self.arrived.set()
        return "posted"

    async def notify(self, notice: Any) -> str | None:
        self.notices += 1
        return None

    async def wait_for(self, count: int) -> None:
        while len(self.posted) < count:
            self.arrived = trio.Event()
            await self.arrived.wait()


def _email(world: World, sink: StampingSink) -> Any:
    from clara.actors.email import email_subsystem  # noqa: PLC0415
    from clara.config import Settings  # noqa: PLC0415

    # Settings() holds run.py's defaults; options, threads and backoff are left to them.
    return email_subsystem(Settings(), database=world.database, secrets=world.secrets, sink=sink)


async def _with_tree(email: Any, body: Callable[[], Awaitable[Any]]) -> Any:
    from clara.actors import ActorSystem  # noqa: PLC0415
    from clara.supervisors import Supervisor  # noqa: PLC0415

    root = Supervisor([email.spec])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, ActorSystem("clara"))
        try:
            return await body()
        finally:
            await root.stop()
            nursery.cancel_scope.cancel()


def _state(email: Any, account_id: int) -> str | None:
    if email.accounts.get(account_id) is None:
        return None
    details = email.accounts.statistics_of(account_id).details
    return details.get("state") if isinstance(details, dict) else None


async def _until(condition: Callable[[], bool], every: float = 0.05) -> None:
    with trio.fail_after(PATIENCE):
        # The accounts' states have no event to await: polled, as the status page reads them.
        while not condition():  # noqa: ASYNC110
            await trio.sleep(every)


def _all_idle(email: Any, ids: list[int]) -> Callable[[], bool]:
    return lambda: (
        len(email.accounts) == len(ids) and all(_state(email, key) == "idle" for key in ids)
    )


def _threads() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _cpu_seconds() -> float:
    """CPU time this process has used (user + system), every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ms(summary_us: dict[str, float]) -> dict[str, float]:
    return {key.replace("_us", "_ms"): round(value / 1000, 2) for key, value in summary_us.items()}


# --------------------------------------------------------------------------- 1. latency


class ServerWatcher:
    """A bare imapclient session idling on one INBOX in a thread of its own: stamps when
    the server announces each message (``* n EXISTS``), the baseline Clara is held to."""

    def __init__(self, port: int, user: str, password: str) -> None:
        import imapclient  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415

        self.client = imapclient.IMAPClient("127.0.0.1", port, ssl=False, timeout=30)
        self.client.login(user, password)
        self.client.select_folder("INBOX", readonly=True)
        self.announced: dict[int, float] = {}  # message number -> when EXISTS said so
        self.stopping = False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.client.idle()
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping:
            for response in self.client.idle_check(timeout=0.2):
                if len(response) == 2 and response[1] == b"EXISTS":
                    at = time.perf_counter()
                    for number in range(len(self.announced) + 1, int(response[0]) + 1):
                        self.announced[number] = at

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        with contextlib.suppress(Exception):
            self.client.idle_done()
            self.client.logout()


def _appender(port: int, user: str, password: str) -> Any:
    import imapclient  # noqa: PLC0415

    client = imapclient.IMAPClient("127.0.0.1", port, ssl=False, timeout=30)
    client.login(user, password)
    return client


def _message(subject: str) -> bytes:
    return (
        f"From: Bench <bench@example.com>\r\nTo: someone@bench.local\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@bench.local>\r\n"
        f"Date: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\nHello\r\n"
    ).encode()


def latency(accounts: int, messages: int, interval: float) -> dict[str, Any]:
    """Part 1 (run in a fresh interpreter)."""
    logging.disable(logging.CRITICAL)
    with _world(accounts) as world:
        result: dict[str, Any] = trio.run(_latency, world, messages, interval)
    return result


async def _latency(world: World, messages: int, interval: float) -> dict[str, Any]:
    sink = StampingSink()
    email = _email(world, sink)
    dovecot = world.dovecot
    appended: dict[str, tuple[float, float]] = {}  # subject -> (APPEND sent, its OK)
    numbers: dict[str, tuple[int, int]] = {}  # subject -> (account index, message number)

    async def body() -> None:
        await _until(_all_idle(email, world.account_ids))
        watchers, appenders = [], []
        for user in world.users:
            password = dovecot.users[user]
            watchers.append(
                await trio.to_thread.run_sync(ServerWatcher, dovecot.port, user, password)
            )
            appenders.append(await trio.to_thread.run_sync(_appender, dovecot.port, user, password))
        try:
            start = trio.current_time()
            sent_to = [0] * len(world.users)
            for index in range(messages):
                which = index % len(world.users)
                subject = f"bench {index}"
                sent_to[which] += 1
                numbers[subject] = (which, sent_to[which])
                client = appenders[which]

                def put(client: Any = client, subject: str = subject) -> tuple[float, float]:
                    before = time.perf_counter()
                    client.append("INBOX", _message(subject))
                    return before, time.perf_counter()

                appended[subject] = await trio.to_thread.run_sync(put)
                await trio.sleep_until(start + (index + 1) * interval)
            with trio.fail_after(PATIENCE):
                await sink.wait_for(messages)
        finally:
            for watcher in watchers:
                await trio.to_thread.run_sync(watcher.close)
            for client in appenders:
                with contextlib.suppress(Exception):
                    client.logout()
        for subject, (which, number) in numbers.items():
            server_ns.append(int((watchers[which].announced[number] - appended[subject][1]) * 1e9))

    server_ns: list[int] = []
    await _with_tree(email, body)
    alert_ns = [int((sink.posted[s] - appended[s][1]) * 1e9) for s in appended]
    append_ns = [int((ok - sent) * 1e9) for sent, ok in appended.values()]
    clara_ns = [alert - server for alert, server in zip(alert_ns, server_ns, strict=True)]
    return {
        "accounts": len(world.users),
        "messages": messages,
        "interval_s": interval,
        "append_ok_to_alert": _ms(latency_summary_us(alert_ns)),
        "append_ok_to_server_exists": _ms(latency_summary_us(server_ns)),
        "clara_after_server_exists": _ms(latency_summary_us(clara_ns)),
        "append_round_trip": _ms(latency_summary_us(append_ns)),
        "max_alert_ms": round(max(alert_ns) / 1e6, 2),
        "alerts": len(sink.posted),
    }


# --------------------------------------------------------------------------- 2. footprint


def _dovecot_usage(pgid: int) -> dict[str, Any]:
    """dovecot's processes (its master's process group): how many, and their PSS."""
    processes, imap, pss_kb = 0, 0, 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            processes += 1
            if Path(f"/proc/{entry}/comm").read_text().strip() == "imap":
                imap += 1
            for line in Path(f"/proc/{entry}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss_kb += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return {"processes": processes, "imap_sessions": imap, "pss_bytes": pss_kb * 1024}


def footprint(accounts: int) -> dict[str, Any]:
    """Part 2 (run in a fresh interpreter)."""
    logging.disable(logging.CRITICAL)
    with _world(accounts) as world:
        result: dict[str, Any] = trio.run(_footprint, world)
    return result


async def _footprint(world: World) -> dict[str, Any]:
    sink = StampingSink()
    email = _email(world, sink)
    accounts = len(world.account_ids)
    gc.collect()
    before = {"rss_bytes": rss_bytes(), "threads": _threads(), "fds": _fds()}
    figures: dict[str, Any] = {"accounts": accounts, "before": before}

    async def body() -> None:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        most_threads = 0
        everyone_idle = _all_idle(email, world.account_ids)

        def sampled() -> bool:
            nonlocal most_threads
            most_threads = max(most_threads, _threads())
            return everyone_idle()

        await _until(sampled)
        figures["all_idle_after_s"] = round(time.perf_counter() - started, 2)
        figures["cpu_while_connecting_s"] = round(_cpu_seconds() - cpu_started, 2)
        figures["most_threads_while_connecting"] = most_threads
        await trio.sleep(1.0)  # the last fetches' threads and writes settle
        gc.collect()
        figures["idle"] = {"rss_bytes": rss_bytes(), "threads": _threads(), "fds": _fds()}
        figures["dovecot"] = _dovecot_usage(world.dovecot.process.pid)
        figures["limiter_threads"] = int(email.limiter.total_tokens)
        figures["restarts"] = sum(
            email.accounts.statistics_of(key).restarts for key in world.account_ids
        )

    await _with_tree(email, body)
    idle = figures["idle"]
    figures["per_account"] = {
        "rss_bytes": round((idle["rss_bytes"] - before["rss_bytes"]) / accounts),
        "threads": round((idle["threads"] - before["threads"]) / accounts, 3),
        "fds": round((idle["fds"] - before["fds"]) / accounts, 3),
        "dovecot_pss_bytes": round(figures["dovecot"]["pss_bytes"] / accounts),
    }
    return figures


# --------------------------------------------------------------------------- 3. restart


def restart(accounts: int) -> dict[str, Any]:
    """Part 3 (run in a fresh interpreter)."""
    logging.disable(logging.CRITICAL)
    with _world(accounts) as world:
        result: dict[str, Any] = trio.run(_restart, world)
    return result


async def _restart(world: World) -> dict[str, Any]:
    sink = StampingSink()
    email = _email(world, sink)
    ids = world.account_ids
    figures: dict[str, Any] = {"accounts": len(ids)}

    async def body() -> None:
        await _until(_all_idle(email, ids))
        restarts_before = {key: email.accounts.statistics_of(key).restarts for key in ids}
        back_at: dict[int, float] = {}

        def everyone_back() -> bool:
            now = time.perf_counter()
            for key in ids:
                if key in back_at:
                    continue
                stats = email.accounts.statistics_of(key)
                details = stats.details if isinstance(stats.details, dict) else {}
                if stats.restarts > restarts_before[key] and details.get("state") == "idle":
                    back_at[key] = now
            return len(back_at) == len(ids)

        killed, cpu_at_kill = time.perf_counter(), _cpu_seconds()
        # In worker threads: the accounts must see the cut while dovecot is down, not after.
        await trio.to_thread.run_sync(world.dovecot.kill)
        down = time.perf_counter()
        await trio.to_thread.run_sync(world.dovecot.start)
        listening = time.perf_counter()
        await _until(everyone_back, every=0.01)
        cpu_used = _cpu_seconds() - cpu_at_kill
        back_ns = [int((at - killed) * 1e9) for at in back_at.values()]
        after_listening_ns = [int((at - listening) * 1e9) for at in back_at.values()]
        attempts = [
            email.accounts.statistics_of(key).restarts - restarts_before[key] for key in ids
        ]
        figures.update(
            {
                "kill_took_s": round(down - killed, 3),
                "server_listening_after_s": round(listening - killed, 3),
                "back_after_kill": _ms(latency_summary_us(back_ns)),
                "all_back_after_kill_s": round(max(back_ns) / 1e9, 3),
                "all_back_after_listening_s": round(max(after_listening_ns) / 1e9, 3),
                "first_back_after_kill_s": round(min(back_ns) / 1e9, 3),
                "accounts_needing_more_than_one_reconnect": sum(1 for n in attempts if n > 1),
                "notices_to_owners": sink.notices,
                "clara_cpu_s": round(cpu_used, 2),
            }
        )

    await _with_tree(email, body)
    return figures


# --------------------------------------------------------------------------- report


def _markdown(doc: dict[str, Any]) -> str:
    lat, restarted = doc["latency"], doc["restart"]
    clara = lat["clara_after_server_exists"]
    ok = "✓" if clara["p99_ms"] <= TARGET_CLARA_P99_MS else "✗"
    machine = doc["machine"]
    lines = [
        f"# Email accounts ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']}; `python -m bench.email`; dovecot on loopback, "
        f"{machine['cpus_usable']} CPUs, load average at start "
        f"{', '.join(f'{x:.2f}' for x in machine['load_average_1_5_15'] or [])}.",
        "",
        f"## Alert latency ({lat['messages']} APPENDs over {lat['accounts']} accounts, "
        f"one every {lat['interval_s'] * 1000:g} ms)",
        "",
        "| from → to | p50 ms | p99 ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (
        ("append_ok_to_alert", "APPEND's OK → alert posted"),
        ("append_ok_to_server_exists", "APPEND's OK → the server's EXISTS (a bare IDLE session)"),
        ("clara_after_server_exists", "the server's EXISTS → alert posted (Clara's part)"),
        ("append_round_trip", "APPEND sent → its OK"),
    ):
        row = lat[key]
        lines.append(f"| {label} | {row['p50_ms']} | {row['p99_ms']} | {row['mean_ms']} |")
    lines += [
        "",
        f"Clara's part at p99: {clara['p99_ms']} ms {ok} (target ≤ {TARGET_CLARA_P99_MS:g} ms "
        f"after the server's own notification); slowest alert {lat['max_alert_ms']} ms after "
        f"its APPEND; {lat['alerts']} of {lat['messages']} alerted.",
        "",
        "## Idle accounts",
        "",
        "| accounts | all in IDLE after (Clara's CPU meanwhile) | RSS per account | threads "
        "before → idle (most while connecting) | fds per account | dovecot PSS per session |",
        "| ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for run in doc["footprint"]:
        per = run["per_account"]
        lines.append(
            f"| {run['accounts']:,} | {run['all_idle_after_s']} s "
            f"({run['cpu_while_connecting_s']} s) | "
            f"{per['rss_bytes'] / 1024:.1f} KB | {run['before']['threads']} → "
            f"{run['idle']['threads']} ({run['most_threads_while_connecting']}) | "
            f"{per['fds']} | {per['dovecot_pss_bytes'] / 1024:.0f} KB |"
        )
    limiter = doc["footprint"][0]["limiter_threads"]
    lines += [
        "",
        f"Worker threads are bounded by one limiter of {limiter} shared by every account; "
        "waiting in IDLE takes none.",
        "",
        f"## Back after a server restart ({restarted['accounts']} accounts)",
        "",
        f"dovecot's process group killed (every connection cut), then started again: "
        f"listening {restarted['server_listening_after_s']} s after the kill. Every account "
        f"back in IDLE {restarted['all_back_after_kill_s']} s after the kill "
        f"({restarted['all_back_after_listening_s']} s after the server listened again; "
        f"first {restarted['first_back_after_kill_s']} s, p50 "
        f"{restarted['back_after_kill']['p50_ms'] / 1000:.2f} s); "
        f"{restarted['accounts_needing_more_than_one_reconnect']} needed more than one "
        f"reconnect; {restarted['notices_to_owners']} notices to owners. Clara's CPU "
        f"time meanwhile: {restarted['clara_cpu_s']} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.email")
    parser.add_argument(
        "--quick", action="store_true", help="fewer messages, 100 idle accounts only"
    )
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sizes: dict[str, Any] = QUICK if arguments.quick else FULL
    figures: dict[str, Any] = {
        "latency": run_in_subprocess("bench.email", "latency", sizes["latency"], timeout=600),
        "footprint": [
            run_in_subprocess("bench.email", "footprint", {"accounts": n}, timeout=900)
            for n in sizes["footprint"]
        ],
        "restart": run_in_subprocess(
            "bench.email", "restart", {"accounts": sizes["restart"]}, timeout=600
        ),
    }
    failed = failed_part(figures)
    if failed is not None:
        print(failed, file=sys.stderr)
        return 1
    write_results("email", arguments.quick, figures, _markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
