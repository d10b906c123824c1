"""The Lua steps of a Redis line: loaded once from ``queue/lua/``, run with the line's
declared keys, and their replies decoded by name.

Every step but ``seed`` runs after ``prelude.lua``, which reads the line's rules and
clock and answers ``NO_LINE`` (writing nothing) when the line has no rules: the store
turns that into ``LineMissing``. Every other reply starts ``'OK', now``, where ``now``
is the line's clock (Redis ``TIME``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from boxoffice.queue.model import (
    RATE_WINDOW_SECONDS,
    LineRules,
    LineStats,
    QueueState,
    Ticket,
    lapses_at,
    shown_position,
)
from boxoffice.queue.redis_client import RedisClient
from boxoffice.queue.store import LineAlreadyOpen, LineMissing

STEPS = (
    *("join", "touch", "gate", "leave", "advance", "seen"),
    *("snapshot", "configure", "supply", "draw", "evict", "places"),
)


def _source(name: str) -> str:
    return (files("boxoffice.queue") / "lua" / f"{name}.lua").read_text()


def text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class LineKeys:
    """The keys of one line, all under one hash tag (the line's id)."""

    line: str
    tickets: str
    waiting: str
    waiters_seen: str
    admitted_seen: str
    admissions: str
    events: str
    places: str
    by_address: str
    entrants: str

    @classmethod
    def of(cls, prefix: str, line: str) -> LineKeys:
        base = f"{prefix}{{{line}}}:"
        names = ("line", "tickets", "waiting", "wseen", "aseen", "admissions", "events")
        return cls(*(base + name for name in (*names, "places", "byaddr", "entrants")))

    def all(self) -> list[str]:
        return [
            self.line,
            self.tickets,
            self.waiting,
            self.waiters_seen,
            self.admitted_seen,
            self.admissions,
            self.events,
            self.places,
            self.by_address,
            self.entrants,
        ]


@dataclass(frozen=True, slots=True)
class Reply:
    """A step's answer: the line's clock when it ran, and the rest of the reply."""

    now: float
    body: list[Any]


class Scripts:
    def __init__(self, client: RedisClient) -> None:
        """On a cluster, a step's EVALSHA goes to the master of its line's slot (its
        keys share the line's hash tag), and a script it does not know yet is loaded
        into every master."""
        prelude = _source("prelude")
        self._steps = {
            name: client.register_script(prelude + "\n" + _source(name)) for name in STEPS
        }
        self._seed = client.register_script(_source("seed"))

    async def run(self, step: str, keys: LineKeys, *args: str | int | float) -> Reply:
        raw = await self._steps[step](keys=keys.all(), args=[RATE_WINDOW_SECONDS, *args])
        status = text(raw[0])
        if status == "NO_LINE":
            raise LineMissing(keys_line_id(keys))
        if status == "LINE_OPEN":
            raise LineAlreadyOpen(keys_line_id(keys))
        return Reply(now=float(text(raw[1])), body=list(raw[2:]))

    async def seed(self, keys: LineKeys, *, epoch: str, fields: dict[str, str]) -> bool:
        args: list[str] = [epoch]
        for name, value in fields.items():
            args += [name, value]
        return bool(await self._seed(keys=keys.all(), args=args))


def keys_line_id(keys: LineKeys) -> str:
    tagged = keys.line
    return tagged[tagged.index("{") + 1 : tagged.index("}")]


def rules_fields(rules: LineRules) -> dict[str, str]:
    """The rules as the line hash keeps them ('' for a field that is not set)."""
    return {
        "capacity": str(rules.capacity),
        "per_minute": str(rules.per_minute),
        "paused": "1" if rules.paused else "0",
        "waiter_timeout": repr(rules.waiter_timeout),
        "admitted_idle": repr(rules.admitted_idle),
        "opens_at": "" if rules.opens_at is None else repr(rules.opens_at),
        "seed": rules.seed,
        "sold_out_at": "" if rules.sold_out_at is None else repr(rules.sold_out_at),
        "seats_left": "" if rules.seats_left is None else str(rules.seats_left),
        "places_per_address": ""
        if rules.places_per_address is None
        else str(rules.places_per_address),
        "challenge": rules.challenge,
    }


def decode_rules(line: str, raw: dict[Any, Any]) -> LineRules:
    fields = {text(k): text(v) for k, v in raw.items()}
    if "capacity" not in fields:
        raise LineMissing(line)

    def optional(name: str) -> str | None:
        return fields.get(name) or None

    opens_at, sold_out_at, seats_left, cap = (
        optional("opens_at"),
        optional("sold_out_at"),
        optional("seats_left"),
        optional("places_per_address"),
    )
    return LineRules(
        capacity=int(fields["capacity"]),
        per_minute=int(fields["per_minute"]),
        paused=fields.get("paused") == "1",
        waiter_timeout=float(fields["waiter_timeout"]),
        admitted_idle=float(fields["admitted_idle"]),
        opens_at=None if opens_at is None else float(opens_at),
        seed=fields.get("seed", ""),
        sold_out_at=None if sold_out_at is None else float(sold_out_at),
        seats_left=None if seats_left is None else int(seats_left),
        places_per_address=None if cap is None else int(cap),
        challenge=fields.get("challenge") or "off",
    )


def decode_stats(raw: list[Any], now: float) -> LineStats:
    """``advance()``'s reply: waiting, admitted, admitted in the window, first admission."""
    waiting, admitted, recent, first = raw
    first_text = text(first)
    return LineStats(
        waiting=int(waiting),
        admitted=int(admitted),
        admitted_last_minute=int(recent),
        observed_seconds=now - float(first_text) if first_text else 0.0,
    )


def decode_ticket(user_id: int, raw: list[Any], rules: LineRules) -> tuple[Ticket, bool]:
    """``ticket_reply()``: the ticket and whether this step created it."""
    jti, seq, iat, exp, state, rank, last_seen, created = raw
    queue_state = QueueState(text(state))
    admitted = queue_state is QueueState.ADMITTED
    ticket = Ticket(
        user_id=user_id,
        jti=text(jti),
        seq=int(seq),
        issued_at=int(iat),
        token_expires_at=int(text(exp)),
        state=queue_state,
        position=shown_position(queue_state, int(rank)),
        lapses_at=lapses_at(admitted=admitted, last_seen=float(text(last_seen)), rules=rules),
    )
    return ticket, int(created) == 1


def decode_gate(raw: list[Any]) -> list[tuple[str, int]]:
    """``gate.lua``: (state, rank) per request, state '' when the ticket is not live."""
    return [(text(raw[i]), int(raw[i + 1])) for i in range(0, len(raw), 2)]


def decode_draw_page(raw: Any) -> tuple[float, list[int]] | None:
    """``draw.lua``: when the opening was drawn and a page of its order, or 0 for none
    recorded."""
    if raw == 0:
        return None
    drawn_at, page = raw
    return float(text(drawn_at)), [int(u) for u in page]
