"""The status page in a real headless browser (Debian's chromium), against the real server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from clara.supervisors import Backoff, ChildSpec, DynamicSupervisor
from tests.adapters.http.harness import TOKEN, serving
from tests.helpers import Crash, Recorder, require

REPO = Path(__file__).resolve().parents[3]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require(found, "chromium (apt-get install chromium)")
    assert found is not None
    return found


async def dump_dom(url: str, profile: str) -> str:
    result = await trio.run_process(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_stdout=True,
        capture_stderr=True,
    )
    return result.stdout.decode()


@pytest.mark.trio
async def test_the_page_renders_the_tree_and_shows_an_actor_that_is_restarting() -> None:
    channels = DynamicSupervisor(lambda key: Recorder())
    async with serving(
        [ChildSpec("a", Recorder), ChildSpec("worker", Recorder), ChildSpec("channels", channels)]
    ) as served:
        for key in range(120):
            await channels.get_or_start(key)
        await served.root.ref("worker").tell(Crash("the disk is full"))
        await trio.testing.wait_all_tasks_blocked()
        with tempfile.TemporaryDirectory() as profile:
            dom = await dump_dom(served.url + "/", profile)
    # The tree: every supervisor is a section, with its actors as rows.
    assert 'data-supervisor="/clara"' in dom
    assert 'data-supervisor="/clara/channels"' in dom
    assert 'data-path="/clara/a"' in dom
    # A big supervisor shows the first 50 children and says how many more there are.
    assert "… and 70 more, all running or idle" in dom
    # The restarting actor stands out: in "Needs attention", with its state and its reason.
    attention = dom.split('id="attention"', 1)[1].split("</section>", 1)[0]
    assert 'data-path="/clara/worker"' in attention
    assert 'data-state="backing_off"' in attention
    assert "ValueError: the disk is full" in attention
    assert "restart 1 in" in attention
    assert 'data-path="/clara/a"' not in attention  # running actors are not in it
    assert "<span>123 actors</span>" in dom  # status, a, worker and 120 channels


class Gateway(Recorder):
    """Details shaped like the LLM gateway's: its figures, and each provider's breaker."""

    def describe(self) -> dict[str, Any] | None:
        return {
            "calls": 7,
            "failures": 3,
            "providers": [
                {"name": "openai", "up": False, "breaker": {"state": "open", "failures": 3}},
                {"name": "local", "up": True, "breaker": {"state": "closed", "failures": 0}},
            ],
        }


def section(dom: str, name: str) -> str:
    return dom.split(f'id="{name}-section"', 1)[1].split("</section>", 1)[0]


@pytest.mark.trio
async def test_the_page_shows_readiness_first_and_never_says_all_is_well_when_not_ready() -> None:
    """Issue 13, item 13: "Needs attention 0 — Everything is running" while /readyz said 503."""
    channels = DynamicSupervisor(lambda key: Recorder(), backoff=Backoff(min=30.0, jitter=0.0))
    async with serving([ChildSpec("gateway", Gateway), ChildSpec("channels", channels)]) as served:
        served.readiness.register("llm", lambda: "no model answers: openai: HTTP 401")
        refs = [await channels.get_or_start(key) for key in range(120)]
        await refs[100].tell(Crash("the disk is full"))  # past the 50 the overview lists
        await trio.testing.wait_all_tasks_blocked()
        with tempfile.TemporaryDirectory() as profile:
            dom = await dump_dom(served.url + "/", profile)
    assert dom.index('id="readiness-section"') < dom.index('id="attention-section"')
    assert dom.index('id="attention-section"') < dom.index('data-supervisor="/clara"')
    readiness = section(dom, "readiness")
    assert 'id="ready-badge">not ready<' in readiness
    assert 'data-check="llm"' in readiness
    assert "no model answers: openai: HTTP 401" in readiness
    attention = section(dom, "attention")
    assert 'id="attention-count">2<' in attention  # one check, one actor
    assert "Everything is running" not in attention
    assert "Not ready: 1 check fails (above)." in attention
    assert 'data-path="/clara/channels/100"' in attention
    assert "ValueError: the disk is full" in attention
    # Each actor's details beside it: the gateway's figures and one line per provider.
    gateway = dom.split('data-path="/clara/gateway"', 1)[1].split("</tr>", 1)[0]
    assert "calls 7 · failures 3" in gateway
    assert "providers: openai </b>up false · breaker.state open · breaker.failures 3" in gateway
    assert "providers: local </b>up true · breaker.state closed" in gateway
    # The crashed channel is also in its supervisor's section, after the first 50.
    assert "… and 69 more, all running or idle (status?path=/clara/channels&amp;" in dom


@pytest.mark.trio
async def test_the_page_says_ready_and_all_well_only_when_both_are_true() -> None:
    async with serving([ChildSpec("a", Recorder)]) as served:
        with tempfile.TemporaryDirectory() as profile:
            dom = await dump_dom(served.url + "/", profile)
    readiness = section(dom, "readiness")
    assert 'id="ready-badge">ready<' in readiness
    assert "Ready: every check passes." in readiness
    attention = section(dom, "attention")
    assert 'id="attention-count">0<' in attention
    assert "Everything is running." in attention


@pytest.mark.trio
async def test_a_screenshot_of_the_page_can_be_taken(tmp_path: Path) -> None:
    async with serving([ChildSpec("worker", Recorder)]) as served:
        await served.root.ref("worker").tell(Crash("the disk is full"))
        await trio.testing.wait_all_tasks_blocked()
        shot = tmp_path / "status.png"
        await trio.run_process(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1200,800",
                "--virtual-time-budget=5000",
                f"--screenshot={shot}",
                served.url + "/",
            ],
            capture_stdout=True,
            capture_stderr=True,
        )
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


@pytest.mark.trio
async def test_the_cli_draws_the_tree_and_flags_trouble() -> None:
    async with serving([ChildSpec("a", Recorder), ChildSpec("worker", Recorder)]) as served:
        await served.root.ref("worker").tell(Crash("the disk is full"))
        await trio.testing.wait_all_tasks_blocked()
        result = await trio.run_process(
            [sys.executable, "-m", "clara", "status", "--url", served.url, "--check"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=REPO,
        )
        output = result.stdout.decode()
        assert result.returncode == 1, result.stderr.decode()  # --check: something is failing
        assert "3 actors, 1 supervisors" in output
        lines = output.splitlines()
        [worker] = [line for line in lines if "worker" in line]
        assert worker.startswith("!")
        assert "backing off" in worker
        assert "last failure ValueError: the disk is full" in worker
        [a] = [line for line in lines if "── a " in line]
        assert a.startswith(" ")
        filtered = await trio.run_process(
            [sys.executable, "-m", "clara", "status", "--url", served.url, "--state", "running"],
            capture_stdout=True,
            cwd=REPO,
        )
        assert "worker" not in filtered.stdout.decode()


@pytest.mark.trio
async def test_the_cli_asks_for_the_whole_tree_with_all() -> None:
    async with serving([ChildSpec("a", Recorder)]) as served:
        overview, whole = [
            msgspec.json.decode(
                (
                    await trio.run_process(
                        [sys.executable, "-m", "clara", "status", "--url", served.url, "--json",
                         *extra],
                        capture_stdout=True,
                        cwd=REPO,
                    )
                ).stdout
            )
            for extra in ([], ["--all"])
        ]  # fmt: skip
    assert overview["query"]["view"] == "overview"
    assert whole["query"]["view"] == "tree"
    assert "/clara/a" in {node["path"] for node in whole["nodes"]}


@pytest.mark.trio
async def test_the_cli_sends_the_token_from_the_environment() -> None:
    async with serving(token=TOKEN) as served:
        refused = await trio.run_process(
            [sys.executable, "-m", "clara", "status", "--url", served.url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=REPO,
        )
        assert refused.returncode == 2
        assert "wants a token: set CLARA_STATUS_TOKEN" in refused.stderr.decode()
        accepted = await trio.run_process(
            [sys.executable, "-m", "clara", "status", "--url", served.url, "--json"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=REPO,
            env={"CLARA_STATUS_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )
        assert accepted.returncode == 0, accepted.stderr.decode()
        assert b'"root":"/clara"' in accepted.stdout
        assert TOKEN.encode() not in accepted.stdout


def test_the_cli_says_clearly_when_clara_is_not_there() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clara", "status", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot reach http://127.0.0.1:9/status" in result.stderr
