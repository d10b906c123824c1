"""The waiting room on Redis, shared by any number of app instances.

Every step of a line is one Lua script (``queue/lua/``), so Redis runs it whole with
nothing in between: instances may admit at the same time with no leader and never
pass the capacity. Arrival order is a Redis counter and the line's clock is Redis
``TIME``, never an app host's clock. A Redis that does not answer within the
configured timeout raises redis-py's ``ConnectionError``/``TimeoutError``, which the
app answers as 503 ``busy``; a line Redis has lost raises ``LineMissing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from redis.exceptions import RedisError

from boxoffice.background import cancelling
from boxoffice.clock import StorageClock
from boxoffice.queue.mirror import LineMirror
from boxoffice.queue.model import (
    LineRules,
    LineStats,
    QueueState,
    shown_position,
)
from boxoffice.queue.redis_client import RedisAddress, RedisClient, client_for
from boxoffice.queue.rules_cache import RulesCache
from boxoffice.queue.scripts import (
    LineKeys,
    Reply,
    Scripts,
    decode_draw_page,
    decode_gate,
    decode_rules,
    decode_stats,
    decode_ticket,
    rules_fields,
    text,
)
from boxoffice.queue.store import NO_ADDRESS, Drawn, GatePass, LineMissing, Refused, Seen
from boxoffice.storage.batcher import Batcher

log = logging.getLogger("boxoffice.queue")

# Only tests set it: the hand-moved time a line seeded now starts its clock at.
CLOCK_NOW_KEY = "clock_now"
# Entrants of an opening read per call of draw.lua: a fraction of a millisecond of
# Redis each (pages of 5,000 took 10-20 ms on a slow day of the test machine).
DRAW_PAGE = 1_000
# Most joins, gates or leaves one script call carries (about 5 ms of Redis for joins,
# the costliest: bench memory measured 20.7 ms for 917), and most polls' liveness
# written by one call of seen.lua (about 5 ms).
STEP_MOST = 200
SEEN_MOST = 1_000
JoinItem = tuple[int, str, int, str]  # user, jti, token expiry, address
RULES_SET_BY_OPERATOR = (
    *("capacity", "per_minute", "paused", "opens_at", "seed"),
    *("places_per_address", "challenge"),
)
# user, jti, and for a late spend when its payment's gate let the visit through
LeaveItem = tuple[int, str, float]
AT_CAP_REPLY = -2  # join.lua's answer for a join whose address is at the line's cap
ANY_TIME = 0.0  # the gated-at of a leave or a spend on time: gone however recently seen


class RedisQueueStore:
    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "boxoffice:",
        mirror_client: RedisClient | None = None,
        flush_seconds: float = 0.5,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._scripts = Scripts(client)
        self.clock = StorageClock()  # the line's: Redis TIME, as every step tells it
        self._keys: dict[str, LineKeys] = {}
        self._rules = RulesCache(self._read_rules)
        self._joins: dict[str, Batcher[JoinItem, Any]] = {}
        self._gates: dict[str, Batcher[tuple[int, str], tuple[str, int, float]]] = {}
        self._leaves: dict[str, Batcher[LeaveItem, bool]] = {}
        self._mirror = (
            None
            if mirror_client is None
            else LineMirror(mirror_client, self._scripts, prefix=prefix)
        )
        self._flush_seconds = flush_seconds
        self._pending_seen: dict[tuple[str, int], tuple[str, float]] = {}
        self._pending_spends: set[tuple[str, int, str, float]] = set()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls,
        address: str | RedisAddress,
        *,
        prefix: str = "boxoffice:",
        mirror: bool = False,
        pool_size: int = 64,
        timeout_seconds: float = 1.0,
    ) -> RedisQueueStore:
        """``address``: a Redis URL, the sentinels that name the primary (its
        connections follow a failover), or a cluster's node."""
        client = client_for(address, pool_size=pool_size, timeout_seconds=timeout_seconds)
        # The mirror's reads block for a second by design: connections of its own, one
        # per reader (one on one Redis; on a cluster one per slot its lines are in, up
        # to the pool's size on one node).
        cluster = isinstance(address, RedisAddress) and address.cluster
        mirror_client = (
            client_for(
                address,
                pool_size=pool_size if cluster else 2,
                timeout_seconds=timeout_seconds + 2.0,
                decoded=True,
            )
            if mirror
            else None
        )
        return cls(client, prefix=prefix, mirror_client=mirror_client)

    @property
    def client(self) -> RedisClient:
        """The connection pool, for what else the waiting room keeps in Redis (the
        proofs of work taken)."""
        return self._redis

    def _line_keys(self, line: str) -> LineKeys:
        keys = self._keys.get(line)
        if keys is None:
            keys = self._keys[line] = LineKeys.of(self._prefix, line)
            if self._mirror is not None:
                self._mirror.follow(line)
        return keys

    async def _run(self, step: str, line: str, *args: str | int | float) -> Reply:
        try:
            reply = await self._scripts.run(step, self._line_keys(line), *args)
            self.clock.heard(reply.now)
            return reply
        except LineMissing:
            self._rules.forget(line)
            raise

    async def start(self) -> None:
        if self._mirror is not None:
            self._mirror.start()
        self._flusher = asyncio.create_task(self._flush_forever())

    async def join(
        self,
        *,
        line: str,
        user_id: int,
        jti: str,
        token_expires_at: int,
        address: str = NO_ADDRESS,
    ) -> Seen | Refused:
        batcher = self._joins.get(line)
        if batcher is None:
            batcher = self._joins[line] = Batcher(
                lambda batch: self._send_joins(line, batch), most=STEP_MOST
            )
        stats, now, raw = await batcher.submit((user_id, jti, token_expires_at, address))
        if not isinstance(raw, list):
            return Refused.AT_CAP if int(raw) == AT_CAP_REPLY else Refused.SOLD_OUT
        ticket, created = decode_ticket(user_id, raw, await self.rules(line))
        return Seen(ticket, stats, now, created)

    async def _send_joins(self, line: str, batch: list[JoinItem]) -> list[Any]:
        reply = await self._run("join", line, *_flat(batch))
        stats_raw, tickets = reply.body
        stats = decode_stats(stats_raw, reply.now)
        return [(stats, reply.now, raw) for raw in tickets]

    async def evict(
        self, *, line: str, user_ids: Sequence[int] = (), address: str | None = None
    ) -> list[int]:
        how: list[str | int | float] = ["address", address] if address is not None else ["users"]
        reply = await self._run("evict", line, *how, *user_ids)
        removed = [int(text(user)) for user in reply.body[0]]
        if self._mirror is not None:
            for user_id in removed:
                self._mirror.forget(line, user_id)
        return removed

    async def top_addresses(self, line: str, *, count: int) -> list[tuple[str, int]]:
        raw = (await self._run("places", line, count)).body[0]
        return [(text(raw[i]), int(float(text(raw[i + 1])))) for i in range(0, len(raw), 2)]

    async def touch(self, *, line: str, user_id: int, jti: str) -> Seen | None:
        reply = await self._run("touch", line, user_id, jti)
        stats_raw, raw = reply.body
        if raw == 0:
            return None
        ticket, _ = decode_ticket(user_id, raw, await self.rules(line))
        return Seen(ticket, decode_stats(stats_raw, reply.now), reply.now)

    async def peek(self, *, line: str, user_id: int, jti: str) -> Seen | None:
        """A status poll: answered from the mirror when it knows the ticket, with the
        liveness write batched; otherwise asked of Redis like ``touch``."""
        self._line_keys(line)
        found = None if self._mirror is None else self._mirror.find(line, user_id, jti)
        now = self.clock.seconds()
        if found is None or found[0].token_expires_at <= now:
            return await self.touch(line=line, user_id=user_id, jti=jti)
        entry, rank = found
        ticket = entry.ticket(user_id, rank=rank, rules=await self.rules(line), now=now)
        if ticket.lapses_at <= now:  # a sold-out line's lapse: Redis drops it, as it says
            return await self.touch(line=line, user_id=user_id, jti=jti)
        self._pending_seen[(line, user_id)] = (jti, time.monotonic())
        assert self._mirror is not None
        return Seen(ticket, self._mirror.stats(line, now), now)

    async def gate(self, *, line: str, user_id: int, jti: str) -> GatePass | None:
        batcher = self._gates.get(line)
        if batcher is None:
            batcher = self._gates[line] = Batcher(
                lambda batch: self._send_gates(line, batch), most=STEP_MOST
            )
        state, rank, at = await batcher.submit((user_id, jti))
        if not state:
            return None
        found = QueueState(state)
        return GatePass(found, shown_position(found, rank), at)

    async def _send_gates(
        self, line: str, batch: list[tuple[int, str]]
    ) -> list[tuple[str, int, float]]:
        reply = await self._run("gate", line, *_flat(batch))
        return [(state, rank, reply.now) for state, rank in decode_gate(reply.body[0])]

    async def leave(self, *, line: str, user_id: int, jti: str) -> bool:
        return await self._leave(line, (user_id, jti, ANY_TIME))

    async def _leave(self, line: str, item: LeaveItem) -> bool:
        batcher = self._leaves.get(line)
        if batcher is None:
            batcher = self._leaves[line] = Batcher(
                lambda batch: self._send_leaves(line, batch), most=STEP_MOST
            )
        return await batcher.submit(item)

    async def _send_leaves(self, line: str, batch: list[LeaveItem]) -> list[bool]:
        reply = await self._run("leave", line, *_flat(batch))
        left = [bool(int(gone)) for gone in reply.body[0]]
        if self._mirror is not None:
            for (user_id, jti, _), gone in zip(batch, left, strict=True):
                if gone:
                    self._mirror.forget(line, user_id, jti)
        return left

    async def spend(self, *, line: str, user_id: int, jti: str, gated_at: float) -> None:
        """End a visit after its payment committed, whatever else the fan did
        meanwhile: a Redis that fails here must not turn the paid answer into an error,
        so the spend is then retried in the background."""
        await self._spend(line, user_id, jti, gated_at, late=False)

    async def _spend(
        self, line: str, user_id: int, jti: str, gated_at: float, *, late: bool
    ) -> None:
        """``late``: a spend Redis missed, retried. By now the fan, told the payment
        went through, may have joined again and been answered with the same ticket,
        still live: a visit seen since its payment's gate is left to lapse when idle
        (leave.lua)."""
        try:
            await self._leave(line, (user_id, jti, gated_at if late else ANY_TIME))
        except LineMissing:
            return  # the line is gone, and the ticket with it
        except RedisError as exc:
            log.warning("could not end a paid visit now (%r); retrying in the background", exc)
            self._pending_spends.add((line, user_id, jti, gated_at))

    async def advance(self, *, line: str) -> LineStats:
        reply = await self._run("advance", line)
        return decode_stats(reply.body[0], reply.now)

    async def rules(self, line: str) -> LineRules:
        return await self._rules.get(line)

    async def _read_rules(self, line: str) -> LineRules:
        return decode_rules(line, await self._redis.hgetall(self._line_keys(line).line))

    async def seed(self, line: str, rules: LineRules) -> bool:
        hand_moved = await self._redis.get(self._prefix + CLOCK_NOW_KEY)
        fields = rules_fields(rules)
        if hand_moved is not None:
            fields[CLOCK_NOW_KEY] = text(hand_moved)
        seeded = await self._scripts.seed(
            self._line_keys(line), epoch=secrets.token_hex(8), fields=fields
        )
        self._rules.forget(line)
        return seeded

    async def configure(self, line: str, rules: LineRules) -> None:
        fields = rules_fields(rules)
        args: list[str | int | float] = []
        for name in RULES_SET_BY_OPERATOR:
            args += [name, fields[name]]
        await self._run("configure", line, *args)
        current = await self.rules(line)
        self._rules.put(
            line,
            _with_supply(rules, seats_left=current.seats_left, sold_out_at=current.sold_out_at),
        )

    async def set_supply(self, line: str, *, seats_left: int | None, sold_out: bool) -> None:
        reply = await self._run(
            "supply", line, "" if seats_left is None else seats_left, "1" if sold_out else "0"
        )
        since = text(reply.body[0])
        sold_out_at = float(since) if since else None
        current = await self.rules(line)
        self._rules.put(line, _with_supply(current, seats_left=seats_left, sold_out_at=sold_out_at))

    async def drawn(self, line: str) -> Drawn | None:
        """The opening's order, read a page at a time (it is fixed once drawn)."""
        order: list[int] = []
        while True:
            page = decode_draw_page((await self._run("draw", line, len(order), DRAW_PAGE)).body[0])
            if page is None:
                return None
            drawn_at, users = page
            order += users
            if len(users) < DRAW_PAGE:
                return Drawn(drawn_at=drawn_at, order=order)

    async def forget_draw(self, line: str) -> None:
        await self._run("draw", line, "forget")

    def mirrored(self, line: str) -> bool | None:
        """Whether this instance's mirror of ``line`` is whole; None without a mirror."""
        return None if self._mirror is None else self._mirror.synced(line)

    async def ping(self) -> None:
        await self._redis.ping()

    async def _flush_forever(self) -> None:
        while not cancelling():  # a cancellation redis-py swallowed still ends it
            await asyncio.sleep(self._flush_seconds)
            try:
                await self._flush()
            except Exception as exc:
                log.warning("could not write waiting-room liveness (%r); will retry", exc)

    async def _flush(self) -> None:
        """Write the batched liveness of mirrored polls, and retry unfinished spends."""
        pending, self._pending_seen = self._pending_seen, {}
        by_line: dict[str, list[str | int | float]] = {}
        at = time.monotonic()
        for (line, user_id), (jti, seen) in pending.items():
            by_line.setdefault(line, []).extend([user_id, jti, f"{at - seen:.6f}"])
        for line, args in by_line.items():
            for first in range(0, len(args), 3 * SEEN_MOST):  # (user, jti, age) triples
                with contextlib.suppress(LineMissing):
                    await self._run("seen", line, *args[first : first + 3 * SEEN_MOST])
        spends, self._pending_spends = self._pending_spends, set()
        for line, user_id, jti, gated_at in spends:
            await self._spend(line, user_id, jti, gated_at, late=True)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            with contextlib.suppress(RedisError, OSError):
                await self._flush()
        for joins in self._joins.values():
            await joins.close()
        for gates in self._gates.values():
            await gates.close()
        for leaves in self._leaves.values():
            await leaves.close()
        if self._mirror is not None:
            await self._mirror.stop()
        await self._redis.aclose()


def _flat(batch: Sequence[tuple[str | int | float, ...]]) -> list[str | int | float]:
    """A batch's items, each a tuple, as one script call's arguments in a row."""
    return [part for item in batch for part in item]


def _with_supply(
    rules: LineRules, *, seats_left: int | None, sold_out_at: float | None
) -> LineRules:
    return replace(rules, seats_left=seats_left, sold_out_at=sold_out_at)
