"""``create_app(settings)``: everything a running boxoffice needs, built from one Settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from boxoffice.auth.api import router as users_router
from boxoffice.auth.tokens import TokenSigner
from boxoffice.catalog.api import admin_router as catalog_admin_router
from boxoffice.catalog.api import router as catalog_router
from boxoffice.catalog.api import seat_maps
from boxoffice.catalog.cache import CatalogCache
from boxoffice.config import Settings
from boxoffice.context import AppContext, Clock
from boxoffice.db import Database, utcnow
from boxoffice.deps import Ctx
from boxoffice.errors import Busy, documented, install_error_handlers
from boxoffice.idempotency import service as idempotency
from boxoffice.metrics import Metrics, MetricsMiddleware
from boxoffice.payments.api import router as payments_router
from boxoffice.queue.api import admin_router as queue_admin_router
from boxoffice.queue.api import polls as queue_polls
from boxoffice.queue.api import router as queue_router
from boxoffice.queue.model import AdmissionRules
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.service import WaitingRoom
from boxoffice.queue.store import MemoryQueueStore, QueueStore
from boxoffice.reservations.api import router as reservations_router
from boxoffice.routing import API_V1, add_flat
from boxoffice.sales.api import router as sales_router
from boxoffice.wallet.api import router as wallet_router
from boxoffice.web import mount_pages

log = logging.getLogger("boxoffice")

TICK_SECONDS = 1.0
IDEMPOTENCY_SWEEP_SECONDS = 3600.0

DESCRIPTION = """
Concert ticketing with a fair virtual waiting room.

**Flow:** register (`POST /api/v1/users`) → charge points → join the line
(`POST /api/v1/queue/tokens`) → poll `GET /api/v1/queue/status` until `ADMITTED` →
hold a seat (`POST /api/v1/reservations`) → pay (`POST /api/v1/payments`).

**Credentials** (all `Authorization: Bearer …`): the *access token* from registration,
the *queue token* from joining the line (the key to the gated endpoints once admitted),
and the *admin token* from configuration.

**Errors** are RFC 9457 problems (`application/problem+json`) with a stable `code`.
"""


def admission_rules(settings: Settings) -> AdmissionRules:
    return AdmissionRules(
        capacity=settings.admission_capacity,
        per_minute=settings.admission_per_minute,
        paused=False,
        waiter_timeout=float(settings.waiter_timeout_seconds),
        admitted_idle=float(settings.admitted_idle_seconds),
    )


def build_queue_store(settings: Settings) -> QueueStore:
    rules = admission_rules(settings)
    if settings.redis_url:
        return RedisQueueStore.from_url(
            settings.redis_url,
            defaults=rules,
            prefix=settings.redis_prefix,
            mirror=settings.queue_status_mirror,
            pool_size=settings.redis_pool_size,
        )
    return MemoryQueueStore(rules)


def create_app(
    settings: Settings, *, clock: Clock = utcnow, queue_store: QueueStore | None = None
) -> FastAPI:
    db = Database.from_settings(settings)
    signer = TokenSigner(settings.secret_key)
    store = queue_store or build_queue_store(settings)
    metrics = Metrics()
    ctx = AppContext(
        settings=settings,
        db=db,
        signer=signer,
        waiting_room=WaitingRoom(
            store=store, signer=signer, token_ttl_seconds=settings.queue_token_ttl_seconds
        ),
        clock=clock,
        metrics=metrics,
        catalog_cache=CatalogCache(settings.seat_map_cache_ms / 1000),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.start()
        ticker = asyncio.create_task(_tick(ctx))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await store.close()
            await db.dispose()

    app = FastAPI(
        title="boxoffice",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    if settings.bench_endpoints:
        # The barest FastAPI endpoint there is: declared on the app itself, tried first.
        app.add_api_route("/bench/ceiling", ceiling, include_in_schema=False)
    # Routes are tried in order, so the busiest come first, routed flat: every fan's
    # join and polls, then admitted fans' seat maps.
    add_flat(app, queue_polls)
    add_flat(app, seat_maps)
    for router in (
        queue_router,
        catalog_router,
        users_router,
        wallet_router,
        reservations_router,
        payments_router,
        catalog_admin_router,
        queue_admin_router,
        sales_router,
    ):
        app.include_router(router, prefix=API_V1)
    app.include_router(_ops_router())
    mount_pages(app)
    return app


def app_from_env() -> FastAPI:
    """The app for a worker process started by ``boxoffice serve --workers N``."""
    return settle(create_app(Settings()))


def settle(app: FastAPI) -> FastAPI:
    """Take what exists once the app is built (modules, routes, schemas: objects that
    live as long as the process) out of the garbage collector's sight. A full
    collection walking them paused this server for ~100 ms every few seconds under
    load; afterwards it walks only what requests and the line have made since."""
    gc.collect()
    gc.freeze()
    return app


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz", responses=documented(Busy))
    async def readyz(ctx: Ctx) -> dict[str, str]:
        """Storage answers: safe to send traffic here."""
        try:
            await asyncio.wait_for(ctx.db.ping(), timeout=2.0)
        except Exception as exc:
            raise Busy("the database does not answer") from exc
        return {"status": "ready"}

    @router.get("/metrics", response_class=Response)
    async def metrics(ctx: Ctx) -> Response:
        """Prometheus text exposition."""
        stats = await ctx.waiting_room.store.advance(now=ctx.clock().timestamp())
        ctx.metrics.waiting.set(stats.waiting)
        ctx.metrics.admitted.set(stats.admitted)
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


CEILING_BODY = {
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "x" * 150 + ".signature-signature-signat",
    "status": "WAITING",
    "position": 1234,
    "estimatedWaitSeconds": 120,
    "pollAfterSeconds": 15,
    "expiresAt": "2026-12-24T19:00:00.123456Z",
}


async def ceiling() -> dict[str, object]:
    """What the framework alone costs: a status-shaped answer with no work behind it."""
    return CEILING_BODY


async def _tick(ctx: AppContext) -> None:
    """Keep the line moving when nobody polls, and tidy old idempotency keys.
    Correctness never waits for this: every request advances the line itself."""
    since_sweep = IDEMPOTENCY_SWEEP_SECONDS
    while True:
        try:
            now = ctx.clock()
            stats = await ctx.waiting_room.store.advance(now=now.timestamp())
            ctx.metrics.waiting.set(stats.waiting)
            ctx.metrics.admitted.set(stats.admitted)
            if since_sweep >= IDEMPOTENCY_SWEEP_SECONDS:
                since_sweep = 0.0
                cutoff = now - timedelta(seconds=ctx.settings.idempotency_ttl_seconds)
                await idempotency.forget_old(db=ctx.db, cutoff=cutoff)
        except Exception:
            log.exception("background tick failed; retrying")
        await asyncio.sleep(TICK_SECONDS)
        since_sweep += TICK_SECONDS
