"""The runtime benchmarks still run (tiny sizes: this checks they work, never how fast)."""

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
