"""Sandboxes: how long a warm ``print(1)`` takes, a cold start, and 20 people at once.

    python -m bench.sandbox [--quick]

For each backend this host has (``docker`` through podman's Docker-compatible API, started
here on a private socket with the image built by ``ensure_image``; ``bubblewrap``):

1. Warm: one sandbox, ``runs`` executions of ``python3 -c 'print(1)'``; wall time per run,
   p50 / p99 (the spike before this issue saw ~100 ms through podman).
2. Cold: ``cold`` times, make a sandbox, run ``print(1)`` once, remove it; p50 / p99 of make
   + first run.
3. Twenty people at once: 20 sandboxes, each running ``print(1)`` ``per_person`` times from a
   thread of its own (as 20 actors do through the shared limiter), on this host's cores;
   wall time per run p50 / p99, the total, and the memory the sandboxes take: the PSS of
   each container's ``conmon`` and everything under it for docker (the engine's own service
   is not counted), of the runs in flight for bubblewrap (which keeps no process between
   runs: 0 when idle).

The backends are measured directly (the actor adds a mailbox hop and a store write of the
audit row, microseconds against these figures). Writes bench/results/sandbox.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._harness import machine_info, percentile

RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"runs": 200, "cold": 20, "people": 20, "per_person": 10}
QUICK = {"runs": 40, "cold": 5, "people": 20, "per_person": 3}
PROBE = ["python3", "-c", "print(1)"]


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(percentile(ordered, 50) * 1000, 1),
        "p99_ms": round(percentile(ordered, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
        "n": len(ordered),
    }


@contextlib.contextmanager
def podman_engine() -> Iterator[str]:
    """podman's Docker-compatible API on a private socket (as the tests start it)."""
    import docker  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="clara-bench-podman-") as folder:
        url = f"unix://{folder}/podman.sock"
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", url],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = docker.DockerClient(base_url=url, version="1.41", timeout=10)
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.ping()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            client.close()
            yield url
        finally:
            service.terminate()
            try:
                service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.kill()


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid → (parent pid, command name)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        found[int(entry.name)] = (parent, name)
    return found


def _pss_under(root_name: str) -> int:
    """Summed PSS (bytes: shared pages split among their users) of every process named
    ``root_name`` and all its descendants: for docker through podman, each container's
    ``conmon`` and everything in the container; for bubblewrap, the runs in flight."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    todo = [pid for pid, (_, name) in processes.items() if name == root_name]
    total = 0
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def measure(backend: Any, sizes: dict[str, int], footprint: str) -> dict[str, Any]:
    from clara.adapters.sandbox import SandboxLimits  # noqa: PLC0415

    limits = SandboxLimits(memory_mb=256, pids=64, work_mb=64)

    def run(handle: Any) -> Any:
        return backend.execute(handle, PROBE, timeout=30, output_limit=1000)

    handle = backend.create("bench-warm", limits)
    try:
        assert run(handle).stdout == b"1\n"
        warm = []
        for _ in range(sizes["runs"]):
            started = time.perf_counter()
            run(handle)
            warm.append(time.perf_counter() - started)
    finally:
        backend.remove(handle)
    cold = []
    for index in range(sizes["cold"]):
        started = time.perf_counter()
        fresh = backend.create(f"bench-cold-{index}", limits)
        run(fresh)
        cold.append(time.perf_counter() - started)
        backend.remove(fresh)

    handles = [backend.create(f"bench-person-{n}", limits) for n in range(sizes["people"])]
    samples: list[float] = []
    lock = threading.Lock()
    idle_rss = _pss_under(footprint)

    def person(handle: Any) -> None:
        for _ in range(sizes["per_person"]):
            started = time.perf_counter()
            result = run(handle)
            took = time.perf_counter() - started
            assert result.stdout == b"1\n", result
            with lock:
                samples.append(took)

    try:
        threads = [threading.Thread(target=person, args=(h,)) for h in handles]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        busy_rss = 0
        while any(t.is_alive() for t in threads):
            busy_rss = max(busy_rss, _pss_under(footprint))
            time.sleep(0.05)
        total = time.perf_counter() - started
    finally:
        for handle in handles:
            backend.remove(handle)
    return {
        "warm": _ms(warm),
        "cold": _ms(cold),
        "together": {
            "people": sizes["people"],
            "runs": len(samples),
            "per_run": _ms(samples),
            "total_s": round(total, 2),
            "runs_per_s": round(len(samples) / total, 1),
            "pss_idle_bytes": idle_rss,
            "pss_busy_peak_bytes": busy_rss,
        },
    }


def _markdown(doc: dict[str, Any]) -> str:
    machine = doc["machine"]
    lines = [
        f"# Sandboxes ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']}; `python -m bench.sandbox`; {machine['cpus_usable']} CPUs, "
        f"load average at start {', '.join(f'{x:.2f}' for x in machine['load_average_1_5_15'])}.",
        "",
        "| backend | warm print(1) p50 / p99 | cold start (make + first run) p50 / p99 | "
        "20 people at once: per run p50 / p99 | runs/s | memory (PSS) of the 20, idle → busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, figures in doc["backends"].items():
        warm, cold, together = figures["warm"], figures["cold"], figures["together"]
        per = together["per_run"]
        lines.append(
            f"| {name} | {warm['p50_ms']} / {warm['p99_ms']} ms | {cold['p50_ms']} / "
            f"{cold['p99_ms']} ms | {per['p50_ms']} / {per['p99_ms']} ms | "
            f"{together['runs_per_s']} | {together['pss_idle_bytes'] / 2**20:.1f} → "
            f"{together['pss_busy_peak_bytes'] / 2**20:.1f} MiB |"
        )
    for name, reason in doc["skipped"].items():
        lines.append(f"| {name} | not measured: {reason} | | | | |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox")
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if arguments.quick else FULL
    from clara.adapters.sandbox import (  # noqa: PLC0415
        DEFAULT_IMAGE,
        BubblewrapBackend,
        DockerBackend,
        ensure_image,
    )

    backends: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    if shutil.which("podman"):
        ensure_image(DEFAULT_IMAGE)
        with podman_engine() as url:
            docker_backend = DockerBackend(url, DEFAULT_IMAGE)
            try:
                backends["docker (podman)"] = measure(docker_backend, sizes, "conmon")
            finally:
                docker_backend.close()
    else:
        skipped["docker (podman)"] = "podman is not installed"
    if shutil.which("bwrap"):
        with tempfile.TemporaryDirectory(prefix="clara-bench-bwrap-") as folder:
            root = Path(folder)
            root.chmod(0o711)
            bwrap = BubblewrapBackend(root / "sandboxes")
            backends["bubblewrap"] = measure(bwrap, sizes, "bwrap")
            bwrap.close()
    else:
        skipped["bubblewrap"] = "bwrap is not installed"
    doc = {
        "mode": "quick" if arguments.quick else "full",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "sizes": sizes,
        "backends": backends,
        "skipped": skipped,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = "sandbox-quick" if arguments.quick else "sandbox"
    (RESULTS / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(_markdown(doc))
    print(_markdown(doc))
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
