"""What every request can reach: built once by ``create_app`` from its Settings."""

from __future__ import annotations

from dataclasses import dataclass

from boxoffice.catalog.cache import CatalogCache
from boxoffice.clock import Clock, StorageClock
from boxoffice.config import Settings
from boxoffice.http.rate_limits import EdgeLimits
from boxoffice.http.refusals import Refusals
from boxoffice.metrics import Metrics
from boxoffice.payments.writers import SaleWriter
from boxoffice.queue.control import LineControl
from boxoffice.queue.lines import Lines
from boxoffice.queue.service import WaitingRoom
from boxoffice.reservations.writers import HoldWriter
from boxoffice.storage.clock import ClockWatch
from boxoffice.storage.db import Database
from boxoffice.tokens import TokenSigner
from boxoffice.users.oidc import Identity
from boxoffice.users.passwords import Passwords
from boxoffice.users.sessions import Sessions
from boxoffice.users.signin_limits import SignInLimits
from boxoffice.wallet.service import BalanceReads
from boxoffice.wallet.writers import ChargeWriter


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    signer: TokenSigner
    # Reads access tokens: the signer's, and the identity provider's when configured.
    identity: Identity
    waiting_room: WaitingRoom
    lines: Lines
    control: LineControl
    # Every instant a request reads; the database's (heard each tick) when it is
    # PostgreSQL, then also kept as ``database_clock``.
    clock: Clock
    database_clock: StorageClock | None
    clock_watch: ClockWatch
    metrics: Metrics
    catalog_cache: CatalogCache
    balances: BalanceReads
    # How this database writes a charge, a hold and a sale (chosen once, by backend).
    charges: ChargeWriter
    holds: HoldWriter
    sales: SaleWriter
    sessions: Sessions
    passwords: Passwords
    signin_limits: SignInLimits
    # The edge limits (429 rate_limited): EdgeLimits.hit(name, *ids), and the polls'.
    limits: EdgeLimits
    # Requests refused to keep the line fair, by reason, summed over every instance.
    refusals: Refusals
