"""Pure rules for seats, holds, money and tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from boxoffice.catalog.model import SeatStatus, is_bookable, seat_status
from boxoffice.errors import InvalidToken, TokenExpired, ValidationFailed
from boxoffice.reservations.holds import is_live_hold
from boxoffice.reservations.model import ReservationStatus, status_at
from boxoffice.tokens import QueueClaims, TokenSigner
from boxoffice.wallet.model import EntryType, check_charge_amount, signed_amount

NOW = datetime(2026, 12, 24, 19, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def test_a_hold_is_live_until_the_instant_it_lapses_and_not_after() -> None:
    assert is_live_hold(held_until=NOW, now=NOW - TICK)
    assert not is_live_hold(held_until=NOW, now=NOW)


def test_a_seat_is_free_the_instant_its_hold_lapses() -> None:
    assert seat_status(sold=False, held_until=NOW, now=NOW - TICK) is SeatStatus.HELD
    assert seat_status(sold=False, held_until=NOW, now=NOW) is SeatStatus.AVAILABLE
    assert seat_status(sold=False, held_until=None, now=NOW) is SeatStatus.AVAILABLE
    assert seat_status(sold=True, held_until=None, now=NOW) is SeatStatus.SOLD


def test_an_unpaid_hold_reads_expired_once_lapsed() -> None:
    held = ReservationStatus.HELD
    assert status_at(held, held_until=NOW, now=NOW - TICK) is ReservationStatus.HELD
    assert status_at(held, held_until=NOW, now=NOW) is ReservationStatus.EXPIRED
    confirmed = ReservationStatus.CONFIRMED
    assert status_at(confirmed, held_until=NOW, now=NOW + TICK) is confirmed


def test_a_schedule_is_bookable_only_before_it_starts() -> None:
    assert is_bookable(concert_at=NOW, now=NOW - TICK)
    assert not is_bookable(concert_at=NOW, now=NOW)


@pytest.mark.parametrize("amount", [0, -1, 1_001])
def test_a_charge_must_be_between_one_and_the_maximum(amount: int) -> None:
    with pytest.raises(ValidationFailed):
        check_charge_amount(amount, max_charge=1_000)


def test_the_edges_of_the_charge_range_are_allowed() -> None:
    check_charge_amount(1, max_charge=1_000)
    check_charge_amount(1_000, max_charge=1_000)


def test_payments_are_recorded_as_negative_amounts_so_the_ledger_sums_to_the_balance() -> None:
    entries = [
        signed_amount(EntryType.CHARGE, 500),
        signed_amount(EntryType.PAYMENT, 300),
        signed_amount(EntryType.REFUND, 100),
    ]
    assert entries == [500, -300, 100]
    assert sum(entries) == 300


def test_a_queue_token_round_trips_and_signs_identically_again() -> None:
    signer = TokenSigner("k" * 32)
    claims = QueueClaims(user_id=7, jti="abc", seq=3, issued_at=100, expires_at=4_000_000_000)
    token = signer.queue_token(claims)
    assert signer.queue_token(claims) == token
    assert signer.read_queue(token, now=NOW) == claims


def test_tokens_of_the_wrong_type_or_key_are_refused() -> None:
    signer = TokenSigner("k" * 32)
    access = signer.access_token(user_id=7, now=NOW, ttl=timedelta(hours=1))
    with pytest.raises(InvalidToken):
        signer.read_queue(access, now=NOW)
    with pytest.raises(InvalidToken):
        TokenSigner("z" * 32).read_access(access, now=NOW)
    assert signer.read_access(access, now=NOW).user_id == 7


def test_a_token_expires_at_its_exp() -> None:
    signer = TokenSigner("k" * 32)
    access = signer.access_token(user_id=7, now=NOW, ttl=timedelta(seconds=60))
    signer.read_access(access, now=NOW + timedelta(seconds=59))
    with pytest.raises(TokenExpired):
        signer.read_access(access, now=NOW + timedelta(seconds=60))
