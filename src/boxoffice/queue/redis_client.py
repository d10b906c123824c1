"""The Redis clients boxoffice makes: the waiting room's, its mirror's and the edge
limits', each to one server, to the primary that Redis Sentinel names, or to a Redis
Cluster (each command goes to the master of its key's slot)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from boxoffice.config import Settings

# How often, at most, a Sentinel pool asks the sentinels whether the primary moved.
FOLLOW_SECONDS = 1.0

# What boxoffice talks to Redis through: one server's (or Sentinel's) client, or a
# cluster's. Every key a command or script names shares one hash tag, so either runs
# it whole on one server.
RedisClient: TypeAlias = Redis | RedisCluster


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is: one server's URL, or the sentinels that know which server is
    the primary now. With sentinels, a URL (if any) gives the database number and the
    credentials; its host and port are not used, since after a failover they name a
    server that is no longer the primary. With ``cluster``, the URL names any one node
    of a Redis Cluster: the client learns the others, and which holds each slot, from
    it."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    cluster: bool = False

    @classmethod
    def of(cls, settings: Settings) -> RedisAddress:
        return cls(
            url=settings.redis_url or None,
            sentinels=tuple(settings.redis_sentinel_addresses),
            master=settings.redis_sentinel_master,
            cluster=settings.redis_cluster,
        )


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool with the blocking pool's bounded wait for a free connection.

    Each new connection asks the sentinels where the primary is. A connection that
    meets a dropped socket (the primary died) or a READONLY reply (the primary was
    demoted to a replica under it) is closed and raises ``ConnectionError``, which the
    one retry answers on a fresh connection to whichever server the sentinels name
    now; while they name none (the seconds of a failover) the answer is 503 busy.

    A failover an operator asks for leaves the old primary up, taking writes, until
    the sentinels demote it, seconds later; writes it takes then are lost when it
    resynchronises from the new primary. So the pool also asks the sentinels, at most
    once every ``FOLLOW_SECONDS`` and beside the request that takes a connection (never
    in its way), whether the primary moved; when it has, idle connections are closed
    and those in use are closed when they are given back."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._next_look = 0.0
        self._looking: asyncio.Task[None] | None = None

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._looking is None and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + FOLLOW_SECONDS
            self._looking = asyncio.create_task(self._follow_primary())
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def _follow_primary(self) -> None:
        try:
            address = await self.sentinel_manager.discover_master(self.service_name)
            if self.master_address is not None and address != self.master_address:
                self.master_address = address
                await self.disconnect(inuse_connections=False)
                await self.update_active_connections_for_reconnect()  # type: ignore[no-untyped-call]
        except (RedisError, OSError):
            pass  # no sentinel answers, or the primary is down: commands will say so
        finally:
            self._looking = None

    async def aclose(self) -> None:
        if self._looking is not None:
            self._looking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._looking
        await super().aclose()
        await self.sentinel_manager.aclose()


def client_for(
    address: RedisAddress | str,
    *,
    pool_size: int,
    timeout_seconds: float,
    decoded: bool = False,
    resp3: bool = True,
) -> RedisClient:
    """``redis_client``, or a cluster's client when the address is a cluster's."""
    if isinstance(address, RedisAddress) and address.cluster:
        assert address.url, "a Redis Cluster is reached through one node's URL"
        options = cluster_options(
            address.url, pool_size=pool_size, timeout_seconds=timeout_seconds, resp3=resp3
        )
        return RedisCluster(**options, decode_responses=decoded)
    return redis_client(
        address, pool_size=pool_size, timeout_seconds=timeout_seconds, decoded=decoded, resp3=resp3
    )


def redis_client(
    address: RedisAddress | str,
    *,
    pool_size: int,
    timeout_seconds: float,
    decoded: bool = False,
    resp3: bool = True,
) -> Redis:
    """A client whose every wait is bounded: for a pooled connection, to connect, for
    an answer. A dropped connection (Redis restarted, or failed over) is retried once at
    once. Replies are RESP3's unless ``resp3`` is off (for a library that parses RESP2
    itself); ``decoded`` ones come as text (decoded by the parser, not in Python)."""
    if isinstance(address, str):
        address = RedisAddress(url=address)
    assert not address.cluster, "a cluster's client is client_for's"
    options: dict[str, Any] = {
        "protocol": 3 if resp3 else 2,
        "decode_responses": decoded,
        "max_connections": pool_size,
        "timeout": timeout_seconds,
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [RedisConnectionError],
    }
    if not address.sentinels:
        assert address.url, "a Redis address is a URL or sentinels"
        return Redis(connection_pool=BlockingConnectionPool.from_url(address.url, **options))
    # A new connection asks the sentinels one after another until one names the
    # primary: each gets its share of the timeout, so asking them all waits no longer
    # than one command may (a sentinel answers in about a millisecond).
    each = timeout_seconds / len(address.sentinels)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        address.sentinels,
        sentinel_kwargs={"socket_timeout": each, "socket_connect_timeout": each},
    )
    client: Redis = sentinel.master_for(
        address.master,
        connection_pool_class=_BlockingSentinelPool,
        **options,
        **_server_options(address.url),
    )
    return client


def cluster_options(
    url: str, *, pool_size: int, timeout_seconds: float, resp3: bool
) -> dict[str, Any]:
    """``RedisCluster``'s arguments for the cluster one node's URL leads to, with the
    same bounded waits as a single server's client. Its pool is a node's own and does
    not wait: past ``pool_size`` connections to one node a command fails at once
    (``MaxConnectionsError``, a ``ConnectionError``: 503 busy) instead of queueing for
    up to the timeout. A dropped connection or a moved slot is retried once, after the
    client has asked the cluster again where each slot lives."""
    options: dict[str, Any] = dict(parse_url(url))
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    options.pop("db", None)  # a cluster has database 0 only (the settings check it)
    return {
        **options,
        "protocol": 3 if resp3 else 2,
        "max_connections": pool_size,
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 1),
    }


def _server_options(url: str | None) -> dict[str, Any]:
    """What a URL says besides where the server is: database, credentials, TLS."""
    if not url:
        return {}
    options: dict[str, Any] = dict(parse_url(url))
    for where in ("host", "port", "path"):
        options.pop(where, None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    return options
