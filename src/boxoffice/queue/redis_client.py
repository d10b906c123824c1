"""The Redis client the waiting room uses."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def redis_client(
    url: str, *, pool_size: int, timeout_seconds: float, decoded: bool = False
) -> Redis:
    """A client whose every wait is bounded: for a pooled connection, to connect, for
    an answer. A dropped connection (Redis restarted) is retried once at once. Replies
    are RESP3's; ``decoded`` ones come as text (decoded by the parser, not in Python)."""
    pool = BlockingConnectionPool.from_url(
        url,
        protocol=3,
        decode_responses=decoded,
        max_connections=pool_size,
        timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    return Redis(connection_pool=pool)
