"""Send every item submitted in one turn of the event loop as one batch; and, on top
of that, writes of one turn that share one statement."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
R = TypeVar("R")


class Batcher(Generic[Item, R]):
    """Each caller's answer is as fresh as a call of its own (the batch leaves after
    the item arrived); what is saved is the client's cost per call. ``send`` answers
    each item in order; an exception it raises is every item's, and one it answers
    for an item is raised to that item's caller alone. ``most`` (0: no bound) caps a
    batch: one that fills leaves at once, and what comes after starts the next (a
    batch is one call inside Redis, which holds every other client while it runs)."""

    def __init__(
        self, send: Callable[[list[Item]], Awaitable[Sequence[R | Exception]]], *, most: int = 0
    ) -> None:
        self._send = send
        self._most = most
        self._waiting: list[tuple[Item, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._flush)
        elif len(self._waiting) == self._most:
            self._flush()
        return await future

    def _flush(self) -> None:
        if not self._waiting:  # a full batch left before its turn came
            return
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


Who = TypeVar("Who", bound=Hashable)


class Together(Generic[Item, Who, R]):
    """Writes of one turn of the event loop, one statement for all of them that can
    share one: those of distinct writers (``who``: a fan's row is written once per
    statement) in the same ``group`` (what the statement is bound to besides its
    rows). ``together`` answers the shared statement by writer (a writer it does not
    answer: None); an item whose writer is already in it, or that is alone in its
    group, is done by ``alone``, after the shared statement. The shared statement is
    atomic: when it raises one of ``unchanged`` it wrote nothing, and each of its items
    is done ``alone`` to be answered as it would have been alone. Anything else it
    raises is the answer of every item in it; the items that were to be done alone
    after it still are."""

    def __init__(
        self,
        *,
        together: Callable[[list[Item]], Awaitable[Mapping[Who, R]]],
        alone: Callable[[Item], Awaitable[R | None]],
        who: Callable[[Item], Who],
        group: Callable[[Item], Hashable] = lambda _: None,
        unchanged: tuple[type[Exception], ...] = (),
    ) -> None:
        self._together = together
        self._alone = alone
        self._who = who
        self._group = group
        self._unchanged = unchanged
        self._batcher: Batcher[Item, R | None] = Batcher(self._send)

    async def submit(self, item: Item) -> R | None:
        return await self._batcher.submit(item)

    async def _send(self, items: list[Item]) -> list[R | Exception | None]:
        groups: dict[Hashable, list[int]] = {}
        for at, item in enumerate(items):
            groups.setdefault(self._group(item), []).append(at)
        answers: list[R | Exception | None] = [None] * len(items)
        done = await asyncio.gather(
            *(self._send_group(items, ats, answers) for ats in groups.values()),
            return_exceptions=True,
        )
        for ats, failed in zip(groups.values(), done, strict=True):
            if isinstance(failed, Exception):
                for at in ats:
                    answers[at] = failed
            elif isinstance(failed, BaseException):
                raise failed
        return answers

    async def _send_group(
        self, items: list[Item], ats: list[int], answers: list[R | Exception | None]
    ) -> None:
        firsts: dict[Who, int] = {}
        for at in ats:
            firsts.setdefault(self._who(items[at]), at)
        alone = [at for at in ats if firsts[self._who(items[at])] != at]
        if len(firsts) == 1:
            alone = ats
        else:
            try:
                found = await self._together([items[at] for at in firsts.values()])
            except self._unchanged:
                alone = ats
            except Exception as error:
                for at in firsts.values():
                    answers[at] = error
            else:
                for who, at in firsts.items():
                    answers[at] = found.get(who)
        for at in alone:
            try:
                answers[at] = await self._alone(items[at])
            except Exception as error:
                answers[at] = error

    async def close(self) -> None:
        """Wait for the writes already sent."""
        await self._batcher.close()
