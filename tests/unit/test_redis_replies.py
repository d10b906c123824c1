"""What Redis answers while it cannot serve for now is 503 busy, as redis-py parses it."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser

from boxoffice.http.problems import is_transient_redis_error

FOR_NOW = [
    "READONLY You can't write against a read only replica.",
    "LOADING Redis is loading the dataset in memory",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "OOM command not allowed when used memory > 'maxmemory'.",
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
]


@pytest.mark.parametrize("reply", FOR_NOW)
def test_a_reply_of_a_redis_that_cannot_serve_for_now_is_busy_not_an_error(reply: str) -> None:
    assert is_transient_redis_error(BaseParser.parse_error(reply))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("reply", ["ERR Error running script", "WRONGTYPE Operation against a key"])
def test_a_reply_that_says_the_step_is_wrong_stays_an_error(reply: str) -> None:
    assert not is_transient_redis_error(BaseParser.parse_error(reply))  # type: ignore[no-untyped-call]
