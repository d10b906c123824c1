"""Every HTTP request timed once, from its start to its answer, for whoever records it
(the metrics, the access log): one middleware layer however many records there are."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestRecord(Protocol):
    def __call__(self, scope: Scope, status: int, seconds: float) -> None: ...

    def close(self) -> None:
        """The app is shutting down: write out what is kept."""


class TimedRequests:
    def __init__(self, app: ASGIApp, records: Sequence[RequestRecord]) -> None:
        self.app = app
        self._records = tuple(records)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                for record in self._records:
                    record.close()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            for record in self._records:
                record(scope, status, seconds)
