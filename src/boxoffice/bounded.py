"""A dict that holds at most so many entries, forgetting the oldest first."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """For the process's caches (verified tokens, catalog answers): past ``size``
    entries, each new one pushes out the one put in longest ago, so a cache never
    grows without bound and never empties all at once."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        if key not in entries:
            while len(entries) >= self._size:
                del entries[next(iter(entries))]
        entries[key] = value

    def pop(self, key: K) -> V | None:
        return self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
