"""The express lane: the direct routes served without the framework's per-request layers.

A direct route's endpoint takes its ``Request`` and returns its ``Response``
(``boxoffice.http.routing``). Reached through FastAPI, it still passes the router's match
over the route list, two ``AsyncExitStack`` blocks for dependencies it does not have,
and Starlette's exception wrapping: on the benchmark machine more than the endpoint's
own work for a status poll or a balance read. This layer, the innermost of the app's
own middleware, tries the direct routes first and calls the one that matches itself.

It answers exactly as the router would: it tries only direct routes that no earlier
route can take a request from (``express_routes``), in the router's order, so the first
of them that matches fully is the route the router would have chosen; anything else
(no full match, another method, a route that is not direct) goes on to FastAPI
untouched. An exception from the endpoint is answered by the app's own exception
handlers, looked up as Starlette looks them up; one with no handler goes on to the
middleware above (``UnexpectedErrors`` answers it 500).

It also answers HEAD wherever GET is answered, on the lane or off it: FastAPI's routes
accept only the methods they name, so a HEAD (a load balancer's health check) would
be 405. A HEAD is served as its GET, and its answer is sent without the body: the
same status and headers, ``Content-Length`` included. The layers above still see a
HEAD, and the route the GET found.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxoffice.http.routing import DirectRoute

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


class ExpressLane:
    def __init__(self, app: ASGIApp, *, owner: FastAPI) -> None:
        self.app = app
        self._owner = owner
        # The middleware is built when the first request arrives: every route is in.
        routes = express_routes(owner)
        # A route of a fixed path is found by its path; the first route that could
        # match a path is at least as early as any fixed one after it, so a path that
        # one of the others matches first is left to them (and to the router's order).
        self._fixed: dict[tuple[str, str], DirectRoute] = {}
        self._patterns: list[DirectRoute] = []
        for route in routes:
            if route.param_convertors:
                self._patterns.append(route)
                continue
            shadowed = any(p.path_regex.match(route.path) for p in self._patterns)
            for method in route.methods or ():
                if not shadowed:
                    self._fixed.setdefault((method, route.path), route)
            if shadowed:
                self._patterns.append(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self._fixed.get((scope["method"], scope["path"]))
            if route is not None and not scope.get("root_path"):
                scope["path_params"] = {}
                scope["endpoint"] = route.endpoint
                scope["route"] = route
                await self._serve(route, scope, receive, send)
                return
            if scope["method"] == "HEAD":
                await self._head(scope, receive, send)
                return
            for route in self._patterns:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await self._serve(route, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a HEAD as its GET, sending the answer's head alone."""
        as_get = {**scope, "method": "GET"}

        async def head_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self(as_get, receive, head_only)
        finally:
            # What the GET was routed to, for the records of the layers above.
            for key in ("route", "endpoint", "path_params"):
                if key in as_get:
                    scope[key] = as_get[key]

    async def _serve(self, route: DirectRoute, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("router", self._owner.router)
        request = Request(scope, receive, send)
        try:
            response: Response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        handlers = self._owner.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                handler: Handler = handlers[cls]
                return handler
        return None


def express_routes(app: FastAPI) -> tuple[DirectRoute, ...]:
    """The direct routes no earlier route can take a request from, in order.

    The router tries routes in order and takes the first that matches fully. Before a
    direct route there may be routes of fixed paths (FastAPI puts its documentation
    first): one of those matches only its own path, so it shadows the direct route
    only if the direct route matches that path too. Past any other kind of route (a
    mount, an included router, a path with parameters) nothing more is taken."""
    chosen: list[DirectRoute] = []
    fixed_paths: list[str] = []
    for route in app.router.routes:
        if isinstance(route, DirectRoute):
            if any(route.path_regex.match(path) for path in fixed_paths):
                break
            chosen.append(route)
        elif isinstance(route, Route) and not route.param_convertors:
            fixed_paths.append(route.path)
        else:
            break
    return tuple(chosen)
