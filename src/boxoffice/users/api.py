"""Fans signing up, in and out. Every answer that carries a refresh token also sets it
as the ``boxoffice_refresh`` cookie: ``HttpOnly`` (no page script can read it),
``SameSite=Strict`` (no other site's page can make the browser send it) and scoped to
``/api/v1/sessions`` (sent to nothing else). The fan page keeps its access token in
memory and renews it through the cookie, so a stolen page script finds no lasting
credential, and another site cannot renew one either: the cookie does not go with
its requests, and the answer's token could not be read across origins anyway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status

from boxoffice.errors import (
    Busy,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    RateLimited,
    TokenExpired,
    WeakPassword,
    documented,
)
from boxoffice.http.client_address import client_host
from boxoffice.http.deps import Ctx, CurrentUser, MaybeUser, Now
from boxoffice.http.routing import API_V1
from boxoffice.users import service
from boxoffice.users.schemas import (
    AccountCreate,
    SessionCreate,
    SessionRefresh,
    SignedInPublic,
    UserCreate,
    UserCreated,
)
from boxoffice.users.service import SignedIn

router = APIRouter(tags=["users"])
REFRESH_COOKIE = "boxoffice_refresh"
SESSIONS_PATH = f"{API_V1}/sessions"


def _with_cookie(
    signed_in: SignedIn, request: Request, response: Response, max_age: int
) -> SignedInPublic:
    response.set_cookie(
        REFRESH_COOKIE,
        signed_in.refresh_token,
        max_age=max_age,
        path=SESSIONS_PATH,
        httponly=True,
        samesite="strict",
        # Over https, also when a proxy in front ended TLS (the flag only narrows
        # where the browser sends the cookie, so trusting the header costs nothing).
        secure="https" in (request.url.scheme, request.headers.get("x-forwarded-proto")),
    )
    return SignedInPublic.model_validate(signed_in)


@router.post("/users", status_code=201, responses=documented(NotFound, RateLimited))
async def register(
    body: UserCreate, request: Request, response: Response, ctx: Ctx, now: Now
) -> UserCreated:
    """Sign up as a guest (a name, no email): the answer signs you in. Off in the
    production shape unless `GUEST_SIGNUP` is set (404 `not_found`). Sign-ups from one
    address are limited (`SIGNUPS_PER_ADDRESS`, 429 `rate_limited`)."""
    if not ctx.settings.guest_signup_on:
        raise NotFound("guest sign-up is off here: create an account")
    await ctx.limits.hit("signup_address", client_host(request))
    signed_in = await service.register(db=ctx.db, sessions=ctx.sessions, name=body.name, now=now)
    answer = _with_cookie(signed_in, request, response, ctx.settings.refresh_token_ttl_seconds)
    return UserCreated.model_validate(answer.model_dump())


@router.post(
    "/accounts",
    status_code=201,
    responses=documented(EmailTaken, WeakPassword, InvalidToken, TokenExpired, RateLimited, Busy),
)
async def create_account(
    body: AccountCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    now: Now,
    guest: MaybeUser,
) -> SignedInPublic:
    """Create an account; with a guest's access token, make that guest an account
    (same fan: points and tickets kept). Sign-ups from one address are limited
    (`SIGNUPS_PER_ADDRESS`, 429 `rate_limited`)."""
    await ctx.limits.hit("signup_address", client_host(request))
    signed_in = await service.sign_up(
        db=ctx.db,
        sessions=ctx.sessions,
        passwords=ctx.passwords,
        email=body.email,
        password=body.password,
        name=body.name,
        guest=guest,
        now=now,
    )
    return _with_cookie(signed_in, request, response, ctx.settings.refresh_token_ttl_seconds)


@router.post(
    "/sessions",
    responses=documented(InvalidCredentials, RateLimited, Busy),
)
async def sign_in(
    body: SessionCreate, request: Request, response: Response, ctx: Ctx, now: Now
) -> SignedInPublic:
    """Sign in with your email and password. An unknown email and a wrong password get
    the same 401 `invalid_credentials`; too many failures, or sign-ins from one
    address (`SIGNINS_PER_ADDRESS`), 429 `rate_limited`."""
    address = client_host(request)
    await ctx.limits.hit("signin_address", address)
    signed_in = await service.sign_in(
        db=ctx.db,
        sessions=ctx.sessions,
        passwords=ctx.passwords,
        limits=ctx.signin_limits,
        email=body.email,
        password=body.password,
        address=address,
        now=now,
    )
    return _with_cookie(signed_in, request, response, ctx.settings.refresh_token_ttl_seconds)


@router.post("/sessions/refresh", responses=documented(InvalidToken))
async def refresh(
    request: Request,
    response: Response,
    ctx: Ctx,
    now: Now,
    body: Annotated[SessionRefresh | None, Body()] = None,
) -> SignedInPublic:
    """A new access token, and a new refresh token in place of the one sent, the way it
    was sent: in the body, or (body left out) only in the `boxoffice_refresh` cookie.
    A refresh token used a second time ends its session: 401 `invalid_token`, and
    neither copy works again."""
    sent = body.refresh_token if body else None
    token = sent or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise InvalidToken("send the refresh token in the body or its cookie")
    signed_in = await service.refresh(db=ctx.db, sessions=ctx.sessions, token=token, now=now)
    answer = _with_cookie(signed_in, request, response, ctx.settings.refresh_token_ttl_seconds)
    if sent is None:
        # Renewed through the cookie: the new token goes back the same way only, so a
        # script on the page (which can make this call) never reads one.
        answer.refresh_token = None
    return answer


@router.delete(
    "/sessions/current",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(InvalidToken, TokenExpired),
)
async def sign_out(user: CurrentUser, ctx: Ctx, now: Now) -> Response:
    """Sign out: this session's refresh token no longer renews anything (its access
    token lapses on its own within minutes)."""
    await service.sign_out(sessions=ctx.sessions, claims=user, now=now)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(REFRESH_COOKIE, path=SESSIONS_PATH, httponly=True, samesite="strict")
    return response
