"""Tokens are ordinary HS256 JWTs: PyJWT, the reference, agrees with the signer both
ways, and anything it would refuse (or anything not issued the way boxoffice issues
tokens) is refused too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from boxoffice.errors import InvalidToken, TokenExpired
from boxoffice.tokens import QueueClaims, TokenSigner

KEY = "k" * 64  # long enough for HS512, so PyJWT forges without warnings
NOW = datetime(2026, 12, 24, 19, 0, tzinfo=UTC)
LATER = 4_000_000_000


def test_pyjwt_reads_the_tokens_the_signer_makes() -> None:
    signer = TokenSigner(KEY)
    now = datetime.now(UTC)  # PyJWT checks iat and exp against the real clock
    access = signer.access_token(user_id=7, now=now, ttl=timedelta(hours=1))
    assert jwt.get_unverified_header(access) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(access, KEY, algorithms=["HS256"]) == {
        "sub": "7",
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 3600,
    }
    queue = signer.queue_token(
        QueueClaims(user_id=7, jti="abc", seq=3, issued_at=100, expires_at=LATER)
    )
    claims = jwt.decode(queue, KEY, algorithms=["HS256"])
    assert claims == {"sub": "7", "typ": "queue", "jti": "abc", "seq": 3, "iat": 100, "exp": LATER}


def test_the_signer_reads_the_tokens_pyjwt_makes() -> None:
    signer = TokenSigner(KEY)
    access = jwt.encode({"sub": "7", "typ": "access", "exp": LATER}, KEY, algorithm="HS256")
    assert signer.read_access(access, now=NOW).user_id == 7
    queue = jwt.encode(
        {"sub": "7", "typ": "queue", "jti": "abc", "seq": 3, "iat": 100, "exp": LATER},
        KEY,
        algorithm="HS256",
    )
    assert signer.read_queue(queue, now=NOW) == QueueClaims(
        user_id=7, jti="abc", seq=3, issued_at=100, expires_at=LATER
    )


def _refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        TokenSigner(KEY).read_access(token, now=NOW)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_another_algorithm_is_refused_even_with_the_right_key(algorithm: str) -> None:
    _refused(jwt.encode({"sub": "7", "typ": "access", "exp": LATER}, KEY, algorithm=algorithm))


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "7", "typ": "access", "exp": LATER}, "", algorithm="none")
    _refused(token)
    # ...even when it claims HS256 in its header and carries an empty signature.
    header = TokenSigner(KEY).access_token(user_id=7, now=NOW, ttl=timedelta(hours=1))
    _refused(header.rpartition(".")[0] + ".")


def test_a_changed_payload_or_signature_is_refused() -> None:
    token = TokenSigner(KEY).access_token(user_id=7, now=NOW, ttl=timedelta(hours=1))
    header, payload, signature = token.split(".")
    other = TokenSigner(KEY).access_token(user_id=8, now=NOW, ttl=timedelta(hours=1))
    _refused(f"{header}.{other.split('.')[1]}.{signature}")
    _refused(f"{header}.{payload}.{signature[::-1]}")
    # Characters outside base64url are an error, not silently skipped.
    _refused(f"{header}.{payload}.{signature[:10]}!{signature[10:]}")
    _refused(f"{header}.{payload}.{signature}.")
    _refused(f"{header}.{payload}")
    _refused("é." + token)


def test_a_correctly_signed_token_without_its_claims_is_refused() -> None:
    _refused(jwt.encode({"typ": "access", "exp": LATER}, KEY, algorithm="HS256"))
    _refused(jwt.encode({"sub": "7", "exp": LATER}, KEY, algorithm="HS256"))
    _refused(jwt.encode({"sub": "x", "typ": "access", "exp": LATER}, KEY, algorithm="HS256"))
    with pytest.raises(TokenExpired):
        TokenSigner(KEY).read_access(
            jwt.encode({"sub": "7", "typ": "access", "exp": "soon"}, KEY, algorithm="HS256"),
            now=NOW,
        )


def _respelled(token: str, spell: Callable[[str], str]) -> str:
    head, body, signature = token.split(".")
    return ".".join((head, body, spell(signature)))


def _loose_padding_bits(signature: str) -> str:
    """The same bytes with the unused low bits of the last character set: base64
    decoders that are not strict accept it as the same signature."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return signature[:-1] + alphabet[last | 0b11]


@pytest.mark.parametrize(
    "spell",
    [
        _loose_padding_bits,
        lambda sig: sig.replace("-", "+").replace("_", "/") if set(sig) & {"-", "_"} else "+" + sig,
        lambda sig: sig + "=",
    ],
    ids=["padding-bits", "standard-alphabet", "padded"],
)
def test_only_the_canonical_spelling_of_a_signature_is_accepted(
    spell: Callable[[str], str],
) -> None:
    signer = TokenSigner(KEY)
    for user in range(1, 40):  # some signatures end in a character with spare bits
        token = signer.access_token(user_id=user, now=NOW, ttl=timedelta(hours=1))
        assert signer.read_access(token, now=NOW).user_id == user
        other = _respelled(token, spell)
        if other != token:
            with pytest.raises(InvalidToken):
                signer.read_access(other, now=NOW)
