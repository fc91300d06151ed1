"""Readiness details: what operators should know beside the verdict (a person's mail
account in error), shown on /readyz and /status, never changing the verdict (issue 15,
item 7)."""

from __future__ import annotations

import pytest

from clara.health import Readiness
from tests.adapters.http.harness import serving


@pytest.mark.trio
async def test_details_are_shown_beside_readiness_and_never_change_it() -> None:
    async with serving() as served:
        served.readiness.register_details("email", lambda: {"accounts": 3, "in_error": [7]})
        ready = await served.client.get(f"{served.url}/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["ready"] is True
        assert body["details"] == {"email": {"accounts": 3, "in_error": [7]}}
        status = (await served.client.get(f"{served.url}/status")).json()
        assert status["readiness"]["details"]["email"]["in_error"] == [7]
        served.readiness.register("store", lambda: "the database is unavailable: test")
        not_ready = await served.client.get(f"{served.url}/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["details"] == {"email": {"accounts": 3, "in_error": [7]}}


def test_a_detail_that_raises_says_so_in_its_place() -> None:
    readiness = Readiness()

    def broken() -> dict[str, object]:
        raise RuntimeError("boom")

    readiness.register_details("email", broken)
    readiness.register_details("other", lambda: {"fine": True})
    assert readiness.details() == {
        "email": {"error": "the detail raised RuntimeError"},
        "other": {"fine": True},
    }
    assert readiness.evaluate() == {}  # details are not checks
    with pytest.raises(ValueError, match="non-empty str"):
        readiness.register_details("", lambda: {})
