"""Send every item submitted in one turn of the event loop as one batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
R = TypeVar("R")


class Batcher(Generic[Item, R]):
    """Each caller's answer is as fresh as a call of its own (the batch leaves after
    the item arrived); what is saved is the client's cost per call. ``send`` answers
    each item in order; an exception it raises is every item's, and one it answers
    for an item is raised to that item's caller alone."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[Sequence[R | Exception]]]) -> None:
        self._send = send
        self._waiting: list[tuple[Item, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[R]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the batches already sent."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
