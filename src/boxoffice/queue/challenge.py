"""Proof of work before a place in line: ALTCHA v1 challenges, bound to one fan and one
line, each solution taken once.

A line's operator may ask every joiner to spend some CPU first (the line's ``challenge``
level). It does not tell people from scripts; it prices a place: a fan's page pays a
moment once, a script that wants a thousand places pays a thousand times, in CPU it
must own. The challenge is ALTCHA's v1 (the ``altcha`` package): find the number n in
[0, maxnumber] with SHA-256(salt + n) = challenge, where salt carries the fan, the line,
the level and the expiry, and the server's HMAC of the challenge proves it issued it.
The server keeps nothing per challenge issued, only per solution accepted (the replay
store, until the challenge would have expired anyway).

Difficulty (``MAX_NUMBERS``): n is uniform in [0, maxnumber], so a solver tries
maxnumber/2 numbers on average (and at the median). Measured on the 2-core machine
the benchmarks run on (docs/benchmarks.md, "Abuse"):

- a script, Python's best simple loop (sha256 of the salt once, then
  ``.copy().update(str(n))`` per number): 2.4 to 3.5 million numbers a CPU-second (the
  less, the busier the other core);
- the fan page in Chromium (static/pow-worker.js: SHA-256 in plain JS with the salt's
  whole blocks hashed once, one worker a core, the range split between them): 2.3 to
  2.8 million a second a worker, ~1.9 million with the machine loaded, plus ~0.1 s to
  start the workers. crypto.subtle.digest manages 0.1 to 0.2 million (a promise per
  hash), so it is not used.

The aims: ``low`` under 0.3 s of a fan's wait (median), ``high`` at least 1 CPU-second
of a script's work per place on average yet at most 2 s of a fan's wait (median). A
fan's wait is wall time on a device that may be busy (a loaded machine made it 1.5 to
3 times longer); a script's cost is CPU time it cannot shed. Measured, median wait on a
quiet machine / mean CPU-seconds of the script:

- ``low`` = 500,000: 0.17 s / 0.08 CPU-s (0.18 s with the machine at load 5).
- ``medium`` = 3,000,000: 0.50 s / 0.5 to 0.7 CPU-s (0.8 s at load 5).
- ``high`` = 9,000,000: 0.79 s / 1.43 CPU-s (expected: 4.5 M numbers at ~3.4 M a
  CPU-second = 1.3; ~1.5 s at load 5). 8 M left a 40-solution mean within a few
  percent of the 1 CPU-s aim; 10 M took a fan 2.8 s at load 7.

A solver in C is ~10x faster than the Python loop, a GPU far more: ``high`` still costs
such a bot 0.15 CPU-s a place or less. The challenge slows and bills a bot farm, it does
not stop one; the per-address cap and the edge limits do the rest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import parse_qs

from altcha.v1 import SHA256, PayloadType
from altcha.v1 import create_challenge as create_challenge_v1
from altcha.v1 import verify_solution as verify_solution_v1

from boxoffice.errors import ChallengeRequired

if TYPE_CHECKING:
    from boxoffice.config import Settings
    from boxoffice.queue.redis_client import RedisClient


class ChallengeLevel(StrEnum):
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


MAX_NUMBERS: dict[ChallengeLevel, int] = {
    ChallengeLevel.LOW: 500_000,
    ChallengeLevel.MEDIUM: 3_000_000,
    ChallengeLevel.HIGH: 9_000_000,
}
ALGORITHM = SHA256
# The challenges' HMAC key is derived from SECRET_KEY under this label, so that a
# proof's signature is never a token signature nor tells anything about the token key.
KEY_LABEL = b"boxoffice/queue/challenge/altcha-v1"
# A payload is five short fields; anything much longer is not one.
MAX_PROOF_LENGTH = 2048
_FIELDS = ("algorithm", "challenge", "number", "salt", "signature")
_RANK = {level: rank for rank, level in enumerate(ChallengeLevel)}


class Replays(Protocol):
    """Where the solutions already accepted are remembered, until their challenge
    expires (after which its expiry refuses it anyway)."""

    async def first_use(self, key: str, *, ttl_seconds: int, now: float) -> bool:
        """True once per key within ttl_seconds of its first use; False after that."""
        ...


class MemoryReplays:
    """The embedded shape's (one process): a dict of key → when it may be forgotten."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._next_sweep = 0.0

    async def first_use(self, key: str, *, ttl_seconds: int, now: float) -> bool:
        if now >= self._next_sweep:
            self._until = {k: until for k, until in self._until.items() if until > now}
            self._next_sweep = now + 60
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until[key] = now + ttl_seconds
        return True


class RedisReplays:
    """Shared by every instance: SET NX EX is one atomic step, so of two instances
    given the same proof at once exactly one accepts it."""

    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def first_use(self, key: str, *, ttl_seconds: int, now: float) -> bool:
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=ttl_seconds))


