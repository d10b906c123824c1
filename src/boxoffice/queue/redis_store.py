"""The waiting room on Redis, shared by any number of app instances.

Every step of the line is one Lua script, so Redis runs it whole with nothing in
between: instances may admit at the same time with no leader and never pass the
capacity. Arrival order is a Redis counter, never an app host's clock.

Keys (under the prefix): ``seq`` (arrival counter), ``waiting`` (zset user -> seq),
``waiters_seen`` and ``admitted_seen`` (zsets user -> last seen), ``admissions``
(zset of the last minute's admissions), ``first_admission``, ``rules`` (hash) and
``ticket:<user>`` (hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.typing import EncodableT, FieldT

from boxoffice.queue.mirror import LineMirror
from boxoffice.queue.model import AdmissionRules, LineStats, QueueState, Ticket, lapses_at

log = logging.getLogger("boxoffice.queue")

_PRELUDE = """
local P = ARGV[1]
local now = tonumber(ARGV[2])
local K_SEQ, K_WAITING = P .. 'seq', P .. 'waiting'
local K_WSEEN, K_ASEEN = P .. 'waiters_seen', P .. 'admitted_seen'
local K_ADMS, K_FIRST, K_RULES = P .. 'admissions', P .. 'first_admission', P .. 'rules'
local K_EVENTS = P .. 'events'
local function tk(user) return P .. 'ticket:' .. user end

-- Every change to the line is also appended to an event stream, which each
-- instance tails to keep a local mirror for answering status polls without I/O.
local function event(...)
  redis.call('XADD', K_EVENTS, 'MAXLEN', '~', 500000, '*', ...)
end

local function remove(user)
  local seq = redis.call('HGET', tk(user), 'seq')
  if seq then event('e', 'r', 'u', user, 's', seq) end
  redis.call('ZREM', K_WAITING, user)
  redis.call('ZREM', K_WSEEN, user)
  redis.call('ZREM', K_ASEEN, user)
  redis.call('DEL', tk(user))
end

local function advance()
  local r = redis.call('HMGET', K_RULES, 'capacity', 'per_minute', 'paused',
                       'waiter_timeout', 'admitted_idle')
  local capacity, per_minute = tonumber(r[1]), tonumber(r[2])
  local paused, wt, idle = r[3] == '1', tonumber(r[4]), tonumber(r[5])
  local stale = redis.call('ZRANGEBYSCORE', K_WSEEN, '-inf', now - wt, 'LIMIT', 0, 1000)
  for _, u in ipairs(stale) do remove(u) end
  stale = redis.call('ZRANGEBYSCORE', K_ASEEN, '-inf', now - idle, 'LIMIT', 0, 1000)
  for _, u in ipairs(stale) do remove(u) end
  redis.call('ZREMRANGEBYSCORE', K_ADMS, '-inf', now - 60)
  local waiting = redis.call('ZCARD', K_WAITING)
  local admitted = redis.call('ZCARD', K_ASEEN)
  local recent = redis.call('ZCARD', K_ADMS)
  local n = 0
  if not paused then
    n = math.max(0, math.min(waiting, capacity - admitted, per_minute - recent))
  end
  if n > 0 then
    local popped = redis.call('ZPOPMIN', K_WAITING, n)
    for i = 1, #popped, 2 do
      local u = popped[i]
      redis.call('ZREM', K_WSEEN, u)
      redis.call('ZADD', K_ASEEN, now, u)
      redis.call('HSET', tk(u), 'state', 'ADMITTED')
      redis.call('ZADD', K_ADMS, now, popped[i + 1])
      event('e', 'a', 'u', u, 's', popped[i + 1], 't', ARGV[2])
    end
    redis.call('SET', K_FIRST, ARGV[2], 'NX')
    waiting, admitted, recent = waiting - n, admitted + n, recent + n
  end
  return {waiting, admitted, recent, redis.call('GET', K_FIRST) or ''}
end

local function ticket(user)
  local t = redis.call('HMGET', tk(user), 'jti', 'seq', 'iat', 'exp', 'state')
  if not t[1] then return nil end
  if tonumber(t[4]) <= now then
    remove(user)
    return nil
  end
  return t
end

-- A ticket whose holder fell silent (or idle) is gone even before a sweep runs.
local function alive(user, t)
  local seen_key, timeout_field = K_WSEEN, 'waiter_timeout'
  if t[5] == 'ADMITTED' then seen_key, timeout_field = K_ASEEN, 'admitted_idle' end
  local last = tonumber(redis.call('ZSCORE', seen_key, user))
  local timeout = tonumber(redis.call('HGET', K_RULES, timeout_field))
  if last and now - last < timeout then return true end
  remove(user)
  return false
end

