"""``create_app(settings)``: everything a running boxoffice needs, built from one Settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from boxoffice.background import cancelling
from boxoffice.catalog.api import admin_router as catalog_admin_router
from boxoffice.catalog.api import router as catalog_router
from boxoffice.catalog.api import seat_maps
from boxoffice.catalog.cache import CatalogCache
from boxoffice.clock import SERVED_DATE, Clock, StorageClock, utcnow
from boxoffice.config import Settings
from boxoffice.errors import Busy
from boxoffice.http.access_log import AccessLog
from boxoffice.http.client_address import install_client_address
from boxoffice.http.context import AppContext
from boxoffice.http.deps import Ctx
from boxoffice.http.express import ExpressLane
from boxoffice.http.limits import install_limits
from boxoffice.http.openapi import document_busy, serve_docs
from boxoffice.http.problems import error_response, install_error_handlers
from boxoffice.http.rate_limits import EdgeLimits
from boxoffice.http.refusals import Refusals
from boxoffice.http.routing import API_V1, add_flat
from boxoffice.http.timing import RequestRecord, TimedRequests
from boxoffice.idempotency import service as idempotency
from boxoffice.metrics import GcPauses, Metrics, RouteMetrics
from boxoffice.orders.api import direct as orders_direct
from boxoffice.orders.api import router as orders_router
from boxoffice.payments.api import direct as payments_direct
from boxoffice.payments.writers import sales_for
from boxoffice.queue.api import admin_router as queue_admin_router
from boxoffice.queue.api import polls as queue_polls
from boxoffice.queue.api import router as queue_router
from boxoffice.queue.challenge import Challenges
from boxoffice.queue.control import LineControl
from boxoffice.queue.lines import Lines
from boxoffice.queue.memory import MemoryQueueStore
from boxoffice.queue.model import LineRules
from boxoffice.queue.redis_client import RedisAddress
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.service import WaitingRoom
from boxoffice.queue.store import QueueStore
from boxoffice.queue.supply import SeatSupply
from boxoffice.refunds.api import admin_router as refunds_admin_router
from boxoffice.refunds.api import router as refunds_router
from boxoffice.reservations.api import direct as reservations_direct
from boxoffice.reservations.api import router as reservations_router
from boxoffice.reservations.writers import holds_for
from boxoffice.sales.api import router as sales_router
from boxoffice.storage.clock import ClockWatch, hear_database
from boxoffice.storage.db import Database
from boxoffice.support.api import router as support_router
from boxoffice.tokens import TokenSigner
from boxoffice.users.api import router as users_router
from boxoffice.users.oidc import identity_for
from boxoffice.users.passwords import Passwords
from boxoffice.users.sessions import Sessions
from boxoffice.users.signin_limits import SignInLimits
from boxoffice.wallet.api import direct as wallet_direct
from boxoffice.wallet.api import router as wallet_router
from boxoffice.wallet.service import BalanceReads
from boxoffice.wallet.writers import charges_for
from boxoffice.web import mount_pages

log = logging.getLogger("boxoffice")

TICK_SECONDS = 1.0
IDEMPOTENCY_SWEEP_SECONDS = 3600.0
READY_TIMEOUT_SECONDS = 2.0
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """
Concert ticketing with a fair virtual waiting room.

**Flow:** register (`POST /api/v1/users`) → charge points → join the line
(`POST /api/v1/queue/tokens`) → poll `GET /api/v1/queue/status` until `ADMITTED` →
hold a seat (`POST /api/v1/reservations`) → pay (`POST /api/v1/payments`).

**Credentials** (all `Authorization: Bearer …`): the *access token* from registration,
the *queue token* from joining the line (the key to the gated endpoints once admitted),
and the *admin token* from configuration.