class Challenges:
    def __init__(
        self,
        *,
        secret_key: str,
        ttl_seconds: int,
        replays: Replays,
        max_numbers: Mapping[ChallengeLevel, int] = MAX_NUMBERS,
    ) -> None:
        """``max_numbers``: each level's difficulty (tests make them small)."""
        self._key = hmac.new(secret_key.encode(), KEY_LABEL, hashlib.sha256).hexdigest()
        self._ttl = ttl_seconds
        self._replays = replays
        self._max_numbers = max_numbers

    @classmethod
    def from_settings(cls, settings: Settings, redis: RedisClient | None) -> Challenges:
        """With no Redis, the replay store is this process's memory (the embedded
        shape); with one, it is shared under ``<REDIS_PREFIX>proofs:``."""
        replays: Replays = (
            MemoryReplays()
            if redis is None
            else RedisReplays(redis, prefix=settings.redis_prefix + "proofs:")
        )
        return cls(
            secret_key=settings.secret_key,
            ttl_seconds=settings.challenge_ttl_seconds,
            replays=replays,
        )

    def issue(
        self, *, user_id: int, line: str, level: ChallengeLevel, now: float
    ) -> dict[str, object]:
        """A challenge for this fan and line, as the page's solver and ALTCHA's widget
        read it. A line whose challenge is off has nothing to solve (ValueError)."""
        if level is ChallengeLevel.OFF:
            raise ValueError("a line whose challenge is off issues none")
        challenge = create_challenge_v1(
            algorithm=ALGORITHM,
            max_number=self._max_numbers[level],
            salt_length=12,
            hmac_key=self._key,
            salt="",
            number=None,
            expires=datetime.fromtimestamp(now + self._ttl, tz=UTC),
            params={"user": str(user_id), "line": line, "level": level.value},
        )
        return {
            "algorithm": challenge.algorithm,
            "challenge": challenge.challenge,
            "salt": challenge.salt,
            "maxnumber": challenge.max_number,
            "signature": challenge.signature,
        }

    async def accept(
        self,
        proof: str | None,
        *,
        user_id: int,
        line: str,
        now: float,
        level: ChallengeLevel | None = None,
    ) -> None:
        """Take a solution once, or raise ChallengeRequired saying why not. With
        ``level``, a solution of an easier challenge is refused too (the operator has
        raised the line's level since it was issued)."""
        if not proof:
            raise ChallengeRequired("This line asks for a solved challenge: none was sent.")
        payload = _parse(proof)
        if payload is None:
            raise ChallengeRequired("The proof sent is not a challenge solution.")
        valid, _ = verify_solution_v1(payload, self._key, check_expires=False)
        if not valid:
            raise ChallengeRequired("The proof sent does not solve a challenge issued here.")
        # The salt is the one this server signed: its params can be trusted.
        params = _salt_params(str(payload["salt"]))
        expires = _seconds(params.get("expires"))
        if expires is None or expires <= now:
            raise ChallengeRequired("The challenge has expired: ask for a new one.")
        if params.get("user") != str(user_id):
            raise ChallengeRequired("The challenge was issued to someone else, not for you.")
        if params.get("line") != line:
            raise ChallengeRequired("The challenge was issued for another line.")
        issued_level = params.get("level")
        if level is not None and (
            issued_level not in _RANK or _RANK[ChallengeLevel(issued_level)] < _RANK[level]
        ):
            raise ChallengeRequired("The line's challenge is harder now: ask for a new one.")
        ttl = max(1, math.ceil(expires - now))
        if not await self._replays.first_use(str(payload["challenge"]), ttl_seconds=ttl, now=now):
            raise ChallengeRequired("This challenge's solution has already been used.")


def _parse(proof: str) -> PayloadType | None:
    """The payload's fields, each of the type it must have, or None."""
    if len(proof) > MAX_PROOF_LENGTH:
        return None
    try:
        data = json.loads(base64.b64decode(proof, validate=True))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError too
        return None
    if not isinstance(data, dict) or any(field not in data for field in _FIELDS):
        return None
    number = data["number"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        return None
    if not all(isinstance(data[field], str) for field in _FIELDS if field != "number"):
        return None
    if data["algorithm"] != ALGORITHM:
        return None
    return cast(PayloadType, {field: data[field] for field in _FIELDS})


def _salt_params(salt: str) -> dict[str, str]:
    """The salt's query, each name's first value (as ALTCHA's own expiry check reads it)."""
    _, _, query = salt.partition("?")
    return {name: values[0] for name, values in parse_qs(query).items()}


def _seconds(text: str | None) -> int | None:
    """A Unix time as the salt writes it (whole seconds), or None."""
    return int(text) if text is not None and text.isascii() and text.isdigit() else None
