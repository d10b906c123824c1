"""Where Redis is, as the settings say it: one URL, or Redis Sentinel's two settings,
and the clients built from them keep every wait bounded."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from boxoffice.config import Settings
from boxoffice.queue.redis_client import RedisAddress, redis_client

SENTINELS = "10.0.0.5:26379, 10.0.0.6:26379,[fd00::7]:26380"


def sentinel_settings(**values: Any) -> Settings:
    return Settings(redis_sentinels=SENTINELS, redis_sentinel_master="boxoffice", **values)


def test_the_sentinels_are_host_port_pairs_and_ipv6_hosts_are_bracketed() -> None:
    assert sentinel_settings().redis_sentinel_addresses == [
        ("10.0.0.5", 26379),
        ("10.0.0.6", 26379),
        ("fd00::7", 26380),
    ]


@pytest.mark.parametrize("given", ["10.0.0.5", "10.0.0.5:", ":26379", "h:0", "h:65536", "h:x"])
def test_a_sentinel_that_is_not_host_port_is_refused_at_startup(given: str) -> None:
    with pytest.raises(ValidationError, match="is not a host:port"):
        Settings(redis_sentinels=given, redis_sentinel_master="boxoffice")


def test_sentinels_without_the_master_name_or_the_other_way_round_are_refused() -> None:
    with pytest.raises(ValidationError, match="REDIS_SENTINEL_MASTER go together"):
        Settings(redis_sentinels=SENTINELS)
    with pytest.raises(ValidationError, match="REDIS_SENTINEL_MASTER go together"):
        Settings(redis_sentinel_master="boxoffice")
    with pytest.raises(ValidationError, match="go together"):
        Settings(redis_sentinels=" , ", redis_sentinel_master="boxoffice")


def test_the_sentinels_alone_put_the_waiting_room_in_redis() -> None:
    assert sentinel_settings().uses_redis
    assert Settings(redis_url="redis://queue:6379/0").uses_redis
    assert not Settings().uses_redis


def test_beside_the_sentinels_a_url_gives_only_the_database_and_credentials() -> None:
    with pytest.raises(ValidationError, match="redis:// or rediss://"):
        sentinel_settings(redis_url="unix:///run/redis.sock")
    address = RedisAddress.of(sentinel_settings(redis_url="redis://:hunter2@ignored:1/3"))
    client = redis_client(address, pool_size=8, timeout_seconds=0.5)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"]) == (3, "hunter2")
    assert "host" not in kwargs


def test_a_sentinel_client_keeps_the_bounded_waits_of_a_url_one() -> None:
    """A free connection waited for at most the timeout, each connect and answer
    too, RESP3, one retry of a dropped connection; and it asks the sentinels where
    the primary is, all of them together within the timeout."""
    timeout = 0.75
    by_url = redis_client("redis://queue:6379/0", pool_size=8, timeout_seconds=timeout)
    by_sentinels = redis_client(
        RedisAddress.of(sentinel_settings()), pool_size=8, timeout_seconds=timeout
    )
    for client in (by_url, by_sentinels):
        pool: Any = client.connection_pool
        kwargs = pool.connection_kwargs
        assert (pool.max_connections, pool.timeout) == (8, timeout)
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (timeout, timeout)
        assert kwargs["protocol"] == 3
        assert kwargs["retry"].get_retries() == 1
    pool = by_sentinels.connection_pool
    assert pool.service_name == "boxoffice"
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in pool.sentinel_manager.sentinels
    ] == sentinel_settings().redis_sentinel_addresses
    for sentinel in pool.sentinel_manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == timeout / 3
