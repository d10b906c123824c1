"""The storage's clock as an instance carries it between hearings."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from boxoffice.clock import ServedDate, StorageClock


def test_a_clock_not_yet_heard_reads_the_host() -> None:
    clock = StorageClock()
    assert not clock.heard_once
    assert abs(clock.seconds() - time.time()) < 0.05


def test_a_heard_clock_reads_the_storage_whatever_the_host_says() -> None:
    clock = StorageClock()
    asked_at = time.monotonic()
    clock.heard(1_000_000.0, asked_at=asked_at)
    assert clock.heard_once
    assert abs(clock.seconds() - 1_000_000.0) < 0.05
    assert abs(clock().timestamp() - 1_000_000.0) < 0.05
    assert clock().tzinfo is UTC
    assert abs(clock.host_ahead() - (time.time() - 1_000_000.0)) < 0.05
    time.sleep(0.2)  # carried forward by the monotonic clock
    assert 1_000_000.15 < clock.seconds() < 1_000_000.3


def test_the_answer_is_taken_as_given_halfway_through_the_round_trip() -> None:
    clock = StorageClock()
    clock.heard(500.0, asked_at=time.monotonic() - 2.0)  # a 2 s round trip
    assert abs(clock.seconds() - 501.0) < 0.05


def test_the_served_date_follows_the_storage_clock() -> None:
    served = ServedDate()
    host = parsedate_to_datetime(served.header().decode())
    assert abs((host - datetime.now(UTC)).total_seconds()) < 1.5
    clock = StorageClock()
    clock.heard(0.0)
    served.follow(clock)
    assert served.header() == b"Thu, 01 Jan 1970 00:00:00 GMT"
