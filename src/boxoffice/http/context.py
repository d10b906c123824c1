"""What every request can reach: built once by ``create_app`` from its Settings."""

from __future__ import annotations

from dataclasses import dataclass

from boxoffice.catalog.cache import CatalogCache
from boxoffice.clock import Clock
from boxoffice.config import Settings
from boxoffice.metrics import Metrics
from boxoffice.payments.service import PaymentBatches
from boxoffice.queue.control import LineControl
from boxoffice.queue.lines import Lines
from boxoffice.queue.service import WaitingRoom
from boxoffice.reservations.service import HoldBatches
from boxoffice.storage.db import Database
from boxoffice.tokens import TokenSigner
from boxoffice.wallet.service import BalanceReads, ChargeBatches


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    signer: TokenSigner
    waiting_room: WaitingRoom
    lines: Lines
    control: LineControl
    clock: Clock
    metrics: Metrics
    catalog_cache: CatalogCache
    balances: BalanceReads
    charges: ChargeBatches
    holds: HoldBatches
    payments: PaymentBatches
