"""Waiting-room use cases: join, poll, pass the gate, leave, end a visit."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from boxoffice.clock import from_epoch
from boxoffice.errors import NotAdmitted, RateLimited, SoldOut, TokenExpired
from boxoffice.queue.challenge import ChallengeLevel, Challenges
from boxoffice.queue.lines import Lines
from boxoffice.queue.model import (
    DEFAULT_LINE,
    LineRules,
    QueueState,
    Sells,
    estimate_wait,
    poll_after,
)
from boxoffice.queue.store import NO_ADDRESS, QueueStore, Refused, Seen
from boxoffice.queue.supply import SeatSupply
from boxoffice.storage.db import Database
from boxoffice.tokens import QueueClaims, TokenSigner, new_jti


def require_sold_through(sells: Sells, concert_id: int) -> None:
    """A token shown for a concert its line does not sell is refused."""
    if concert_id not in sells:
        raise NotAdmitted(f"this queue token is not for concert {concert_id}'s line")


GONE = "the queue token is no longer live: it lapsed, was used, or left"
# How long a fan is told to wait when their address holds the line's most places: a
# place of that address frees when its holder pays, leaves or goes silent.
PLACES_RETRY_SECONDS = 30
# Seats left at or below which a sale recounts them at once.
RECOUNT_BELOW = 20
log = logging.getLogger("boxoffice.queue")


@dataclass(frozen=True, slots=True)
class QueueStatus:
    token: str
    state: QueueState
    position: int | None
    estimated_wait_seconds: int | None
    poll_after_seconds: int
    expires_at: datetime
    concert_id: int | None
    sales_open_at: datetime | None
    seats_left: int | None
    paused: bool


@dataclass(frozen=True, slots=True)
class QueuePass:
    """Proof that a live queue token was shown: the user it acts for, its id, the line
    that let it in, and when."""

    user_id: int
    jti: str
    state: QueueState
    line: str
    gated_at: float  # on the line's clock


class WaitingRoom:
    def __init__(
        self,
        *,
        store: QueueStore,
        lines: Lines,
        signer: TokenSigner,
        db: Database,
        supply: SeatSupply,
        challenges: Challenges,
        token_ttl_seconds: int,
    ) -> None:
        self.store = store
        self._challenges = challenges
        self._db = db
        self._supply = supply
        self.lines = lines
        self._signer = signer
        self._token_ttl = token_ttl_seconds

    async def join(
        self,
        *,
        user_id: int,
        now: datetime,
        concert_id: int | None = None,
        address: str = NO_ADDRESS,
        proof: str | None = None,
    ) -> tuple[QueueStatus, bool]:
        """Join the line the concert is sold through (the default line without one),
        with a solved challenge when the line asks for one, from an address that does
        not hold the line's most places already."""
        line = await self._line_of(concert_id)
        level = ChallengeLevel((await self._rules(line)).challenge)
        if level is not ChallengeLevel.OFF:
            await self._challenges.accept(
                proof, user_id=user_id, line=line, now=now.timestamp(), level=level
            )
        expires = int(now.timestamp()) + self._token_ttl
        seen = await self.lines.run(
            line,
            lambda: self.store.join(
                line=line,
                user_id=user_id,
                jti=new_jti(),
                token_expires_at=expires,
                address=address,
            ),
        )
        if seen is Refused.SOLD_OUT:
            raise SoldOut("nothing of this concert is left to sell")
        if seen is Refused.AT_CAP:
            raise RateLimited(
                "this address holds as many places in this line as one address may",
                retry_after=PLACES_RETRY_SECONDS,
                reason="places_per_address",
            )
        return await self._status(line, seen), seen.created

    async def challenge(
        self, *, user_id: int, now: datetime, concert_id: int | None = None
    ) -> dict[str, object]:
        """A proof-of-work challenge for joining this line, at the line's level (a
        line that asks none gets the lowest: a proof it does not need is not read)."""
        line = await self._line_of(concert_id)
        level = ChallengeLevel((await self._rules(line)).challenge)
        if level is ChallengeLevel.OFF:
            level = ChallengeLevel.LOW
        return self._challenges.issue(user_id=user_id, line=line, level=level, now=now.timestamp())

    async def _line_of(self, concert_id: int | None) -> str:
        line = self.lines.line_for(concert_id)
        if concert_id is not None and line == DEFAULT_LINE:
            line = await self.lines.look_up(concert_id)
        return line

    async def _rules(self, line: str) -> LineRules:
        return await self.lines.run(line, lambda: self.store.rules(line))

    async def status(self, *, claims: QueueClaims, token: str) -> QueueStatus:
        """A poll. The token shown is the token to hand back (re-signing the same
        claims would give the same string), so it is echoed, not signed again."""
        line = claims.line
        seen = await self.lines.run(
            line, lambda: self.store.peek(line=line, user_id=claims.user_id, jti=claims.jti)
        )
        if seen is None:
            raise TokenExpired(GONE)
        return await self._status(line, seen, token=token)

    async def check(
        self, *, claims: QueueClaims, admitted: bool, concert_id: int | None = None
    ) -> QueuePass:
        """The gate: a live token, admitted when ``admitted`` is asked for, and by the
        line that sells ``concert_id`` when one is named."""
        line = claims.line
        found = await self.lines.run(
            line, lambda: self.store.gate(line=line, user_id=claims.user_id, jti=claims.jti)
        )
        if found is None:
            raise TokenExpired(GONE)
        if admitted and found.state is not QueueState.ADMITTED:
            if found.position is None:
                raise NotAdmitted(f"not admitted: the line says {found.state.value}")
            raise NotAdmitted(f"still waiting in line at position {found.position}")
        queue_pass = QueuePass(
            user_id=claims.user_id, jti=claims.jti, state=found.state, line=line, gated_at=found.at
        )
        if concert_id is not None:
            self.require_line(queue_pass, concert_id)
        return queue_pass

    def require_line(self, queue_pass: QueuePass, concert_id: int) -> None:
        """A token admitted by one line passes only for the concerts that line sells."""
        require_sold_through(self.sells(queue_pass), concert_id)

    def sells(self, queue_pass: QueuePass) -> Sells:
        """The concerts the line that admitted ``queue_pass`` sells."""
        return self.lines.sells(queue_pass.line)

    async def leave(self, *, claims: QueueClaims) -> None:
        line = claims.line
        left = await self.lines.run(
            line, lambda: self.store.leave(line=line, user_id=claims.user_id, jti=claims.jti)
        )
        if not left:
            raise TokenExpired("the queue token is no longer live")

    async def after_sale(self, *, queue_pass: QueuePass) -> None:
        """A seat sold through a concert's line. With few seats left, they are counted
        again at once, so the line closes on its last sale, not at the next tick."""
        concert_id = self.lines.concert_of(queue_pass.line)
        if concert_id is None:
            return
        try:
            rules = await self.store.rules(queue_pass.line)
            if rules.seats_left is not None and rules.seats_left <= RECOUNT_BELOW:
                await self._supply.recount(concert_id)
        except Exception as exc:  # the sale is made; the tick will count again
            log.warning("could not count the seats left after a sale: %r", exc)

    async def spend(self, *, queue_pass: QueuePass) -> None:
        """End a paid visit; never raises for a store that fails (it retries itself)."""
        await self.store.spend(
            line=queue_pass.line,
            user_id=queue_pass.user_id,
            jti=queue_pass.jti,
            gated_at=queue_pass.gated_at,
        )

    async def _status(self, line: str, seen: Seen, *, token: str | None = None) -> QueueStatus:
        ticket = seen.ticket
        rules = await self.store.rules(line)
        if token is None:
            token = self._signer.queue_token(
                QueueClaims(
                    user_id=ticket.user_id,
                    jti=ticket.jti,
                    seq=ticket.seq,
                    issued_at=ticket.issued_at,
                    expires_at=ticket.token_expires_at,
                    line=line,
                )
            )
        return QueueStatus(
            token=token,
            state=ticket.state,
            position=ticket.position,
            estimated_wait_seconds=estimate_wait(
                position=ticket.position, stats=seen.stats, rules=rules
            ),
            poll_after_seconds=_poll_after(seen, rules),
            expires_at=datetime.fromtimestamp(
                min(ticket.lapses_at, float(ticket.token_expires_at)), tz=UTC
            ),
            concert_id=self.lines.concert_of(line),
            sales_open_at=from_epoch(rules.opens_at),
            seats_left=rules.seats_left,
            paused=rules.paused,
        )


def _poll_after(seen: Seen, rules: LineRules) -> int:
    """A pre-queue fan is told to come back at the opening, not later."""
    ticket = seen.ticket
    seconds = poll_after(position=ticket.position, rules=rules, admitted=seen.stats.admitted)
    if ticket.state is QueueState.PRE_QUEUE and rules.opens_at is not None:
        seconds = max(1, min(seconds, math.ceil(rules.opens_at - seen.now)))
    return seconds
