"""The per-request record: a line per request, written in batches.

uvicorn's own access log builds a LogRecord and runs a formatter and a handler for
every request, which cost about a quarter of a balance read's time on the benchmark
machine (docs/benchmarks.md). This record writes the same line (client, request
line, status), plus how long the answer took, into a buffer, and the buffer reaches
the stream in one write a tenth of a second later (or as soon as it holds a thousand
lines). A process killed outright loses at most that tenth of a second of lines;
one that shuts down writes what it has.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from starlette.types import Scope

FLUSH_SECONDS = 0.1
FLUSH_LINES = 1_000


class AccessLog:
    """A ``RequestRecord``: a line per request, written in batches."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lines: list[str] = []
        self._flush_due = False

    def close(self) -> None:
        self.flush()

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        client = scope.get("client")
        where = f"{client[0]}:{client[1]}" if client else "-"
        query = scope.get("query_string", b"")
        path = scope.get("path", "") + ("?" + query.decode("latin-1") if query else "")
        version = scope.get("http_version", "1.1")
        self._lines.append(
            f'INFO:     {where} - "{scope["method"]} {path} HTTP/{version}" {status}'
            f" {seconds * 1000:.1f}ms\n"
        )
        if len(self._lines) >= FLUSH_LINES:
            self.flush()
        elif not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        self._flush_due = False
        if self._lines:
            lines, self._lines = self._lines, []
            self._stream.write("".join(lines))
            self._stream.flush()
