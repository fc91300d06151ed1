"""Run the runtime benchmarks: ``python -m bench.run [--quick] [--only PEER[,PEER]]``.

Every scenario of every peer runs in its own fresh interpreter. Figures go to
``bench/results/runtime.json`` and a Markdown table to ``bench/results/runtime.md``
(``runtime-quick.*`` with ``--quick``, so a smoke run never overwrites real figures).

Clara plugs in through ``bench/clara_runtime.py``, a module with the same four functions as
every peer, without prefix: ``tell_throughput(n)``, ``ask_latency(n)``, ``spawn(n)`` and
``restart_latency(n)`` (and optionally ``tell_throughput_drain(n)``). While that module is
missing or does not import, Clara's column reads "skipped" with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._harness import REPO_ROOT, Result, machine_info, run_in_subprocess

RESULTS_DIR = REPO_ROOT / "bench" / "results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Peer:
    name: str
    module: str
    #: Scenario ``s`` of this peer is the function ``prefix + s`` in ``module``.
    prefix: str
    description: str


PEERS: tuple[Peer, ...] = (
    Peer("clara", "bench.clara_runtime", "", "Clara's actor runtime (bench/clara_runtime.py)"),
    Peer(
        "trio_channel",
        "bench.peers",
        "trio_channel_",
        "a bare trio task reading a bounded trio memory channel: the floor",
    ),
    Peer(
        "asyncio_queue",
        "bench.peers",
        "asyncio_queue_",
        "a bare asyncio task reading an asyncio.Queue",
    ),
    Peer("pykka", "bench.peers", "pykka_", "pykka 4 ThreadingActor (one OS thread per actor)"),
    Peer(
        "thespian",
        "bench.peers",
        "thespian_",
        "thespian 4 on simpleSystemBase (every actor in the caller's thread, synchronous)",
    ),
)
PEER_NAMES = tuple(peer.name for peer in PEERS)
CLARA_MODULE_FILE = REPO_ROOT / "bench" / "clara_runtime.py"

#: Scenario functions, in run order. A peer that lacks an optional one simply has no figure.
SCENARIOS = ("tell_throughput", "tell_throughput_drain", "ask_latency", "spawn", "restart_latency")
OPTIONAL_SCENARIOS = frozenset({"tell_throughput_drain"})


@dataclass(frozen=True)
class Sizes:
    tell: int
    ask: int
    spawn: tuple[int, ...]
    restart: int


FULL_SIZES = Sizes(tell=200_000, ask=20_000, spawn=(1_000, 10_000, 100_000), restart=1_000)
QUICK_SIZES = Sizes(tell=20_000, ask=2_000, spawn=(100, 1_000, 10_000), restart=100)

#: Runs per measurement in a full run (the median run is kept): the machine is noisy.
FULL_REPEAT = 3

#: The issue's targets for Clara's runtime.
TARGET_TELLS_PER_SECOND = 1_000_000
TARGET_ASK_P50_US = 20.0
TARGET_ASK_P99_US = 100.0
TARGET_BYTES_PER_IDLE_ACTOR = 3_000  # "3 KB", read strictly as 3,000 bytes
TARGET_SPAWN_AT = 100_000
TARGET_RESTART_BEYOND_BACKOFF_US = 200.0


@dataclass(frozen=True)
class Measurement:
    key: str  # where the figures go in the results, e.g. "spawn_100000"
    scenario: str  # the function suffix, e.g. "spawn"
    n: int


def measurements(sizes: Sizes) -> list[Measurement]:
    spawns = [Measurement(f"spawn_{n}", "spawn", n) for n in sizes.spawn]
    return [
        Measurement("tell_throughput", "tell_throughput", sizes.tell),
        Measurement("tell_throughput_drain", "tell_throughput_drain", sizes.tell),
        Measurement("ask_latency", "ask_latency", sizes.ask),
        *spawns,
        Measurement("restart_latency", "restart_latency", sizes.restart),
    ]


# --------------------------------------------------------------------------- running


def run_peer(
    peer: Peer, sizes: Sizes, log: Callable[[str], None], repeat: int = 1
) -> dict[str, Result]:
    """Every scenario of one peer, each in a fresh process (``repeat`` of them, keeping the
    run whose headline figure is the median)."""
    plan = measurements(sizes)
    functions, unavailable = _available_functions(peer)
    if unavailable is not None:
        log(f"{peer.name}: skipped ({unavailable})")
        return {
            m.key: {"skipped": unavailable} for m in plan if m.scenario not in OPTIONAL_SCENARIOS
        }
    results: dict[str, Result] = {}
    for m in plan:
        function = peer.prefix + m.scenario
        if function not in functions:
            if m.scenario not in OPTIONAL_SCENARIOS:
                results[m.key] = {"skipped": f"{peer.module} defines no {function}()"}
            continue
        started = time.perf_counter()
        result = _median_run(
            [run_in_subprocess(peer.module, function, {"n": m.n}) for _ in range(repeat)],
            HEADLINE[m.scenario],
        )
        results[m.key] = result
        elapsed = time.perf_counter() - started
        log(f"{peer.name:>13}  {m.key:<22} {elapsed:6.1f} s  {_brief(result)}")
    return results


#: The figure that picks the median run when a measurement is repeated.
HEADLINE = {
    "tell_throughput": "per_second",
    "tell_throughput_drain": "per_second",
    "ask_latency": "p50_us",
    "spawn": "rss_bytes_per_actor",
    "restart_latency": "p50_us",
}


def _median_run(runs: list[Result], field: str) -> Result:
    """The run whose ``field`` is the (lower) median; a failed run wins only if all failed."""
    good = [r for r in runs if isinstance(r.get(field), int | float)]
    if not good:
        return runs[0]
    good.sort(key=lambda r: r[field])
    chosen = dict(good[(len(good) - 1) // 2])
    if len(runs) > 1:
        chosen["repeats"] = len(runs)
        chosen[f"all_{field}"] = [r.get(field) for r in runs]
    return chosen


def _available_functions(peer: Peer) -> tuple[set[str], str | None]:
    """The scenario functions ``peer.module`` defines, or why the peer cannot run at all."""
    if peer.module == "bench.clara_runtime" and not CLARA_MODULE_FILE.exists():
        return set(), "bench/clara_runtime.py does not exist"
    probe = run_in_subprocess(
        "bench._harness",
        "probe",
        {"module": peer.module, "names": [peer.prefix + s for s in SCENARIOS]},
        timeout=120,
    )
    if "functions" not in probe:
        reason = str(probe.get("skipped") or probe.get("error") or "probe failed")
        return set(), f"{peer.module} failed to import ({reason.removeprefix('cannot import: ')})"
    return set(probe["functions"]), None


def _brief(result: Result) -> str:
    if "skipped" in result:
        return f"skipped: {result['skipped']}"
    if "error" in result:
        return f"ERROR: {result['error']}"
    shown = ("per_second", "p50_us", "p99_us", "us_per_actor", "rss_bytes_per_actor")
    text = "  ".join(f"{k}={result[k]}" for k in shown if k in result)
    repeated = [f"{k}={v}" for k, v in result.items() if k.startswith("all_")]
    return "  ".join([text, *repeated])


# --------------------------------------------------------------------------- Markdown


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    field: str
    target: str = ""
    meets: Callable[[float], bool] | None = None


def table_rows(sizes: Sizes) -> list[Row]:
    largest_spawn = max(sizes.spawn)
    rows = [
        Row(
            f"tell throughput, msg/s (n={sizes.tell:,})",
            "tell_throughput",
            "per_second",
            f"≥ {TARGET_TELLS_PER_SECOND:,}/s",
            lambda v: v >= TARGET_TELLS_PER_SECOND,
        ),
        Row(
            "tell throughput, no checkpoint per message, msg/s",
            "tell_throughput_drain",
            "per_second",
        ),
        Row(
            f"ask p50, µs (n={sizes.ask:,})",
            "ask_latency",
            "p50_us",
            f"≤ {TARGET_ASK_P50_US:g} µs",
            lambda v: v <= TARGET_ASK_P50_US,
        ),
        Row(
            "ask p99, µs",
            "ask_latency",
            "p99_us",
            f"≤ {TARGET_ASK_P99_US:g} µs",
            lambda v: v <= TARGET_ASK_P99_US,
        ),
        Row("ask mean, µs", "ask_latency", "mean_us"),
    ]
    for n in sizes.spawn:
        rows.append(Row(f"spawn {n:,}: µs per actor", f"spawn_{n}", "us_per_actor"))
        if n == largest_spawn:
            at = "" if n == TARGET_SPAWN_AT else f" (target is at {TARGET_SPAWN_AT:,})"
            rows.append(
                Row(
                    f"spawn {n:,}: RSS bytes per idle actor",
                    f"spawn_{n}",
                    "rss_bytes_per_actor",
                    f"≤ 3 KB{at}",
                    lambda v: v <= TARGET_BYTES_PER_IDLE_ACTOR,
                )
            )
        else:
            rows.append(
                Row(f"spawn {n:,}: RSS bytes per idle actor", f"spawn_{n}", "rss_bytes_per_actor")
            )
    beyond = f"≤ {TARGET_RESTART_BEYOND_BACKOFF_US:g} µs beyond backoff"
    rows += [
        Row(f"restart p50, µs (n={sizes.restart:,})", "restart_latency", "p50_us"),
        Row("restart p99, µs", "restart_latency", "p99_us"),
        Row("restart mean, µs", "restart_latency", "mean_us"),
        Row(
            "restart beyond backoff p50, µs",
            "restart_latency",
            "beyond_backoff_p50_us",
            beyond,
            lambda v: v <= TARGET_RESTART_BEYOND_BACKOFF_US,
        ),
        Row(
            "restart beyond backoff p99, µs",
            "restart_latency",
            "beyond_backoff_p99_us",
            beyond,
            lambda v: v <= TARGET_RESTART_BEYOND_BACKOFF_US,
        ),
        Row(
            "  of which trio's own timer is late, p50 / µs",
            "restart_latency",
            "trio_timer_overshoot_p50_us",
        ),
        Row(
            "  of which trio's own timer is late, p99 / µs",
            "restart_latency",
            "trio_timer_overshoot_p99_us",
        ),
        Row("restart with no backoff, p50 µs", "restart_latency", "no_backoff_p50_us"),
        Row("restart with no backoff, p99 µs", "restart_latency", "no_backoff_p99_us"),
    ]
    return rows


def _format(field: str, value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    if field in {"per_second", "rss_bytes_per_actor"}:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def render_markdown(doc: Result) -> str:
    raw = doc["sizes"]
    sizes = Sizes(
        tell=int(raw["tell"]),
        ask=int(raw["ask"]),
        spawn=tuple(int(n) for n in raw["spawn"]),
        restart=int(raw["restart"]),
    )
    peers: dict[str, dict[str, Result]] = doc["peers"]
    names = [name for name in PEER_NAMES if name in peers]
    notes: dict[str, int] = {}

    def note(text: str) -> str:
        number = notes.setdefault(text, len(notes) + 1)
        return f"[{number}]"

    lines = [
        "| scenario | " + " | ".join(names) + " | target (Clara) |",
        "| --- | " + " | ".join("---:" for _ in names) + " | --- |",
    ]
    for row in table_rows(sizes):
        cells = []
        for name in names:
            result = peers[name].get(row.key)
            if result is None:
                cells.append("—")
            elif "skipped" in result:
                cells.append("skipped " + note(f"{name}: {result['skipped']}"))
            elif "error" in result:
                cells.append("error " + note(f"{name}: {result['error']}"))
            elif row.field not in result or result[row.field] is None:
                cells.append("—")
            else:
                text = _format(row.field, result[row.field])
                if name == "clara" and row.meets is not None:
                    text += " ✓" if row.meets(result[row.field]) else " ✗"
                cells.append(text)
        lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {row.target} |")

    machine = doc["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    repeat = int(doc.get("repeat", 1))
    cell = (
        "Each cell is one measurement in a fresh process."
        if repeat == 1
        else f"Each cell is the median of {repeat} measurements, each in a fresh process."
    )
    load = ", ".join(f"{x:.2f}" for x in machine.get("load_average_1_5_15") or [])
    header = [
        f"# Runtime benchmarks ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']} on {machine['cpu_count']} CPUs "
        f"({machine.get('cpu_model') or 'unknown CPU'}), Python {machine['python']}, "
        f"{machine['platform']}; {packages}.",
        f"Load average at start: {load}.",
        "",
        f"{cell} The machine is shared and noisy: "
        "compare ratios between columns of one run, not absolute figures across runs. "
        "✓/✗ marks Clara against the issue's targets; the peers report raw restart latency, "
        "Clara also reports it net of its backoff delay.",
        "",
    ]
    carried = {
        name: at for name, at in doc.get("measured_at", {}).items() if at != doc["timestamp"]
    }
    if carried:
        header += [
            "Carried over from earlier runs (`--only`): "
            + ", ".join(f"{name} ({at})" for name, at in carried.items())
            + ".",
            "",
        ]
    footer = ["", "Peers:", ""]
    footer += [f"- **{p.name}**: {p.description}" for p in PEERS if p.name in peers]
    if notes:
        footer += ["", "Notes:", ""]
        footer += [f"{number}. {text}" for text, number in notes.items()]
    return "\n".join([*header, *lines, *footer]) + "\n"


# --------------------------------------------------------------------------- main


def parse_only(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEER_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown peer(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PEER_NAMES)}"
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="sizes divided by 10: a smoke run (runtime-quick.*)"
    )
    parser.add_argument(
        "--only",
        type=parse_only,
        metavar="PEER[,PEER]",
        help=f"run only these peers ({', '.join(PEER_NAMES)}); the others' figures are "
        "carried over from the existing results file of the same mode",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="K",
        help="run every measurement K times (a fresh process each) and keep the median run; "
        f"default {FULL_REPEAT} for a full run, 1 with --quick",
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else FULL_REPEAT
    if not 1 <= args.repeat <= 9:
        parser.error("--repeat takes 1 to 9")
    mode = "quick" if args.quick else "full"
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    selected = [peer for peer in PEERS if args.only is None or peer.name in args.only]
    stem = "runtime-quick" if args.quick else "runtime"
    json_path = RESULTS_DIR / f"{stem}.json"
    md_path = RESULTS_DIR / f"{stem}.md"

    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    began = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f} s] {line}", flush=True)

    machine = machine_info()
    log(f"{mode} run of {', '.join(p.name for p in selected)} on {machine['cpu_count']} CPUs")

    peers_out: dict[str, dict[str, Result]] = {}
    measured_at: dict[str, str] = {}
    if args.only is not None:
        peers_out, measured_at = _carried_over(json_path, mode, sizes, keep_out=args.only)
    for peer in selected:
        peers_out[peer.name] = run_peer(peer, sizes, log, repeat=args.repeat)
        measured_at[peer.name] = timestamp

    doc: Result = {
        "schema": SCHEMA_VERSION,
        "mode": mode,
        "timestamp": timestamp,
        "machine": machine,
        "sizes": asdict(sizes),
        "repeat": args.repeat,
        "targets": {
            "tell_per_second_min": TARGET_TELLS_PER_SECOND,
            "ask_p50_us_max": TARGET_ASK_P50_US,
            "ask_p99_us_max": TARGET_ASK_P99_US,
            "rss_bytes_per_idle_actor_max": TARGET_BYTES_PER_IDLE_ACTOR,
            "rss_target_at_actors": TARGET_SPAWN_AT,
            "restart_beyond_backoff_us_max": TARGET_RESTART_BEYOND_BACKOFF_US,
        },
        "peers": {name: peers_out[name] for name in PEER_NAMES if name in peers_out},
        "measured_at": {name: measured_at[name] for name in PEER_NAMES if name in measured_at},
        "wall_seconds": round(time.perf_counter() - began, 1),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(render_markdown(doc))
    log(f"wrote {json_path.relative_to(REPO_ROOT)} and {md_path.relative_to(REPO_ROOT)}")
    return 0


def _carried_over(
    path: Path, mode: str, sizes: Sizes, keep_out: Sequence[str]
) -> tuple[dict[str, dict[str, Result]], dict[str, str]]:
    """The other peers' figures from an earlier run of the same mode and sizes, if any."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, {}
    if old.get("mode") != mode or old.get("sizes") != json.loads(json.dumps(asdict(sizes))):
        return {}, {}
    peers = {k: v for k, v in old.get("peers", {}).items() if k not in keep_out}
    at = old.get("measured_at", {})
    return peers, {k: at.get(k, old.get("timestamp", "?")) for k in peers}


if __name__ == "__main__":
    sys.exit(main())
