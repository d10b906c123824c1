"""Passwords, hashed with argon2id (argon2-cffi) off the event loop.

A hash takes one core for tens of milliseconds by design, and a sale's opening can
bring a storm of sign-ins: they run in a small pool of threads of their own (the
C library releases the GIL), so status polls keep the event loop; past the pool's
queue a sign-in is answered 503 busy rather than waiting without bound. An unknown
email is checked against a hash of nothing anyone knows, so it costs the same as a
wrong password and the answer's time does not tell which it was."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from boxoffice.errors import Busy

T = TypeVar("T")

# OWASP's argon2id settings for a server that hashes at sign-in: 19 MiB, two passes,
# one lane (each hash on one core; the pool decides how many run at once).
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class TooManySignIns(Busy):
    title = "Too many sign-ins at once"


class Passwords:
    def __init__(self, *, workers: int, queue: int, hasher: PasswordHasher = HASHER) -> None:
        self._hasher = hasher
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="passwords")
        self._queue = queue
        self._waiting = 0
        self._nobodys = hasher.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` is the one ``hashed`` was made from (None: an account
        with no password, or no account: checked all the same, and False)."""
        return await self._run(self._check, hashed, password)

    def _check(self, hashed: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(hashed or self._nobodys, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    def make_room(self) -> None:
        """Refuse at once (503 busy) when the queue is full: before a sign-in reads
        anything, so a refusal during a storm costs next to nothing."""
        if self._waiting >= self._queue:
            raise TooManySignIns("too many sign-ins at once: try again in a moment")

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        self.make_room()
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
