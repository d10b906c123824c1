"""The Redis clients pack commands with hiredis: byte for byte what redis-py's own
asyncio packing sends, refusing what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from boxoffice.queue.redis_client import RedisAddress, redis_client

STEP: list[Any] = [
    "EVALSHA",
    "0123456789abcdef0123456789abcdef01234567",
    3,
    "bx:{c:12}:line",
    "bx:{c:12}:tickets",
    "bx:{c:12}:events",
    60,
    *(1001, "jti-abcdefghijkl", 1_765_000_000, "127.0.0.1", "2001:db8::/64"),
    *(1.5, 0.1, 1e-7, 1_765_000_000.123456, 2**63, -1, "é", b"\x00\xff"),
]


def test_a_clients_connections_pack_as_redis_py_does_but_in_c() -> None:
    client = redis_client("redis://127.0.0.1:1/0", pool_size=1, timeout_seconds=1)
    kind = client.connection_pool.connection_class
    assert kind.__mro__[1].__name__ == "_HiredisPacking"
    packed = kind().pack_command(*STEP)
    assert b"".join(packed) == b"".join(Connection().pack_command(*STEP))
    bad: Any
    for bad in (None, True):
        with pytest.raises(DataError):
            kind().pack_command("SET", "k", bad)


def test_a_sentinel_clients_connections_pack_with_hiredis_too() -> None:
    address = RedisAddress(sentinels=(("127.0.0.1", 1),), master="main")
    client = redis_client(address, pool_size=1, timeout_seconds=1)
    assert client.connection_pool.connection_class.__mro__[1].__name__ == "_HiredisPacking"
