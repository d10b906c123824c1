"""Signed bearer tokens: access tokens name a user, queue tokens a place in line.

Both are HS256 JWTs, so a forged or tampered token is refused in memory before any
storage is touched.

Every fan who joins costs one token checked and one signed, so this is on the hot
path. PyJWT prepares the key once (refusing one that looks like a public key); each
MAC is the standard library's one-shot HMAC-SHA256 (``hmac.digest``, in C, where
PyJWT builds an ``hmac.HMAC`` object in Python every time) and is compared in
constant time. The compact framing around it is done here with orjson, which is about
a sixth of the cost of ``jwt.encode``/``jwt.decode`` (they parse options, prepare the
key and run the stdlib JSON codec on every call). The tokens are ordinary JWTs: PyJWT
reads the ones made here and the other way round, which the tests check.
"""

from __future__ import annotations

import binascii
import hmac
import secrets
from base64 import urlsafe_b64encode
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import orjson
from jwt.algorithms import HMACAlgorithm

from boxoffice.bounded import Bounded
from boxoffice.errors import InvalidToken, TokenExpired
from boxoffice.queue.model import DEFAULT_LINE

# The only header boxoffice issues or accepts: {"alg":"HS256","typ":"JWT"}, as PyJWT
# writes it. Any other algorithm (``none`` included) is refused before anything else.
HEADER = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
VERIFIED_CACHE_SIZE = 200_000
TokenType = Literal["access", "queue"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    # The session the token was issued to (None: a token of the site's identity
    # provider, or one issued before sessions existed).
    session_id: int | None = None


@dataclass(frozen=True, slots=True)
class QueueClaims:
    """What a queue token carries; the waiting room keeps the same fields, so the
    exact token can be signed again whenever the user asks for it."""

    user_id: int
    jti: str
    seq: int
    issued_at: int
    expires_at: int
    line: str = DEFAULT_LINE


def new_jti() -> str:
    return secrets.token_urlsafe(12)


class TokenSigner:
    def __init__(self, secret_key: str, *, previous_keys: Sequence[str] = ()) -> None:
        prepare = HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key
        self._key = prepare(secret_key)
        # Tokens signed before a key rotation are still read until they lapse.
        self._previous = [prepare(key) for key in previous_keys]
        self._seen: Bounded[str, dict[str, object]] = Bounded(VERIFIED_CACHE_SIZE)
        self._queue_claims: Bounded[str, QueueClaims] = Bounded(VERIFIED_CACHE_SIZE)

    def access_token(
        self, *, user_id: int, now: datetime, ttl: timedelta, session_id: int | None = None
    ) -> str:
        issued = int(now.timestamp())
        exp = int((now + ttl).timestamp())
        payload: dict[str, object] = {"sub": str(user_id), "typ": "access", "iat": issued}
        payload["exp"] = exp
        if session_id is not None:
            payload["sid"] = session_id
        return self._sign(payload)

    def queue_token(self, claims: QueueClaims) -> str:
        payload = {
            "sub": str(claims.user_id),
            "typ": "queue",
            "jti": claims.jti,
            "seq": claims.seq,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
        }
        if claims.line != DEFAULT_LINE:
            payload["ln"] = claims.line
        return self._sign(payload)

    def _sign(self, payload: dict[str, object]) -> str:
        signing_input = HEADER + b"." + _b64(orjson.dumps(payload))
        return (signing_input + b"." + _b64(_mac(signing_input, self._key))).decode()

    def _verified(self, token: str) -> dict[str, object]:
        """The payload of a correctly signed token. Checking a signature costs more
        than the rest of a status poll, and fans poll with the same token again and
        again, so verified payloads are remembered (bounded; only successes)."""
        payload = self._seen.get(token)
        if payload is not None:
            return payload
        payload = self._verify(token)
        self._seen.put(token, payload)
        return payload

    def _verify(self, token: str) -> dict[str, object]:
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise _malformed() from None
        signing_input, _, signature = raw.rpartition(b".")
        header, _, body = signing_input.partition(b".")
        if header != HEADER or not body:
            raise _malformed()
        try:
            mac = _unb64(signature)
            valid = hmac.compare_digest(mac, _mac(signing_input, self._key)) or any(
                hmac.compare_digest(mac, _mac(signing_input, key)) for key in self._previous
            )
            payload = orjson.loads(_unb64(body)) if valid else None
        except (binascii.Error, ValueError):
            raise _malformed() from None
        if not isinstance(payload, dict) or not all(k in payload for k in ("sub", "typ", "exp")):
            raise _malformed()
        return payload

    def _decode(self, token: str, expected: TokenType, now: datetime) -> dict[str, object]:
        payload = self._verified(token)
        if payload.get("typ") != expected:
            raise InvalidToken(
                f"{'an' if expected == 'access' else 'a'} {expected} token is required here"
            )
        exp = payload.get("exp")
        if not isinstance(exp, int | float) or exp <= now.timestamp():
            raise TokenExpired("the token has expired")
        return payload

    def read_access(self, token: str, *, now: datetime) -> AccessClaims:
        payload = self._decode(token, "access", now)
        sid = payload.get("sid")
        return AccessClaims(
            user_id=_user_id(payload), session_id=sid if isinstance(sid, int) else None
        )

    def read_queue(self, token: str, *, now: datetime) -> QueueClaims:
        known = self._queue_claims.get(token)
        if known is not None:
            if known.expires_at <= now.timestamp():
                raise TokenExpired("the token has expired")
            return known
        payload = self._decode(token, "queue", now)
        jti, seq = payload.get("jti"), payload.get("seq")
        iat, exp = payload.get("iat"), payload.get("exp")
        line = payload.get("ln", DEFAULT_LINE)
        if not (
            isinstance(jti, str)
            and isinstance(seq, int)
            and isinstance(iat, int)
            and isinstance(exp, int)
            and isinstance(line, str)
        ):
            raise InvalidToken("the queue token lacks its claims")
        claims = QueueClaims(
            user_id=_user_id(payload), jti=jti, seq=seq, issued_at=iat, expires_at=exp, line=line
        )
        self._queue_claims.put(token, claims)
        return claims

    def token_type(self, token: str) -> str | None:
        """The ``typ`` claim of a correctly signed token, or None."""
        try:
            typ = self._verified(token).get("typ")
        except InvalidToken:
            return None
        return typ if isinstance(typ, str) else None


def _malformed() -> InvalidToken:
    return InvalidToken("the token is malformed or its signature does not match")


def _mac(message: bytes, key: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def _b64(data: bytes) -> bytes:
    return urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    """base64url without padding, strictly and canonically: a stray character, the
    ``+``/``/`` alphabet or non-zero padding bits are errors, so each token has exactly
    one spelling (and one entry in the verified-token cache)."""
    padded = data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4)
    decoded = binascii.a2b_base64(padded, strict_mode=True)
    if _b64(decoded) != data:
        raise binascii.Error("not the canonical base64url encoding")
    return decoded


def _user_id(payload: dict[str, object]) -> int:
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub.isdigit():
        raise InvalidToken("the token names no user")
    return int(sub)
