"""The runtime benchmarks still run (tiny sizes: this checks they work, never how fast)."""

from pathlib import Path

import pytest

from bench import clara_runtime


def test_tell_throughput_runs() -> None:
    result = clara_runtime.tell_throughput(2_000)
    assert result["messages"] == 2_000
    assert result["per_second"] > 0


def test_ask_latency_runs() -> None:
    result = clara_runtime.ask_latency(200)
    assert result["asks"] == 200
    assert 0 < result["p50_us"] <= result["p99_us"]


def test_spawn_runs() -> None:
    result = clara_runtime.spawn(500)
    assert result["actors"] == 500


@pytest.mark.parametrize("n", [20])
def test_restart_latency_runs(n: int) -> None:
    result = clara_runtime.restart_latency(n)
    assert result["restarts"] == n
    assert result["beyond_backoff_p50_us"] > -1000


def test_the_status_benchmark_client_modes_exist() -> None:
    from bench import status  # noqa: PLC0415 - the smoke test of one module

    assert status.TARGET_STATUS_MS == 50.0
    assert callable(status._client)


def test_the_mcp_benchmark_parts_run() -> None:
    import logging  # noqa: PLC0415

    from bench import mcp  # noqa: PLC0415 - the smoke test of one module

    try:
        overhead = mcp.overhead(20)
        assert overhead["calls"] == 20 and overhead["direct_sdk"]["p50_us"] > 0
        recovery = mcp.recovery(1)
        assert recovery["rounds"] == 1 and recovery["median_ms"] > 0
    finally:
        logging.disable(logging.NOTSET)  # the benchmark silences logging for its own process


def test_the_email_benchmark_parts_run() -> None:
    import logging  # noqa: PLC0415

    from bench import email  # noqa: PLC0415 - the smoke test of one module
    from tests.email.dovecot import dovecot_binary  # noqa: PLC0415
    from tests.helpers import require  # noqa: PLC0415

    require(dovecot_binary(), "dovecot (dovecot-imapd)")
    try:
        latency = email.latency(accounts=2, messages=4, interval=0.05)
        assert latency["alerts"] == 4 and latency["append_ok_to_alert"]["p50_ms"] > 0
        footprint = email.footprint(3)
        assert footprint["accounts"] == 3 and footprint["restarts"] == 0
        restart = email.restart(2)
        assert restart["accounts"] == 2 and restart["all_back_after_kill_s"] > 0
    finally:
        logging.disable(logging.NOTSET)  # the benchmark silences logging for its own process


def test_the_proactive_benchmark_parts_run() -> None:
    import logging  # noqa: PLC0415

    from bench import proactive  # noqa: PLC0415 - the smoke test of one module
    from bench._harness import machine_info  # noqa: PLC0415

    try:
        schedule = proactive.schedule(40, slice_minutes=10)
        assert schedule["save_check"]["checks"] > 0
        assert schedule["update"]["cpu_ms_per_person_per_day"] > 0
        actors = proactive.actors(20, slice_minutes=10)
        assert actors["checks"] > 0 and actors["cpu_ms_per_check"] > 0
        memory = proactive.memory(20)
        assert memory["live_after_start"] == 20 and memory["rows_with_snapshot"] == 20
        heap = proactive.memory(20, traced=True)
        assert heap["measure"] == "python_heap" and heap["live_bytes"] > 0
        spread = proactive.spread(60)
        assert spread["moved"] == 60 and 0 <= spread["earliest_s"] <= spread["latest_s"] < 1800
    finally:
        logging.disable(logging.NOTSET)  # the benchmark silences logging for its own process
    doc = {
        "mode": "quick",
        "timestamp": "now",
        "machine": machine_info(),
        "schedule": schedule,
        "actors": actors,
        "memory": memory,
        "heap": heap,
        "spread": spread,
    }
    assert "Spread after a restart" in proactive._markdown(doc)


def test_the_sandbox_benchmark_measures_a_backend() -> None:
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from bench import sandbox  # noqa: PLC0415 - the smoke test of one module
    from clara.adapters.sandbox import BubblewrapBackend  # noqa: PLC0415
    from tests.helpers import require  # noqa: PLC0415

    require(shutil.which("bwrap"), "bubblewrap (bwrap)")
    # Not under pytest's tmp_path: its folders are the caller's alone (0700), and each
    # sandbox's own user must pass through to its work folder.
    with tempfile.TemporaryDirectory(prefix="clara-bench-smoke-") as folder:
        Path(folder).chmod(0o711)
        backend = BubblewrapBackend(Path(folder) / "sandboxes")
        sizes = {"runs": 3, "cold": 2, "people": 3, "per_person": 2}
        figures = sandbox.measure(backend, sizes, "bwrap")
    assert figures["warm"]["n"] == 3 and figures["cold"]["n"] == 2
    assert figures["together"]["runs"] == 6
    assert "bubblewrap" in sandbox._markdown(
        {
            "mode": "quick",
            "timestamp": "now",
            "machine": {"cpus_usable": 2, "load_average_1_5_15": [0.0, 0.0, 0.0]},
            "backends": {"bubblewrap": figures},
            "skipped": {},
        }
    )
