"""/readyz's probe bound: a dependency check answers "unreachable" at its bound even
when the probe's own clean-up hangs (a connection handed back to a frozen database)."""

from __future__ import annotations

import asyncio

import pytest

from boxoffice import app


async def _probe_with_slow_clean_up() -> None:
    try:
        await asyncio.sleep(60)  # the query that a frozen server never answers
    finally:
        await asyncio.shield(asyncio.sleep(5))  # the clean-up that waits on it too


async def test_a_probe_past_its_bound_is_unreachable_at_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app, "READY_TIMEOUT_SECONDS", 0.1)
    state = await asyncio.wait_for(app._check(_probe_with_slow_clean_up()), timeout=2)
    assert state == "unreachable"


async def test_control_wait_for_waits_out_the_probes_clean_up() -> None:
    with pytest.raises(TimeoutError):  # the outer bound fires: the inner one did not hold
        await asyncio.wait_for(
            asyncio.wait_for(_probe_with_slow_clean_up(), timeout=0.1), timeout=2
        )


async def test_a_probe_that_answers_or_fails_in_time() -> None:
    async def fine() -> None:
        return None

    async def broken() -> None:
        raise OSError("refused")

    assert await app._check(fine()) == "ok"
    assert await app._check(broken()) == "unreachable"
