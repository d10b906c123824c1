"""What every request can reach: built once by ``create_app`` from its Settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from boxoffice.auth.tokens import TokenSigner
from boxoffice.catalog.cache import CatalogCache
from boxoffice.config import Settings
from boxoffice.db import Database
from boxoffice.metrics import Metrics
from boxoffice.queue.service import WaitingRoom

Clock = Callable[[], datetime]


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    signer: TokenSigner
    waiting_room: WaitingRoom
    clock: Clock
    metrics: Metrics
    catalog_cache: CatalogCache
