"""Waiting-room use cases: join, poll, pass the gate, leave, end a visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from boxoffice.auth.tokens import QueueClaims, TokenSigner, new_jti
from boxoffice.errors import NotAdmitted, TokenExpired
from boxoffice.queue.model import (
    AdmissionRules,
    LineStats,
    QueueState,
    Ticket,
    estimate_wait,
    poll_after,
)
from boxoffice.queue.store import QueueStore


@dataclass(frozen=True, slots=True)
class QueueStatus:
    token: str
    state: QueueState
    position: int
    estimated_wait_seconds: int | None
    poll_after_seconds: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class QueuePass:
    """Proof that a live queue token was shown: the user it acts for, and its id."""

    user_id: int
    jti: str
    state: QueueState


@dataclass(frozen=True, slots=True)
class WaitingRoomView:
    rules: AdmissionRules
    stats: LineStats


class WaitingRoom:
    def __init__(self, *, store: QueueStore, signer: TokenSigner, token_ttl_seconds: int) -> None:
        self.store = store
        self._signer = signer
        self._token_ttl = token_ttl_seconds

    async def join(self, *, user_id: int, now: datetime) -> tuple[QueueStatus, bool]:
        ts = now.timestamp()
        ticket, stats, created = await self.store.join(
            user_id=user_id,
            jti=new_jti(),
            now=ts,
            token_expires_at=int(ts) + self._token_ttl,
        )
        return await self._status(ticket, stats), created

    async def status(self, *, claims: QueueClaims, token: str, now: datetime) -> QueueStatus:
        """A poll. The token shown is the token to hand back (re-signing the same
        claims would give the same string), so it is echoed, not signed again."""
        seen = await self.store.peek(user_id=claims.user_id, jti=claims.jti, now=now.timestamp())
        if seen is None:
            raise TokenExpired("the queue token is no longer live: it lapsed, was used, or left")
        return await self._status(*seen, token=token)

    async def check(self, *, claims: QueueClaims, now: datetime, admitted: bool) -> QueuePass:
        """The gate: a live token, and admitted when ``admitted`` is asked for."""
        found = await self.store.gate(user_id=claims.user_id, jti=claims.jti, now=now.timestamp())
        if found is None:
            raise TokenExpired("the queue token is no longer live: it lapsed, was used, or left")
        state, position = found
        if admitted and state is not QueueState.ADMITTED:
            raise NotAdmitted(f"still waiting in line at position {position}")
        return QueuePass(user_id=claims.user_id, jti=claims.jti, state=state)

    async def leave(self, *, claims: QueueClaims, now: datetime) -> None:
        if not await self.store.leave(user_id=claims.user_id, jti=claims.jti, now=now.timestamp()):
            raise TokenExpired("the queue token is no longer live")

    async def spend(self, *, user_id: int, jti: str, now: datetime) -> None:
        await self.store.spend(user_id=user_id, jti=jti, now=now.timestamp())

    async def view(self, *, now: datetime) -> WaitingRoomView:
        stats = await self.store.advance(now=now.timestamp())
        return WaitingRoomView(rules=await self.store.rules(), stats=stats)

    async def configure(
        self,
        *,
        now: datetime,
        capacity: int | None = None,
        per_minute: int | None = None,
        paused: bool | None = None,
    ) -> WaitingRoomView:
        rules = await self.store.rules()
        await self.store.set_rules(
            rules.changed(capacity=capacity, per_minute=per_minute, paused=paused)
        )
        return await self.view(now=now)

    async def _status(
        self, ticket: Ticket, stats: LineStats, *, token: str | None = None
    ) -> QueueStatus:
        rules = await self.store.rules()
        if token is None:
            token = self._signer.queue_token(
                QueueClaims(
                    user_id=ticket.user_id,
                    jti=ticket.jti,
                    seq=ticket.seq,
                    issued_at=ticket.issued_at,
                    expires_at=ticket.token_expires_at,
                )
            )
        lapses = min(ticket.lapses_at, float(ticket.token_expires_at))
        return QueueStatus(
            token=token,
            state=ticket.state,
            position=ticket.position,
            estimated_wait_seconds=estimate_wait(
                position=ticket.position, stats=stats, rules=rules
            ),
            poll_after_seconds=poll_after(position=ticket.position, rules=rules),
            expires_at=datetime.fromtimestamp(lapses, tz=UTC),
        )
