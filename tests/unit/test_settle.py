"""The serving process's garbage collector (``app.settle``): young collections as far
apart as ``GC_YOUNG_OBJECTS`` says, and every pause timed into /metrics."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from boxoffice.app import create_app, settle
from boxoffice.config import Settings


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """``settle`` is meant for a serving process: the test's own is put back after."""
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks


def _pauses(text: str, generation: int) -> float:
    prefix = f'boxoffice_gc_pause_seconds_count{{generation="{generation}"}} '
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_settle_spaces_young_collections_and_times_each_pause(
    collector_restored: None, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'settle.db'}",
        load_demo_data=False,
        gc_young_objects=12_345,
    )
    app = settle(create_app(settings))
    assert gc.get_threshold()[0] == 12_345
    registry = app.state.ctx.metrics.registry
    before = generate_latest(registry).decode()
    gc.collect(1)
    gc.collect(2)
    after = generate_latest(registry).decode()
    # Generation 0 may also have been collected on its own meanwhile; 1 and 2 not.
    assert _pauses(after, 1) - _pauses(before, 1) >= 1
    assert _pauses(after, 2) - _pauses(before, 2) >= 1


def test_the_young_collections_spacing_is_bounded() -> None:
    with pytest.raises(ValueError, match="gc_young_objects"):
        Settings(gc_young_objects=10)
