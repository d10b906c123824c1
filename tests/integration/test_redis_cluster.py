"""The waiting room on a Redis Cluster of the tests' own (three masters): lines spread
over the masters, each mirrored from its own master, and everything else boxoffice
keeps in Redis (edge limits, refusals, proofs taken) working there. The store's
contract suite runs on the same cluster (``make_line``'s ``redis-cluster`` stores)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from redis.asyncio import RedisCluster
from redis.exceptions import ClusterCrossSlotError

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.errors import RateLimited
from boxoffice.http.rate_limits import EdgeLimits
from boxoffice.http.refusals import Refusals
from boxoffice.queue.challenge import RedisReplays
from boxoffice.queue.model import LineRules
from boxoffice.queue.redis_client import RedisAddress, client_for
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.scripts import LineKeys
from tests.integration.redis_cluster import redis_cluster_url
from tests.service.test_queue_store_contract import TWO_LINES
from tests.support import ADMIN_TOKEN, SECRET_KEY, Api, FakeClock, eventually, serve

__all__ = ["redis_cluster_url"]  # the fixture, used by name

FAR = 10**10
NORTH, EAST = "north", "east"  # hash slots 1043 and 10965: the first and third master
RULES = LineRules(
    capacity=0, per_minute=1000, paused=False, waiter_timeout=600.0, admitted_idle=600.0
)


@pytest.fixture
def prefix() -> str:
    return f"boxoffice-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def cluster(redis_cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = client_for(
        RedisAddress(url=redis_cluster_url, cluster=True),
        pool_size=4,
        timeout_seconds=2.0,
        decoded=True,
    )
    assert isinstance(client, RedisCluster)
    await client.initialize()
    yield client
    await client.aclose()


def _master_of(cluster: RedisCluster, prefix: str, line: str) -> str:
    node = cluster.get_node_from_key(LineKeys.of(prefix, line).events)
    assert node is not None
    return str(node.name)


async def test_lines_land_on_different_masters(cluster: RedisCluster, prefix: str) -> None:
    assert len(cluster.get_primaries()) == 3
    assert _master_of(cluster, prefix, NORTH) != _master_of(cluster, prefix, EAST)
    # ...and so do the contract suite's two lines, whatever the prefix.
    assert _master_of(cluster, "x:", TWO_LINES[0]) != _master_of(cluster, "y:", TWO_LINES[1])


async def test_control_one_xread_over_two_lines_is_refused_by_a_cluster(
    cluster: RedisCluster, prefix: str
) -> None:
    """What the mirror sent before it read each line on its own: one XREAD naming every
    line's stream. Sent to the master of the first line, the cluster refuses it
    (CROSSSLOT; redis-py refuses it too before sending), so a mirror of two lines there
    would never have been in sync."""
    streams = [LineKeys.of(prefix, line).events for line in (NORTH, EAST)]
    first = cluster.get_node_from_key(streams[0])
    with pytest.raises(ClusterCrossSlotError):
        await cluster.execute_command(
            "XREAD", "COUNT", "10", "STREAMS", *streams, "0-0", "0-0", target_nodes=first
        )


async def _join(store: RedisQueueStore, line: str, user: int) -> None:
    await store.join(line=line, user_id=user, jti=f"j{user}", token_expires_at=FAR)


async def test_a_mirror_follows_lines_on_two_masters(redis_cluster_url: str, prefix: str) -> None:
    address = RedisAddress(url=redis_cluster_url, cluster=True)
    writer = RedisQueueStore.from_url(address, prefix=prefix)
    reader = RedisQueueStore.from_url(address, prefix=prefix, mirror=True)
    try:
        for line in (NORTH, EAST):
            assert await writer.seed(line, RULES)
        await writer.start()
        await reader.start()
        for line in (NORTH, EAST):
            await reader.peek(line=line, user_id=0, jti="none")  # the mirror follows it
        for user in range(1, 11):
            await _join(writer, NORTH, user)
        for user in range(5, 16):
            await _join(writer, EAST, user)
        await writer.leave(line=NORTH, user_id=3, jti="j3")

        async def mirrored(line: str, users: range, gone: set[int]) -> bool:
            mirror = reader._mirror
            assert mirror is not None
            for rank, user in enumerate(u for u in users if u not in gone):
                found = mirror.find(line, user, f"j{user}")
                if found is None or found[1] != rank:
                    return False
            return all(mirror.find(line, user, f"j{user}") is None for user in gone)

        await eventually(lambda: mirrored(NORTH, range(1, 11), {3}))
        await eventually(lambda: mirrored(EAST, range(5, 16), set()))
        assert reader._mirror is not None and len(reader._mirror._readers) == 2
        seen = await reader.peek(line=EAST, user_id=15, jti="j15")
        assert seen is not None and seen.ticket.position == 11
    finally:
        await reader.close()
        await writer.close()


async def test_edge_limits_refusals_and_proofs_are_kept_on_the_cluster(
    redis_cluster_url: str, prefix: str
) -> None:
    settings = Settings(
        redis_url=redis_cluster_url,
        redis_cluster=True,
        redis_prefix=prefix,
        joins_per_address="2/minute",
    )
    limits = EdgeLimits.from_settings(settings)
    await limits.hit("join_address", "10.0.0.1")
    await limits.hit("join_address", "10.0.0.1")
    with pytest.raises(RateLimited):
        await limits.hit("join_address", "10.0.0.1")
    await limits.hit("join_address", "10.0.0.2")

    client = client_for(RedisAddress.of(settings), pool_size=4, timeout_seconds=2.0)
    try:
        refusals = Refusals(client, key=f"{prefix}refused")
        refusals.count("join_address")
        refusals.count("join_address")
        assert await refusals.totals() == {"join_address": 2}
        proofs = RedisReplays(client, prefix=f"{prefix}proofs:")
        assert await proofs.first_use("p1", ttl_seconds=60, now=0.0)
        assert not await proofs.first_use("p1", ttl_seconds=60, now=0.0)
    finally:
        await client.aclose()


async def test_a_fan_joins_and_polls_an_app_on_the_cluster(
    redis_cluster_url: str, prefix: str, sqlite_url: str
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        redis_url=redis_cluster_url,
        redis_cluster=True,
        redis_prefix=prefix,
        secret_key=SECRET_KEY,
        admin_token=ADMIN_TOKEN,
        load_demo_data=False,
        guest_signup=True,
        admission_capacity=1,
    )
    async with serve(create_app(settings)) as client:
        api = Api(client, FakeClock())
        first, second = await api.register("first"), await api.register("second")
        assert (await api.join(first)).json()["status"] == "ADMITTED"
        r = await api.join(second)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "WAITING"

        async def told_first_in_line() -> bool:
            r = await api.status(second)
            return r.status_code == 200 and r.json()["position"] == 1

        await eventually(told_first_in_line)


def test_a_cluster_is_named_by_one_nodes_url_and_nothing_else() -> None:
    for wrong in (
        {"redis_cluster": True},
        {"redis_cluster": True, "redis_url": "redis://node:7000/3"},
        {
            "redis_cluster": True,
            "redis_url": "redis://node:7000/0",
            "redis_sentinels": "s:26379",
            "redis_sentinel_master": "m",
        },
    ):
        with pytest.raises(ValidationError, match="REDIS_CLUSTER"):
            Settings(**wrong)
    assert RedisAddress.of(Settings(redis_cluster=True, redis_url="redis://node:7000")).cluster


def test_a_cluster_client_keeps_the_bounded_waits_of_a_url_one() -> None:
    """Each connect and answer within the timeout, RESP3, one retry; a node's pool
    holds at most the pool size (it does not wait for a free connection: it fails,
    503 busy)."""
    address = RedisAddress(url="redis://:hunter2@node:7000/0", cluster=True)
    client = client_for(address, pool_size=8, timeout_seconds=0.75)
    assert isinstance(client, RedisCluster)
    kwargs = client.get_connection_kwargs()
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.75, 0.75)
    assert (kwargs["protocol"], kwargs["max_connections"], kwargs["password"]) == (3, 8, "hunter2")
    assert client.retry.get_retries() == 1
