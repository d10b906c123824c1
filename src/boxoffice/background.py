"""Background loops that stop when asked."""

from __future__ import annotations

import asyncio


def cancelling() -> bool:
    """Whether the running task was asked to stop, even if its CancelledError was lost.

    Loop on ``while not cancelling()``, not ``while True``: redis-py waits under
    ``asyncio.wait_for``, which in Python 3.11 can swallow a cancellation that arrives
    as its read completes, and a loop that never saw it keeps a shutdown waiting."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
