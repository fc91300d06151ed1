import random

import pytest

from clara.supervisors import Backoff, RestartIntensity


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    backoff = Backoff(min=0.1, max=1.0, multiplier=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff.delay(10_000) == 1.0  # no overflow on huge attempt numbers


def test_backoff_jitter_stays_within_its_spread_and_the_cap() -> None:
    backoff = Backoff(min=1.0, max=4.0, multiplier=2.0, jitter=0.25)
    rng = random.Random(7)
    firsts = [backoff.delay(1, rng) for _ in range(1000)]
    assert min(firsts) >= 0.75 and max(firsts) <= 1.25
    assert len(set(firsts)) > 900  # really random
    capped = [backoff.delay(5, rng) for _ in range(1000)]
    assert max(capped) <= 4.0 and min(capped) >= 3.0


def test_backoff_zero_minimum_restarts_at_once() -> None:
    assert Backoff(min=0.0, max=0.0, jitter=0.5).delay(3) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min": -1}, "backoff min must be at least 0; got -1"),
        ({"min": 5, "max": 1}, r"backoff max must be at least backoff min \(5\); got 1"),
        ({"multiplier": 0.5}, "backoff multiplier must be at least 1; got 0.5"),
        ({"jitter": 2}, "backoff jitter must be between 0 and 1; got 2"),
        ({"reset_after": 0}, "backoff reset_after must be greater than 0; got 0"),
        ({"max": "soon"}, "backoff max must be a number of seconds; got 'soon'"),
    ],
)
def test_backoff_arguments_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_backoff_attempts_are_one_based() -> None:
    with pytest.raises(ValueError, match="attempt must be at least 1; got 0"):
        Backoff().delay(0)


def test_restart_intensity_refuses_the_restart_past_the_limit_within_the_window() -> None:
    intensity = RestartIntensity(max_restarts=2, max_seconds=5.0)
    assert intensity.allow(0.0)
    assert intensity.allow(1.0)
    assert not intensity.allow(2.0)  # the third within 5 s
    assert intensity.in_window(2.0) == 2
    assert intensity.allow(5.5)  # the restart at 0.0 has left the window
    assert intensity.in_window(5.5) == 2


def test_zero_max_restarts_refuses_every_restart() -> None:
    assert not RestartIntensity(0, 1.0).allow(0.0)


def test_a_restart_exactly_max_seconds_old_still_counts_as_in_otp() -> None:
    intensity = RestartIntensity(max_restarts=1, max_seconds=5.0)
    assert intensity.allow(10.0)
    assert intensity.in_window(15.0) == 1  # 5 s old: still inside the window
    assert not intensity.allow(15.0)
    assert intensity.in_window(15.0 + 1e-9) == 0  # a moment later it has left
    assert intensity.allow(15.0 + 1e-9)
