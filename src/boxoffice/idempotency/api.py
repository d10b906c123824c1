"""How an answer given under an Idempotency-Key is sent back."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from boxoffice.idempotency.service import Outcome


def mark_replayed(outcome: Outcome[Any], response: Response) -> None:
    """A replayed answer carries the first answer's status and says it is a replay."""
    response.status_code = outcome.status_code
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
