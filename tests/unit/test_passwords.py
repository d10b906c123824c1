"""Passwords: argon2id hashes checked off the event loop, an unknown account checked
at the same cost as a wrong password, and a storm held to a bounded queue."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

import pytest
from argon2 import PasswordHasher

from boxoffice.errors import Busy
from boxoffice.users.passwords import HASHER, Passwords

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Counting(PasswordHasher):
    """A cheap hasher that counts its verifications, and can be made to wait."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0
        self.gate = threading.Event()
        self.gate.set()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        self.gate.wait(5)
        return super().verify(hash, password)


async def test_a_password_verifies_against_its_hash_and_nothing_else() -> None:
    passwords = Passwords(workers=1, queue=10, hasher=CHEAP)
    hashed = await passwords.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert await passwords.verify(hashed, "correct horse battery")
    assert not await passwords.verify(hashed, "correct horse batterY")
    passwords.close()


async def test_no_account_is_checked_at_the_cost_of_a_wrong_password() -> None:
    hasher = Counting()
    passwords = Passwords(workers=1, queue=10, hasher=hasher)
    assert not await passwords.verify(None, "anything at all")
    assert hasher.verified == 1  # a real argon2 verification ran, as for a wrong password
    passwords.close()


async def test_sign_ins_past_the_queue_are_answered_busy() -> None:
    hasher = Counting()
    passwords = Passwords(workers=1, queue=2, hasher=hasher)
    hashed = await passwords.hash("correct horse battery")
    hasher.gate.clear()  # the worker is stuck on the first verification
    waiting = [asyncio.ensure_future(passwords.verify(hashed, "x")) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):
        await passwords.verify(hashed, "one too many")
    hasher.gate.set()
    assert await asyncio.gather(*waiting) == [False, False]
    passwords.close()


def test_the_product_hashes_with_argon2id_at_owasps_settings() -> None:
    params = HASHER.hash("x").split("$")
    assert params[1] == "argon2id"
    assert params[3] == "m=19456,t=2,p=1"
