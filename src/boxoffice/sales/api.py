"""The operator's sales view."""

from __future__ import annotations

from fastapi import APIRouter

from boxoffice.deps import Admin

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])
