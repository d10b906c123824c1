"""Settings read from the environment (prefix ``BOXOFFICE_``)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from boxoffice.catalog.zones import DEFAULT_TIME_ZONE, TimeZoneName

# Printed in the README, so anyone may know it: the embedded shape starts with it (and
# says so), the production shape refuses it.
DEFAULT_ADMIN_TOKEN = "change-me-admin-token"
MIN_ADMIN_TOKEN_LENGTH = 24
# An origin as a browser writes it (event.origin, a CSP source): scheme, lower-case host
# (a name, an IPv4 or a bracketed IPv6 address), perhaps a port; no path, nothing else.
_ORIGIN = re.compile(r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _random_secret() -> str:
    return secrets.token_urlsafe(32)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOXOFFICE_", extra="ignore")

    database_url: str = "sqlite:///boxoffice.db"
    redis_url: str | None = None
    # Redis Sentinel: the sentinels to ask which server is the primary (comma-separated
    # host:port) and the name they monitor it by. Both or neither; with them, REDIS_URL
    # is optional and gives only the database number and credentials.
    redis_sentinels: str = ""
    redis_sentinel_master: str = ""
    # REDIS_URL names one node of a Redis Cluster; the lines are spread over its masters
    # (each line's keys share a hash tag, so one line lives on one master).
    redis_cluster: bool = False
    redis_prefix: str = Field(default="boxoffice:", min_length=1, max_length=100)
    redis_pool_size: int = Field(default=64, ge=2)
    # Connect and read timeout of every Redis command, and how long a request waits
    # for a pooled Redis connection: past it, the answer is 503 busy.
    redis_timeout_ms: int = Field(default=1000, ge=50)
    # Answer status polls from a per-process mirror of the Redis line (no I/O per
    # poll; liveness written in batches). Off: every poll is one Redis script.
    queue_status_mirror: bool = True
    # Unset, the embedded shape makes up a key per process (tokens then do not
    # survive a restart); with PostgreSQL it must be set, see _secret_key_required.
    secret_key: str = ""
    # The operator's bearer token; with PostgreSQL it must be a real one, see
    # _admin_token_required.
    admin_token: str = DEFAULT_ADMIN_TOKEN

    hold_seconds: int = Field(default=300, ge=1)
    max_holds_per_user: int = Field(default=4, ge=1)
    max_charge: int = Field(default=1_000_000, ge=1)
    max_balance: int = Field(default=10_000_000, ge=1)
    # A fan may refund a paid ticket until this long before the show (the operator
    # may refund any ticket at any time).
    refund_cutoff_hours: int = Field(default=24, ge=0)

    admission_capacity: int = Field(default=200, ge=0)
    admission_per_minute: int = Field(default=600, ge=0)
    admitted_idle_seconds: int = Field(default=600, ge=1)
    waiter_timeout_seconds: int = Field(default=60, ge=3)

    # Access tokens are short-lived: a page renews its own with the session's refresh
    # token, which lives in the database (so a restart or another instance signs
    # nobody out) and is rotated on every use.
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=60)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    # Keys tokens signed before a SECRET_KEY rotation are still read with, until
    # they lapse (comma-separated); new tokens are signed with SECRET_KEY alone.
    previous_secret_keys: str = ""
    # POST /users {"name"} makes a guest with no email or password. Unset: on in the
    # embedded shape (the demo), off with PostgreSQL, where it answers 404.
    guest_signup: bool | None = None
    # Failed sign-ins before a sign-in is refused (429 with Retry-After): of one
    # account from one address, of one account from anywhere, from one address.
    # Each is "N/window" tiers, separated by ";", in the limits library's notation,
    # so the wait grows with the failures.
    failed_signins_per_account_and_address: str = "5/minute;10/hour"
    failed_signins_per_account: str = "20/hour;50/day"
    failed_signins_per_address: str = "30/minute;200/hour"
    # The edge limits (429 rate_limited with Retry-After), each "N/window" tiers like
    # the above. False turns every one of them off, the failed sign-ins' too: for
    # benchmarks, whose fans all come from one address.
    rate_limits: bool = True
    # Proxies whose X-Forwarded-For (and X-Forwarded-Proto) is believed: comma-separated
    # CIDRs (10.0.0.5/32, 10.0.0.0/24). A request from anyone else is its socket's peer.
    trusted_proxies: str = ""
    # Per address, generous: a mobile carrier's NAT puts hundreds of phones behind one
    # public address, and a sale's opening brings them all within minutes, so these
    # stop one machine's flood, not a crowd. Per account, tight: one fan is one person.
    # Every tier counts in a moving window, so a burst waits for its oldest to age out.
    # Sign-ups are the exception, a few a minute: an account is made once, and a sale
    # page asks fans to make theirs ahead of the opening, while a script that makes
    # accounts to hold many places makes them by the hundred.
    signups_per_address: str = "5/minute;60/hour;300/day"
    signins_per_address: str = "60/minute;600/hour"
    joins_per_address: str = "300/minute;3000/hour"
    # A fan rejoining (a reload, a second tab) gets back the same place; 10 in a
    # minute is a script, not a person.
    joins_per_account: str = "10/minute;60/hour"
    # Wrong admin tokens from one address; while any tier is spent even the right
    # token is refused from there, so guessing cannot go on. The windows grow: 10 in a
    # minute, 30 in an hour, 100 in a day. Only failures count: the operator's console
    # polling with the right token never does.
    admin_failures_per_address: str = "10/minute;30/hour;100/day"
    # Status polls one queue token may make in a window, counted in each instance's
    # memory (no I/O on the busiest route). The fastest pollAfterSeconds is 1, so an
    # honest page polls about 10 times in 10 s (a second tab, 20); 30 is three times
    # the fastest pace anyone is told.
    polls_per_token: str = "30/10 seconds"
    # Password hashes computed at once per process (each takes one core for a few tens
    # of milliseconds); more sign-ins wait their turn, up to PASSWORD_QUEUE, beyond
    # which they are answered 503 busy with Retry-After.
    password_workers: int = Field(default=1, ge=1, le=64)
    password_queue: int = Field(default=200, ge=1)
    # A site's own identity provider (OpenID Connect): access tokens it signs are
    # accepted wherever boxoffice's own are. All three or none.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    # The ticketing site's origins whose pages may frame the fan page and hand it their
    # fan's token (comma-separated, exact: https://www.example.com). Empty: none may.
    embedding_origins: str = ""
    # Most live places one address holds in a line: what a new line starts with (the
    # operator changes it per line while a sale runs). 0: no cap.
    places_per_address: int = Field(default=10, ge=0)
    # How long a proof-of-work challenge may be solved and used (seconds).
    challenge_ttl_seconds: int = Field(default=300, ge=10)
    queue_token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=24 * 3600)

    sqlite_busy_timeout_ms: int = Field(default=5_000, ge=0)
    # Database connections per process, opened once and kept: a request beyond them
    # waits its turn (DB_POOL_TIMEOUT_MS) rather than opening one more, since a
    # connection opened and closed for each burst costs more than the wait.
    db_pool_size: int = Field(default=20, ge=1)
    db_statement_timeout_ms: int = Field(default=5_000, ge=100)
    # Connecting to PostgreSQL, and waiting for a pooled connection: past either, the
    # answer is 503 busy. The pool wait is longer, for bursts the pool absorbs.
    db_connect_timeout_ms: int = Field(default=2000, ge=50)
    db_pool_timeout_ms: int = Field(default=5000, ge=50)
    db_retries: int = Field(default=3, ge=0, le=10)
    # How long an instance may answer a seat map or a schedule listing from memory
    # (0: never). Holds are always decided by the database.
    seat_map_cache_ms: int = Field(default=500, ge=0, le=1000)
    load_demo_data: bool = True
    # A new concert's venue time zone when the operator names none (IANA, checked here).
    default_time_zone: TimeZoneName = DEFAULT_TIME_ZONE
    # One log line per request (client, request line, status, time taken): the record
    # to go back to after a disputed sale or a bot wave. Written in batches, it costs
    # a few microseconds a request (docs/benchmarks.md); /metrics counts every route
    # either way.
    access_log: bool = True
    # Tracked objects made, net of those freed, between two young collections of a
    # serving process (Python's default is 700). At the default, the objects of
    # requests in flight outlived a young and a middle collection within milliseconds
    # under load and reached the old generation, which CPython 3.11-3.13 collects in
    # full (every 10th middle collection) once a quarter more has reached it than it
    # holds: every two seconds in a write run, each time walking the line's mirror and
    # the remembered tokens (up to 250 ms, every write's p99). Young collections take a
    # few milliseconds each at 50,000, and garbage in reference cycles waits longer for
    # one. /metrics times every pause (boxoffice_gc_pause_seconds).
    gc_young_objects: int = Field(default=50_000, ge=100, le=10_000_000)

    # What one client may send or hold open; each case gets its answer and, but for an
    # idle connection, a closed connection. Every body here is a small JSON document
    # (the largest, a concert with a 200-character title and venue, is under 5 KiB
    # even with every character escaped), so 16 KiB is room enough; a body past it
    # is refused from its Content-Length before it is read (413), or cut off when it
    # passes the limit while streaming.
    max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    # A request line and headers past this answer 431. A fan's browser sends about
    # 1 KiB (the bearer token is 300 bytes); nginx allows 8 KiB a line by default.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_headers: int = Field(default=100, ge=10)
    # A request head (or a new connection's first one) must arrive whole within this;
    # a head sent slowly or not at all holds a connection for nothing.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    # The body must arrive within this of its head (408 otherwise).
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    # An idle connection between requests is closed after this. Longer than the
    # longest poll interval (15 s), so a polling fan keeps one connection.
    keep_alive_seconds: int = Field(default=20, ge=1)
    # Open connections per process; one more is closed as soon as it is accepted, so
    # a flood of connections cannot take the file descriptors the database and Redis
    # need. serve raises the process's open-file limit to fit, as far as the system
    # allows, and lowers this to fit otherwise.
    max_connections: int = Field(default=10_000, ge=1)

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith("postgres")

    @model_validator(mode="after")
    def _secret_key_required(self) -> Settings:
        if not self.secret_key:
            if self.uses_postgres:
                raise ValueError(
                    "BOXOFFICE_SECRET_KEY must be set when the database is PostgreSQL: "
                    "every instance must sign and verify tokens with the same key"
                )
            self.secret_key = _random_secret()
        elif len(self.secret_key) < 32:
            # HS256 wants a key at least as long as its 32-byte hash.
            raise ValueError("BOXOFFICE_SECRET_KEY must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _admin_token_required(self) -> Settings:
        # The embedded shape keeps the default (serve warns about it); the production
        # shape faces the internet, where the README's token would pause the sale.
        if self.uses_postgres:
            if self.admin_token == DEFAULT_ADMIN_TOKEN:
                raise ValueError(
                    "BOXOFFICE_ADMIN_TOKEN must be set when the database is PostgreSQL: "
                    "the default one is printed in the README"
                )
            if len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH:
                raise ValueError(
                    f"BOXOFFICE_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} "
                    "characters when the database is PostgreSQL"
                )
        return self

    @property
    def guest_signup_on(self) -> bool:
        return (not self.uses_postgres) if self.guest_signup is None else self.guest_signup

    @property
    def previous_keys(self) -> list[str]:
        return [key.strip() for key in self.previous_secret_keys.split(",") if key.strip()]

    @property
    def embedding_origin_list(self) -> list[str]:
        return [origin for origin in self.embedding_origins.split(",") if origin]

    @field_validator("embedding_origins")
    @classmethod
    def _origins_only(cls, value: str) -> str:
        """Each one written as the browser will name it, so that it is matched exactly."""
        origins = []
        for given in (part.strip() for part in value.split(",")):
            if not given:
                continue
            found = _ORIGIN.fullmatch(given.lower())
            port = int(found[3]) if found and found[3] else None
            if found is None or (port is not None and not 0 < port < 65536):
                raise ValueError(
                    f"embedding_origins: {given!r} is not an origin like "
                    "https://www.example.com or http://127.0.0.1:8080 (no path)"
                )
            scheme, host = found[1], found[2]
            default = port is None or _DEFAULT_PORTS[scheme] == port
            origins.append(f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}")
        return ",".join(origins)

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url or self.redis_sentinels)

    @property
    def redis_sentinel_addresses(self) -> list[tuple[str, int]]:
        return [_host_port(given) for given in _listed(self.redis_sentinels)]

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: str) -> str:
        for given in _listed(value):
            try:
                _host_port(given)
            except ValueError:
                raise ValueError(
                    f"redis_sentinels: {given!r} is not a host:port like 10.0.0.5:26379"
                ) from None
        return value

    @model_validator(mode="after")
    def _sentinels_and_master_together(self) -> Settings:
        """Either alone is a mistake that would otherwise surface only at the first
        request (no master name to ask for) or never (a name nobody asks about)."""
        if bool(_listed(self.redis_sentinels)) != bool(self.redis_sentinel_master.strip()):
            raise ValueError(
                "BOXOFFICE_REDIS_SENTINELS and BOXOFFICE_REDIS_SENTINEL_MASTER go together: "
                "set both (the sentinels, and the name they monitor the primary by), or neither"
            )
        if self.redis_sentinels and self.redis_url and not self.redis_url.startswith("redis"):
            raise ValueError(
                "with BOXOFFICE_REDIS_SENTINELS, BOXOFFICE_REDIS_URL gives only the database "
                "and credentials, as a redis:// or rediss:// URL"
            )
        return self

    @model_validator(mode="after")
    def _cluster_by_url(self) -> Settings:
        """A cluster is found through one node's URL and fails over by itself; a
        database other than 0 does not exist on it. Said at start, not at the first
        request."""
        if not self.redis_cluster:
            return self
        if self.redis_sentinels or not self.redis_url:
            raise ValueError(
                "BOXOFFICE_REDIS_CLUSTER needs BOXOFFICE_REDIS_URL (any one node of the "
                "cluster) and no BOXOFFICE_REDIS_SENTINELS"
            )
        if urlsplit(self.redis_url).path not in ("", "/", "/0"):
            raise ValueError(
                "with BOXOFFICE_REDIS_CLUSTER, BOXOFFICE_REDIS_URL names database 0 or none: "
                "a Redis Cluster has no other"
            )
        return self

    @model_validator(mode="after")
    def _oidc_all_or_none(self) -> Settings:
        given = [self.oidc_issuer, self.oidc_audience, self.oidc_jwks_url]
        if any(given) and not all(given):
            raise ValueError(
                "BOXOFFICE_OIDC_ISSUER, BOXOFFICE_OIDC_AUDIENCE and BOXOFFICE_OIDC_JWKS_URL "
                "go together: set all three, or none"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator(
        "failed_signins_per_account_and_address",
        "failed_signins_per_account",
        "failed_signins_per_address",
        "signups_per_address",
        "signins_per_address",
        "joins_per_address",
        "joins_per_account",
        "admin_failures_per_address",
        "polls_per_token",
    )
    @classmethod
    def _limit_tiers(cls, value: str) -> str:
        """Refused at startup, not at the first request it would count."""
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a limit like '30/minute;300/hour' or '30/10 seconds'"
            ) from None
        return value

    @field_validator("polls_per_token")
    @classmethod
    def _one_window(cls, value: str) -> str:
        if ";" in value.strip(" ;"):
            raise ValueError("polls_per_token is one 'N/window', not several tiers")
        return value

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(cidr.strip())
            for cidr in self.trusted_proxies.split(",")
            if cidr.strip()
        ]

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for given in (part.strip() for part in value.split(",")):
            if not given:
                continue
            try:
                ipaddress.ip_network(given)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {given!r} is not an address or a CIDR like 10.0.0.0/24 "
                    "(host bits set?)"
                ) from None
        return value


def _listed(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _host_port(given: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``; ValueError for anything else."""
    host, colon, port = given.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(given)
    return host, int(port)
