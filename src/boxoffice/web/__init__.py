"""The fan's pages and the operator's control room: static files on the public API."""

from __future__ import annotations

from fastapi import FastAPI


def mount_pages(app: FastAPI) -> None:
    """Serve ``/`` (the fan's visit) and ``/operator`` (the control room)."""
    return None
