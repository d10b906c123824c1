"""External identity: access tokens signed by the site's own identity provider
(OpenID Connect), accepted wherever boxoffice's own are.

A token is trusted only for what it proves: a signature by a key the issuer publishes
(its JWKS, looked up by ``kid``), in an algorithm on the allow-list (an issuer's
public key must never be read as an HMAC secret, and ``none`` is no algorithm), for
this issuer and this audience, within its lifetime. Its ``sub`` names one boxoffice
user, made with a wallet the first time it is seen.

The JWKS is fetched when a ``kid`` is not known yet (the first token, a rotation),
at most once per ``REFETCH_SECONDS``, so tokens with made-up ``kid``s cannot make
every request a call to the issuer. A fetch that fails is the issuer's outage, not
the fan's fault: 503 ``busy``, while tokens whose key is already known keep working.
Verified tokens and the users they name are remembered, so a fan's every request
costs neither a fetch nor a query."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from jwt import PyJWK, PyJWKClient

from boxoffice.bounded import Bounded
from boxoffice.config import Settings
from boxoffice.errors import Busy, InvalidToken, TokenExpired
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict
from boxoffice.storage.query import Conn
from boxoffice.tokens import HEADER, AccessClaims, TokenSigner
from boxoffice.users import repository
from boxoffice.wallet import service as wallet_service

log = logging.getLogger("boxoffice")

ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
# Clocks of the issuer and of boxoffice may disagree by this much.
LEEWAY_SECONDS = 30
# A kid not in the JWKS refetches it at most this often (after a failed fetch, sooner).
REFETCH_SECONDS = 30
RETRY_FAILED_SECONDS = 5
FETCH_TIMEOUT_SECONDS = 3.0
VERIFIED_CACHE_SIZE = 100_000
USERS_CACHE_SIZE = 200_000
MAX_EXTERNAL_ID = 400
MAX_NAME = 100
DEFAULT_NAME = "fan"
_OWN = HEADER.decode() + "."
_REQUIRED = ["iss", "aud", "exp", "sub"]


@dataclass(frozen=True, slots=True)
class _Verified:
    """What a correctly signed token of the issuer says, checked but for the time."""

    external_id: str
    name: str
    expires_at: float
    not_before: float | None


class ExternalTokens:
    def __init__(self, *, issuer: str, audience: str, jwks_url: str, db: Database) -> None:
        self._issuer = issuer
        self._audience = audience
        self._db = db
        self._client = PyJWKClient(jwks_url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_SECONDS)
        self._keys: dict[str, PyJWK] = {}
        self._fetching = asyncio.Lock()
        self._fetched_at: datetime | None = None
        self._fetch_failed = False
        self._seen: Bounded[str, _Verified] = Bounded(VERIFIED_CACHE_SIZE)
        self._users: Bounded[str, int] = Bounded(USERS_CACHE_SIZE)

    async def read_access(self, token: str, *, now: datetime) -> AccessClaims:
        seen = self._seen.get(token)
        if seen is None:
            seen = await self._verify(token, now)
            _check_time(seen, now)
            self._seen.put(token, seen)
        else:
            _check_time(seen, now)
        user_id = self._users.get(seen.external_id)
        if user_id is None:
            user_id = await self._user_of(seen, now)
            self._users.put(seen.external_id, user_id)
        return AccessClaims(user_id=user_id)

    async def _verify(self, token: str, now: datetime) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"tokens are signed with one of {', '.join(sorted(ALGORITHMS))}")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no key (kid)")
        key = await self._key(kid, now)
        if key.algorithm_name != alg:
            raise InvalidToken("the token's algorithm is not its key's")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                issuer=self._issuer,
                audience=self._audience,
                # The times are checked against the request's instant, not PyJWT's clock.
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is for another audience") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"the token is not valid: {error}") from None
        return self._verified(claims)

    def _verified(self, claims: dict[str, object]) -> _Verified:
        sub, exp, nbf = claims.get("sub"), _time(claims.get("exp")), _time(claims.get("nbf"))
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("the token names no subject")
        if exp is None or (nbf is None and claims.get("nbf") is not None):
            raise InvalidToken("the token's exp or nbf is not a time")
        external_id = f"{self._issuer} {sub}"
        if len(external_id) > MAX_EXTERNAL_ID:
            raise InvalidToken("the token's subject is too long")
        return _Verified(
            external_id=external_id,
            name=_name(claims),
            expires_at=exp,
            not_before=nbf,
        )

    async def _key(self, kid: str, now: datetime) -> PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._fetching:  # fans who all meet a new kid share one fetch
            key = self._keys.get(kid)
            if key is None and self._may_fetch(now):
                await self._fetch(now)
                key = self._keys.get(kid)
        if key is not None:
            return key
        if self._fetch_failed:
            raise _outage()
        raise InvalidToken("the token's key (kid) is not one the issuer publishes")

    def _may_fetch(self, now: datetime) -> bool:
        last = self._fetched_at
        if last is None:
            return True
        wait = RETRY_FAILED_SECONDS if self._fetch_failed else REFETCH_SECONDS
        return not last <= now < last + timedelta(seconds=wait)

    async def _fetch(self, now: datetime) -> None:
        self._fetched_at = now
        try:
            jwks = await asyncio.to_thread(self._client.get_jwk_set, True)
        except (jwt.PyJWTError, ValueError, OSError) as error:
            self._fetch_failed = True
            log.warning("the identity provider's keys could not be fetched: %s", error)
            raise _outage() from None
        self._fetch_failed = False
        keys = {
            key.key_id: key
            for key in jwks.keys
            if key.key_id
            and key.public_key_use in ("sig", None)
            and key.algorithm_name in ALGORITHMS
        }
        if self._keys.keys() - keys.keys():
            # A key the issuer withdrew verifies nothing more, remembered tokens included.
            self._seen = Bounded(VERIFIED_CACHE_SIZE)
        self._keys = keys

    async def _user_of(self, seen: _Verified, now: datetime) -> int:
        """The user the subject names, made (with a wallet) the first time."""
        async with self._db.statement() as conn:
            account = await repository.by_external_id(conn, external_id=seen.external_id)
        if account is not None:
            return account.user_id

        async def first_sight(conn: Conn) -> int:
            user_id = await repository.add_user(
                conn, name=seen.name, now=now, external_id=seen.external_id
            )
            await wallet_service.open_wallet(conn, user_id=user_id)
            return user_id

        try:
            return await self._db.run(first_sight)
        except Conflict:  # another request made them first
            async with self._db.statement() as conn:
                account = await repository.by_external_id(conn, external_id=seen.external_id)
            if account is None:
                raise
            return account.user_id


class Identity:
    """Reads an access token of either kind: boxoffice's own (told apart by its fixed
    header, and read as fast as ever) or, when one is configured, the identity
    provider's."""

    def __init__(self, signer: TokenSigner, external: ExternalTokens | None = None) -> None:
        self._signer = signer
        self._external = external

    async def read_access(self, token: str, *, now: datetime) -> AccessClaims:
        if self._external is None or token.startswith(_OWN):
            return self._signer.read_access(token, now=now)
        return await self._external.read_access(token, now=now)


def identity_for(settings: Settings, *, signer: TokenSigner, db: Database) -> Identity:
    if not (settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url):
        return Identity(signer)
    external = ExternalTokens(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        jwks_url=settings.oidc_jwks_url,
        db=db,
    )
    return Identity(signer, external)


def _check_time(seen: _Verified, now: datetime) -> None:
    instant = now.timestamp()
    if seen.expires_at + LEEWAY_SECONDS <= instant:
        raise TokenExpired("the token has expired")
    if seen.not_before is not None and instant < seen.not_before - LEEWAY_SECONDS:
        raise InvalidToken("the token is not valid yet")


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _name(claims: dict[str, object]) -> str:
    for claim in ("name", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str):
            name = "".join(c for c in value if c.isprintable()).strip()[:MAX_NAME].strip()
            if name:
                return name
    return DEFAULT_NAME


def _outage() -> Busy:
    return Busy("the identity provider's keys cannot be fetched; try again shortly")
