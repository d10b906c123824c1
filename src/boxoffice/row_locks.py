"""Rows that a statement shared by several requests locks before it writes them: in
the order of their keys, so that two such statements, or one and a single request's
write, take their locks in the same order and meet instead of deadlocking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, Column, ColumnElement, select


def locked_in_order(key: Column[Any], among: ColumnElement[bool], *, name: str) -> CTE:
    """The keys of the rows of ``key``'s table that ``among`` picks, each row locked
    (``FOR UPDATE``) in the order of ``key``: a step of the statement's own, read by
    the part that writes them. PostgreSQL sorts every row before it locks the first."""
    return select(key).where(among).order_by(key).with_for_update(of=key.table).cte(name)
