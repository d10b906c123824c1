"""Writes of one event-loop turn that share a statement (``Together``), on stand-ins
for the statement: who is in the shared one, who is done alone, and who is answered
what when it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from boxoffice.storage.batcher import Batcher, Together


class Unchanged(Exception):
    """The shared statement failed having written nothing."""


@dataclass
class Statements:
    """What was sent: each shared statement's items, and each item done alone."""

    shared: list[list[str]] = field(default_factory=list)
    alone: list[str] = field(default_factory=list)
    fail_shared: Exception | None = None

    async def together(self, items: list[str]) -> Mapping[str, str]:
        self.shared.append(items)
        if self.fail_shared is not None:
            raise self.fail_shared
        return {item[0]: f"shared {item}" for item in items}

    async def by_itself(self, item: str) -> str:
        self.alone.append(item)
        return f"alone {item}"


def _writes(sent: Statements, group: dict[str, Hashable] | None = None) -> Together[str, str, str]:
    """Items are "<writer><n>" (the writer is the first letter)."""
    return Together(
        together=sent.together,
        alone=sent.by_itself,
        who=lambda item: item[0],
        group=lambda item: (group or {}).get(item, None),
        unchanged=(Unchanged,),
    )


async def _all(writes: Together[str, str, str], *items: str) -> list[object]:
    return await asyncio.gather(*(writes.submit(i) for i in items), return_exceptions=True)


async def test_distinct_writers_share_one_statement_and_a_writers_second_runs_alone() -> None:
    sent = Statements()
    answers = await _all(_writes(sent), "a1", "b1", "a2", "c1")
    assert sent.shared == [["a1", "b1", "c1"]]
    assert sent.alone == ["a2"]
    assert answers == ["shared a1", "shared b1", "alone a2", "shared c1"]


async def test_a_writer_alone_in_its_group_runs_alone() -> None:
    sent = Statements()
    answers = await _all(_writes(sent, {"c1": "other"}), "a1", "b1", "c1")
    assert sent.shared == [["a1", "b1"]]
    assert sent.alone == ["c1"]
    assert answers == ["shared a1", "shared b1", "alone c1"]


async def test_a_shared_statement_that_wrote_nothing_sends_each_back_alone() -> None:
    sent = Statements(fail_shared=Unchanged())
    answers = await _all(_writes(sent), "a1", "b1", "a2")
    assert sent.alone == ["a1", "b1", "a2"]
    assert answers == ["alone a1", "alone b1", "alone a2"]


async def test_any_other_failure_is_the_answer_of_those_in_it_and_the_rest_still_run() -> None:
    failure = RuntimeError("the connection was lost")
    sent = Statements(fail_shared=failure)
    answers = await _all(_writes(sent), "a1", "b1", "a2")
    assert answers[0] is failure and answers[1] is failure
    assert sent.alone == ["a2"]
    assert answers[2] == "alone a2"


async def test_items_of_a_later_turn_are_a_statement_of_their_own() -> None:
    sent = Statements()
    writes = _writes(sent)
    first = await _all(writes, "a1", "b1")
    second = await _all(writes, "a2", "b2")
    assert sent.shared == [["a1", "b1"], ["a2", "b2"]]
    assert (first, second) == (["shared a1", "shared b1"], ["shared a2", "shared b2"])


async def test_a_writer_the_statement_does_not_answer_is_answered_none() -> None:
    sent = Statements()

    async def without_b(items: list[str]) -> Mapping[str, str]:
        found = dict(await sent.together(items))
        del found["b"]
        return found

    writes: Together[str, str, str] = Together(
        together=without_b, alone=sent.by_itself, who=lambda item: item[0]
    )
    assert await _all(writes, "a1", "b1") == ["shared a1", None]


async def test_a_capped_batch_leaves_when_full_and_the_rest_make_the_next() -> None:

    sent: list[list[int]] = []

    async def send(items: list[int]) -> list[int]:
        sent.append(items)
        return [item * 2 for item in items]

    batcher: Batcher[int, int] = Batcher(send, most=3)
    answers = await asyncio.gather(*(batcher.submit(n) for n in range(7)))
    assert answers == [n * 2 for n in range(7)]
    assert sent == [[0, 1, 2], [3, 4, 5], [6]]
    uncapped: Batcher[int, int] = Batcher(send)
    sent.clear()
    await asyncio.gather(*(uncapped.submit(n) for n in range(7)))
    assert sent == [list(range(7))]
