"""Fans: guests (a name), accounts (an email and a password) and their sessions.

A guest may become an account and keeps their points and tickets: the email and
password are attached to the same user. Sign-in answers an unknown email and a wrong
password alike (``invalid_credentials``), at the same cost, and failed sign-ins are
limited (``SignInLimits``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from boxoffice.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    UserNotFound,
    ValidationFailed,
    WeakPassword,
)
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict
from boxoffice.storage.query import Conn
from boxoffice.tokens import AccessClaims
from boxoffice.users import repository
from boxoffice.users.passwords import Passwords
from boxoffice.users.sessions import Sessions, Tokens
from boxoffice.users.signin_limits import SignInLimits
from boxoffice.wallet import service as wallet_service

MIN_PASSWORD = 8
MAX_PASSWORD = 256
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: int
    name: str
    email: str | None
    access_token: str
    access_expires_at: datetime
    refresh_token: str


def _signed_in(tokens: Tokens, *, name: str, email: str | None) -> SignedIn:
    return SignedIn(
        user_id=tokens.user_id,
        name=name,
        email=email,
        access_token=tokens.access_token,
        access_expires_at=tokens.access_expires_at,
        refresh_token=tokens.refresh_token,
    )


def email_key(email: str) -> str:
    """The email as it is kept and looked up: trimmed and lower-cased."""
    return email.strip().lower()


def normal_email(email: str) -> str:
    """``email_key``, refused when it is no email address."""
    found = email_key(email)
    if len(found) > 254 or not _EMAIL.fullmatch(found):
        raise ValidationFailed("body.email: not an email address")
    return found


def check_password(password: str, *, email: str, name: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if password.strip().lower() in {email, name.strip().lower()} or len(set(password)) < 3:
        raise WeakPassword("the password is too easy to guess")


async def register(*, db: Database, sessions: Sessions, name: str, now: datetime) -> SignedIn:
    """A guest: a user with an empty wallet, signed in."""

    async def work(conn: Conn) -> Tokens:
        user_id = await repository.add_user(conn, name=name, now=now)
        await wallet_service.open_wallet(conn, user_id=user_id)
        return await sessions.start(conn, user_id=user_id, now=now)

    return _signed_in(await db.run(work), name=name, email=None)


async def sign_up(
    *,
    db: Database,
    sessions: Sessions,
    passwords: Passwords,
    email: str,
    password: str,
    name: str,
    guest: AccessClaims | None,
    now: datetime,
) -> SignedIn:
    """A new account, or, with a guest's access, the guest made one (same user)."""
    email = normal_email(email)
    check_password(password, email=email, name=name)
    passwords.make_room()
    hashed = await passwords.hash(password)

    async def work(conn: Conn) -> Tokens:
        if guest is None:
            user_id = await repository.add_user(
                conn, name=name, now=now, email=email, password_hash=hashed
            )
            await wallet_service.open_wallet(conn, user_id=user_id)
        else:
            user_id = guest.user_id
            if not await repository.attach(
                conn, user_id=user_id, email=email, password_hash=hashed, name=name
            ):
                raise await _not_a_guest(conn, user_id)
        return await sessions.start(conn, user_id=user_id, now=now)

    try:
        tokens = await db.run(work)
    except Conflict:
        raise EmailTaken("an account with this email exists: sign in instead") from None
    return _signed_in(tokens, name=name, email=email)


async def _not_a_guest(conn: Conn, user_id: int) -> Exception:
    if await repository.by_id(conn, user_id=user_id) is None:
        return UserNotFound("the token names a user that does not exist")
    return ValidationFailed("this fan has an account already: sign in to it")


async def sign_in(
    *,
    db: Database,
    sessions: Sessions,
    passwords: Passwords,
    limits: SignInLimits,
    email: str,
    password: str,
    address: str,
    now: datetime,
) -> SignedIn:
    email = email_key(email)  # a malformed one is simply no account: invalid_credentials
    passwords.make_room()
    await limits.check(email=email, address=address)
    async with db.statement() as conn:
        account = await repository.by_email(conn, email=email)
    hashed = None if account is None else account.password_hash
    if not await passwords.verify(hashed, password) or account is None:
        await limits.failed(email=email, address=address)
        raise InvalidCredentials("the email or the password is not right")
    await limits.succeeded(email=email, address=address)

    async def work(conn: Conn) -> Tokens:
        return await sessions.start(conn, user_id=account.user_id, now=now)

    return _signed_in(await db.run(work), name=account.name, email=account.email)


async def refresh(*, db: Database, sessions: Sessions, token: str, now: datetime) -> SignedIn:
    tokens = await sessions.refresh(token, now=now)
    async with db.statement() as conn:
        account = await repository.by_id(conn, user_id=tokens.user_id)
    if account is None:
        raise InvalidToken("the refresh token names a user that does not exist")
    return _signed_in(tokens, name=account.name, email=account.email)


async def sign_out(*, sessions: Sessions, claims: AccessClaims, now: datetime) -> None:
    """End the session the access token was issued to (a token with none: nothing)."""
    if claims.session_id is not None:
        await sessions.end(session_id=claims.session_id, now=now)