local function see(user, t)
  if t[5] == 'ADMITTED' then
    redis.call('ZADD', K_ASEEN, now, user)
  else
    redis.call('ZADD', K_WSEEN, now, user)
  end
end

local function reply(user, t, created, stats)
  local position = 0
  if t[5] ~= 'ADMITTED' then position = redis.call('ZRANK', K_WAITING, user) + 1 end
  return {t[1], t[2], t[3], t[4], t[5], position, created, stats}
end
"""

# Joins arriving in the same turn of an instance's event loop, in their order:
# ARGV[3..] are (user, jti, token expiry) triples. One admission sweep for all.
_JOIN_MANY = (
    _PRELUDE
    + """
local created = {}
for i = 3, #ARGV, 3 do
  local user, jti, exp = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local t = ticket(user)
  if t and alive(user, t) then
    see(user, t)
    created[#created + 1] = 0
  else
    local seq = redis.call('INCR', K_SEQ)
    redis.call('HSET', tk(user), 'jti', jti, 'seq', seq, 'iat', math.floor(now), 'exp', exp,
               'state', 'WAITING')
    redis.call('ZADD', K_WAITING, seq, user)
    redis.call('ZADD', K_WSEEN, now, user)
    event('e', 'j', 'u', user, 's', seq, 'k', jti, 'i', math.floor(now), 'x', exp)
    created[#created + 1] = 1
  end
end
local stats = advance()
local out = {}
for i = 3, #ARGV, 3 do
  local user = ARGV[i]
  out[#out + 1] = reply(user, ticket(user), created[#out + 1], stats)
end
return out
"""
)

_TOUCH = (
    _PRELUDE
    + """
local user, jti = ARGV[3], ARGV[4]
local stats = advance()
local t = ticket(user)
if not t or t[1] ~= jti then return nil end
see(user, t)
return reply(user, t, 0, stats)
"""
)

# The gate of the booking endpoints, for every request waiting at this instant:
# ARGV[3..] are (user, jti) pairs; the answer is (state, position) per pair, state
# '' when the ticket is not live. Marks each fan active. Leaves admitting to the
# other steps (and the tick), so the busiest authenticated path does the least work.
_GATE_MANY = (
    _PRELUDE
    + """
local out = {}
for i = 3, #ARGV, 2 do
  local user, jti = ARGV[i], ARGV[i + 1]
  local state, position = '', 0
  local t = ticket(user)
  if t and t[1] == jti and alive(user, t) then
    see(user, t)
    state = t[5]
    if state ~= 'ADMITTED' then position = redis.call('ZRANK', K_WAITING, user) + 1 end
  end
  out[#out + 1] = state
  out[#out + 1] = position
end
return out
"""
)

_LEAVE = (
    _PRELUDE
    + """
local user, jti = ARGV[3], ARGV[4]
local t = ticket(user)
if not t or t[1] ~= jti then return 0 end
remove(user)
advance()
return 1
"""
)

_ADVANCE = _PRELUDE + "\nreturn advance()\n"

# Liveness from status polls answered by the mirror, written in one batch:
# ARGV[3..] are (user, jti, seen-at) triples; a stale jti or an older time is ignored.
_SEEN_MANY = (
    _PRELUDE
    + """
for i = 3, #ARGV, 3 do
  local user, jti, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local t = redis.call('HMGET', tk(user), 'jti', 'state')
  if t[1] == jti then
    if t[2] == 'ADMITTED' then
      redis.call('ZADD', K_ASEEN, 'XX', 'GT', at, user)
    else
      redis.call('ZADD', K_WSEEN, 'XX', 'GT', at, user)
    end
  end
end
return 1
"""
)

# The whole line at one instant, with the id of the last event it includes.
_SNAPSHOT = (
    _PRELUDE
    + """
local last = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
local function tickets(users)
  local out = {}
  for _, u in ipairs(users) do
    local t = redis.call('HMGET', tk(u), 'jti', 'seq', 'iat', 'exp', 'state')
    if t[1] then
      out[#out + 1] = u
      for j = 1, 5 do out[#out + 1] = t[j] end
    end
  end
  return out
end
return {
  last_id,
  tickets(redis.call('ZRANGE', K_WAITING, 0, -1)),
  tickets(redis.call('ZRANGE', K_ASEEN, 0, -1)),
  redis.call('ZRANGE', K_ADMS, 0, -1, 'WITHSCORES'),
  redis.call('GET', K_FIRST) or '',
}
"""
)

RULES_REFRESH_SECONDS = 1.0

Item = TypeVar("Item")
R = TypeVar("R")


class Batcher(Generic[Item, R]):
    """Sends every item submitted in one turn of the event loop as one batch. Each
    caller's answer is as fresh as a call of its own (the batch leaves after the
    item arrived); what is saved is the client's cost per Redis call."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[list[R]]]) -> None:
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
            if not future.done():
                future.set_result(result)


def _rules_hash(rules: AdmissionRules) -> dict[FieldT, EncodableT]:
    return {
        "capacity": str(rules.capacity),
        "per_minute": str(rules.per_minute),
        "paused": "1" if rules.paused else "0",
        "waiter_timeout": repr(rules.waiter_timeout),
        "admitted_idle": repr(rules.admitted_idle),
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisQueueStore:
    def __init__(
        self,
        client: Redis,
        *,
        defaults: AdmissionRules,
        prefix: str = "boxoffice:",
        mirror: bool = False,
        flush_seconds: float = 0.5,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._defaults = defaults
        self._rules = defaults
        self._rules_read_at = float("-inf")
        self._rules_reading: asyncio.Future[AdmissionRules] | None = None
        self._rules_changes = 0
        self._join_many = client.register_script(_JOIN_MANY)
        self._touch = client.register_script(_TOUCH)
        self._leave = client.register_script(_LEAVE)
        self._gate_many = client.register_script(_GATE_MANY)
        self._joins: Batcher[tuple[int, str, float, int], Any] = Batcher(self._send_joins)
        self._gates: Batcher[tuple[int, str, float], tuple[str, int]] = Batcher(self._send_gates)
        self._advance = client.register_script(_ADVANCE)
        self._seen_many = client.register_script(_SEEN_MANY)
        self._initialised = False
        self._mirror = (
            LineMirror(client, prefix=prefix, snapshot=client.register_script(_SNAPSHOT))
            if mirror
            else None
        )
        self._flush_seconds = flush_seconds
        self._pending_seen: dict[int, tuple[str, float]] = {}
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        defaults: AdmissionRules,
        prefix: str = "boxoffice:",
        mirror: bool = False,
        pool_size: int = 64,
    ) -> RedisQueueStore:
        # A blocking pool: a burst of requests waits its turn for a connection instead
        # of failing with "too many connections".
        pool = BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=10)
        return cls(Redis(connection_pool=pool), defaults=defaults, prefix=prefix, mirror=mirror)

    async def start(self) -> None:
        await self._ensure_rules()
        if self._mirror is not None:
            self._mirror.start()
            self._flusher = asyncio.create_task(self._flush_forever())

    async def peek(self, *, user_id: int, jti: str, now: float) -> tuple[Ticket, LineStats] | None:
        """A status poll: answered from the mirror when it knows the ticket, with the
        liveness write batched; otherwise asked of Redis like ``touch``."""
        mirror = self._mirror
        if mirror is not None and mirror.synced:
            found = mirror.find(user_id, jti)
            if found is not None and found[0].token_expires_at > now:
                entry, position = found
                self._pending_seen[user_id] = (jti, now)
                rules = await self.rules()
                ticket = Ticket(
                    user_id=user_id,
                    jti=jti,
                    seq=entry.seq,
                    issued_at=entry.issued_at,
                    token_expires_at=entry.token_expires_at,
                    state=entry.state,
                    position=position,
                    lapses_at=lapses_at(state=entry.state, last_seen=now, rules=rules),
                )
                return ticket, mirror.stats(now)
        return await self.touch(user_id=user_id, jti=jti, now=now)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self._flush()
            except Exception:
                log.exception("could not write waiting-room liveness; will retry")

    async def _flush(self) -> None:
        if not self._pending_seen:
            return
        pending, self._pending_seen = self._pending_seen, {}
        args: list[object] = []
        for user_id, (jti, at) in pending.items():
            args += [user_id, jti, repr(at)]
        await self._call(self._seen_many, "0", *args)

    async def _ensure_rules(self) -> None:
        """Seed the shared rules from this instance's settings unless an operator (or
        an earlier instance) already set them: settings changed live win."""
        if self._initialised:
            return
        key = self._prefix + "rules"
        async with self._redis.pipeline(transaction=True) as pipe:
            for field, value in _rules_hash(self._defaults).items():
                pipe.hsetnx(key, field, value)
            await pipe.execute()
        self._initialised = True

    async def _call(self, script: object, *args: object) -> object:
        await self._ensure_rules()
        return await script(args=[self._prefix, *args])  # type: ignore[operator]

    async def join(
        self, *, user_id: int, jti: str, now: float, token_expires_at: int
    ) -> tuple[Ticket, LineStats, bool]:
        raw = await self._joins.submit((user_id, jti, now, token_expires_at))
        return await self._parse(user_id, raw, now)

    async def _send_joins(self, batch: list[tuple[int, str, float, int]]) -> list[Any]:
        args: list[object] = []
        for user_id, jti, _, expires in batch:
            args += [user_id, jti, expires]
        raw = await self._call(self._join_many, repr(max(now for _, _, now, _ in batch)), *args)
        assert isinstance(raw, list)
        return raw

    async def touch(self, *, user_id: int, jti: str, now: float) -> tuple[Ticket, LineStats] | None:
        raw = await self._call(self._touch, repr(now), user_id, jti)
        if raw is None:
            return None
        ticket, stats, _ = await self._parse(user_id, raw, now)
        return ticket, stats

    async def gate(self, *, user_id: int, jti: str, now: float) -> tuple[QueueState, int] | None:
        state, position = await self._gates.submit((user_id, jti, now))
        return (QueueState(state), position) if state else None

    async def _send_gates(self, batch: list[tuple[int, str, float]]) -> list[tuple[str, int]]:
        args: list[object] = []
        for user_id, jti, _ in batch:
            args += [user_id, jti]
        raw = await self._call(self._gate_many, repr(max(now for _, _, now in batch)), *args)
        assert isinstance(raw, list)
        return [(_text(raw[2 * i]), int(raw[2 * i + 1])) for i in range(len(batch))]

    async def leave(self, *, user_id: int, jti: str, now: float) -> bool:
        return bool(await self._call(self._leave, repr(now), user_id, jti))

    async def spend(self, *, user_id: int, jti: str, now: float) -> None:
        await self.leave(user_id=user_id, jti=jti, now=now)

    async def advance(self, *, now: float) -> LineStats:
        raw = await self._call(self._advance, repr(now))
        assert isinstance(raw, list)
        return _stats(raw, now)

    async def rules(self) -> AdmissionRules:
        """The shared rules as this instance last read them, re-read in the background
        once a second old, so a change made through any instance reaches every
        instance about a second later. Only what a fan is told (estimated wait, poll
        interval, expiry) comes from here; admission reads the rules inside Redis, so
        no request waits for this read but the very first."""
        if time.monotonic() - self._rules_read_at < RULES_REFRESH_SECONDS:
            return self._rules
        if self._rules_reading is None:
            self._rules_reading = asyncio.ensure_future(self._read_rules())
            self._rules_reading.add_done_callback(self._rules_read)
        if self._rules_read_at == float("-inf"):
            return await asyncio.shield(self._rules_reading)
        return self._rules

    def _rules_read(self, reading: asyncio.Future[AdmissionRules]) -> None:
        self._rules_reading = None
        if not reading.cancelled() and (error := reading.exception()) is not None:
            log.warning("could not read the waiting-room rules; keeping the last: %r", error)

    async def _read_rules(self) -> AdmissionRules:
        changes = self._rules_changes
        await self._ensure_rules()
        raw = await self._redis.hgetall(self._prefix + "rules")
        if changes != self._rules_changes:
            return self._rules  # set here while the read was out: that is newer
        fields = {_text(k): _text(v) for k, v in raw.items()}
        self._rules = AdmissionRules(
            capacity=int(fields["capacity"]),
            per_minute=int(fields["per_minute"]),
            paused=fields["paused"] == "1",
            waiter_timeout=float(fields["waiter_timeout"]),
            admitted_idle=float(fields["admitted_idle"]),
        )
        self._rules_read_at = time.monotonic()
        return self._rules

    async def set_rules(self, rules: AdmissionRules) -> None:
        await self._redis.hset(self._prefix + "rules", mapping=_rules_hash(rules))
        self._rules_changes += 1
        self._rules = rules
        self._rules_read_at = time.monotonic()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            await self._flush()
        if self._mirror is not None:
            await self._mirror.stop()
        await self._redis.aclose()

    async def _parse(self, user_id: int, raw: object, now: float) -> tuple[Ticket, LineStats, bool]:
        assert isinstance(raw, list)
        jti, seq, iat, exp, state, position, created, stats = raw
        rules = await self.rules()
        queue_state = QueueState(_text(state))
        ticket = Ticket(
            user_id=user_id,
            jti=_text(jti),
            seq=int(seq),
            issued_at=int(float(iat)),
            token_expires_at=int(float(exp)),
            state=queue_state,
            position=int(position),
            lapses_at=lapses_at(state=queue_state, last_seen=now, rules=rules),
        )
        return ticket, _stats(stats, now), bool(created)


def _stats(raw: list[object], now: float) -> LineStats:
    waiting, admitted, recent, first = raw
    first_text = _text(first)  # type: ignore[arg-type]
    observed = now - float(first_text) if first_text else 0.0
    return LineStats(
        waiting=int(waiting),  # type: ignore[call-overload]
        admitted=int(admitted),  # type: ignore[call-overload]
        admitted_last_minute=int(recent),  # type: ignore[call-overload]
        observed_seconds=observed,
    )