**Errors** are RFC 9457 problems (`application/problem+json`) with a stable `code`.
Any endpoint may answer **503 `busy`** with `Retry-After` when the database or the
waiting-room store is unreachable or too slow (after a bounded wait): retry then.
"""


def line_defaults(settings: Settings) -> LineRules:
    return LineRules(
        capacity=settings.admission_capacity,
        per_minute=settings.admission_per_minute,
        paused=False,
        waiter_timeout=float(settings.waiter_timeout_seconds),
        admitted_idle=float(settings.admitted_idle_seconds),
        places_per_address=settings.places_per_address or None,
    )


def build_queue_store(settings: Settings, clock: Clock) -> QueueStore:
    if settings.uses_redis:
        return RedisQueueStore.from_url(
            RedisAddress.of(settings),
            prefix=settings.redis_prefix,
            mirror=settings.queue_status_mirror,
            pool_size=settings.redis_pool_size,
            timeout_seconds=settings.redis_timeout_ms / 1000,
        )
    return MemoryQueueStore(lambda: clock().timestamp())


def build_context(
    settings: Settings,
    db: Database,
    clock: Clock,
    store: QueueStore,
    *,
    database_clock: StorageClock | None = None,
) -> AppContext:
    signer = TokenSigner(settings.secret_key, previous_keys=settings.previous_keys)
    lines = Lines(db=db, store=store, defaults=line_defaults(settings), clock=clock)
    supply = SeatSupply(db=db, store=store, lines=lines, clock=clock)
    # What else the waiting room keeps in Redis, when it is there: proofs of work
    # taken, refusals counted.
    redis = store.client if isinstance(store, RedisQueueStore) else None
    waiting_room = WaitingRoom(
        store=store,
        lines=lines,
        signer=signer,
        db=db,
        supply=supply,
        challenges=Challenges.from_settings(settings, redis),
        token_ttl_seconds=settings.queue_token_ttl_seconds,
    )
    control = LineControl(db=db, store=store, lines=lines, supply=supply, clock=clock)
    limits = EdgeLimits.from_settings(settings)
    metrics = Metrics()
    return AppContext(
        settings=settings,
        db=db,
        signer=signer,
        identity=identity_for(settings, signer=signer, db=db),
        waiting_room=waiting_room,
        lines=lines,
        control=control,
        clock=clock,
        database_clock=database_clock,
        clock_watch=ClockWatch(metrics.clock_offset),
        metrics=metrics,
        catalog_cache=CatalogCache(settings.seat_map_cache_ms / 1000),
        balances=BalanceReads(db),
        charges=charges_for(db),
        holds=holds_for(db),
        sales=sales_for(db),
        sessions=Sessions(
            db=db,
            signer=signer,
            access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        ),
        passwords=Passwords(workers=settings.password_workers, queue=settings.password_queue),
        signin_limits=SignInLimits(limits),
        limits=limits,
        refusals=Refusals(redis, key=f"{settings.redis_prefix}refused"),
    )


def create_app(
    settings: Settings, *, clock: Clock | None = None, queue_store: QueueStore | None = None
) -> FastAPI:
    """``clock`` is for tests; by default every instant is PostgreSQL's (heard each
    tick), or the host's in the embedded shape (see ``boxoffice.clock``)."""
    db = Database.from_settings(settings)
    database_clock = StorageClock() if clock is None and not db.is_sqlite else None
    if database_clock is not None:
        SERVED_DATE.follow(database_clock)
    clock = database_clock or clock or utcnow
    store = queue_store or build_queue_store(settings, clock)
    ctx = build_context(settings, db, clock, store, database_clock=database_clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if database_clock is not None:
            # Before the first request: a host whose clock is off must not serve a
            # second on it. If PostgreSQL does not answer now, each tick asks again.
            await _check(hear_database(db, database_clock))
        await store.start()
        ticker = asyncio.create_task(_tick(ctx))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await store.close()
            await ctx.balances.close()
            await ctx.charges.close()
            await ctx.holds.close()
            await ctx.sales.close()
            ctx.passwords.close()
            await ctx.db.dispose()

    app = FastAPI(
        title="boxoffice",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served by serve_docs, from the package rather than a CDN.
        docs_url=None,
        redoc_url=None,
        # boxoffice keeps its own metrics and access log; FastAPI's OpenTelemetry hooks
        # would otherwise look for a configured provider on every request.
        telemetry=NO_TELEMETRY,
    )
    app.state.ctx = ctx
    _install(app, ctx)
    return app


def _install(app: FastAPI, ctx: AppContext) -> None:
    """The edge's layers and every route, in the order requests meet them."""
    app.add_middleware(ExpressLane, owner=app)  # the innermost: see boxoffice.http.express
    install_limits(app, ctx.settings)
    install_error_handlers(app)
    # The access log first: its line is written whatever a later record does.
    records: list[RequestRecord] = [AccessLog()] if ctx.settings.access_log else []
    records.append(RouteMetrics(ctx.metrics))
    app.add_middleware(TimedRequests, records=records)
    install_client_address(app, ctx.settings)  # the outermost: every layer sees the client
    # Routes are tried in order, so the busiest come first, routed flat: every fan's
    # join and polls, then admitted fans' seat maps.
    add_flat(app, queue_polls)
    add_flat(app, seat_maps)
    for direct in (wallet_direct, reservations_direct, orders_direct, payments_direct):
        add_flat(app, direct)
    for router in (
        queue_router,
        catalog_router,
        users_router,
        wallet_router,
        reservations_router,
        orders_router,
        refunds_router,
        catalog_admin_router,
        queue_admin_router,
        refunds_admin_router,
        sales_router,
        support_router,
    ):
        app.include_router(router, prefix=API_V1)
    app.include_router(_ops_router())
    mount_pages(app, embedding_origins=ctx.settings.embedding_origin_list)
    document_busy(app)
    serve_docs(app)


def app_from_env() -> FastAPI:
    """The app for a worker process started by ``boxoffice serve --workers N``."""
    return settle(create_app(Settings()))


def settle(app: FastAPI) -> FastAPI:
    """Ready the serving process's garbage collector for ``app``. What exists once the
    app is built (modules, routes, schemas: objects that live as long as the process)
    is taken out of its sight: a full collection walking them paused this server for
    ~100 ms every few seconds under load; afterwards it walks only what requests and
    the line have made since. Young collections are then ``GC_YOUNG_OBJECTS`` apart,
    and every pause is timed into the app's metrics."""
    ctx: AppContext = app.state.ctx
    gc.collect()
    gc.freeze()
    gc.set_threshold(ctx.settings.gc_young_objects)
    gc.callbacks.append(GcPauses(ctx.metrics))
    return app


async def _check(probe: Awaitable[None]) -> str:
    """ "ok" if ``probe`` succeeds within the bound. A probe still running then is
    cancelled but not waited for: giving a connection back to a frozen database can
    itself take seconds, and ``asyncio.wait_for`` would wait for that too."""
    task = asyncio.ensure_future(probe)
    _PROBES.add(task)  # kept until it ends, cancelled or not
    task.add_done_callback(_retrieve)
    done, _ = await asyncio.wait({task}, timeout=READY_TIMEOUT_SECONDS)
    if not done:
        task.cancel()
        return "unreachable"
    return "ok" if not task.cancelled() and task.exception() is None else "unreachable"


_PROBES: set[asyncio.Future[None]] = set()


def _retrieve(task: asyncio.Future[None]) -> None:
    """Take a finished probe's outcome, so that a failure is not reported as lost."""
    _PROBES.discard(task)
    if not task.cancelled():
        task.exception()


async def _dependencies(ctx: AppContext) -> dict[str, str]:
    """Whether each dependency answers, within a bound; kept in the metrics as well."""
    database_probe = (
        ctx.db.ping()
        if ctx.database_clock is None
        else hear_database(ctx.db, ctx.database_clock)  # a ping that reads its clock
    )
    database, waiting_room = await asyncio.gather(
        _check(database_probe), _check(ctx.waiting_room.store.ping())
    )
    checks = {"database": database, "waitingRoom": waiting_room}
    for name, state in checks.items():
        ctx.metrics.dependency_up.labels(name).set(1 if state == "ok" else 0)
    store = ctx.waiting_room.store
    ctx.clock_watch.saw("database", ctx.database_clock)
    ctx.clock_watch.saw("redis", store.clock if isinstance(store, RedisQueueStore) else None)
    return checks


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up (nothing else is checked)."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "A dependency is unreachable."}})
    async def readyz(ctx: Ctx) -> JSONResponse:
        """Each dependency answers: safe to send traffic here. 503 `busy` names the one
        that does not."""
        checks = await _dependencies(ctx)
        if all(state == "ok" for state in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        down = ", ".join(name for name, state in checks.items() if state != "ok")
        return error_response(Busy(f"not ready: {down} unreachable"), extensions={"checks": checks})

    @router.get("/metrics", response_class=Response)
    async def metrics(ctx: Ctx) -> Response:
        """Prometheus text exposition (the line's counts as of the last tick)."""
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _tick(ctx: AppContext) -> None:
    """Keep the lines moving when nobody polls, and tidy old idempotency keys.
    Correctness never waits for this: every request advances the line itself."""
    since_sweep = IDEMPOTENCY_SWEEP_SECONDS
    while not cancelling():  # a cancellation a storage client swallowed still ends it
        try:
            await _dependencies(ctx)
            store = ctx.waiting_room.store
            for line, stats in (await ctx.control.tick()).items():
                ctx.metrics.waiting.labels(line).set(stats.waiting)
                ctx.metrics.admitted.labels(line).set(stats.admitted)
                mirrored = store.mirrored(line) if isinstance(store, RedisQueueStore) else None
                if mirrored is not None:
                    ctx.metrics.mirror_synced.labels(line).set(1 if mirrored else 0)
            await ctx.refusals.flush()
            if since_sweep >= IDEMPOTENCY_SWEEP_SECONDS:
                since_sweep = 0.0
                cutoff = ctx.clock() - timedelta(seconds=ctx.settings.idempotency_ttl_seconds)
                await idempotency.forget_old(db=ctx.db, cutoff=cutoff)
        except Exception as exc:
            ctx.metrics.tick_failures.inc()
            log.warning("background tick failed (%r); retrying", exc)
        await asyncio.sleep(TICK_SECONDS)
        since_sweep += TICK_SECONDS
