"""Rows that a statement shared by several requests locks before it writes them: in
the order of their keys, so that two such statements, or one and a single request's
write, take their locks in the same order and meet instead of deadlocking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, Column, ColumnElement, select


def locked_in_order(
    key: Column[Any], among: ColumnElement[bool], *, name: str, key_share: bool = False
) -> CTE:
    """The keys of the rows of ``key``'s table that ``among`` picks, each row locked
    (``FOR UPDATE``, or with ``key_share`` ``FOR NO KEY UPDATE``, as an UPDATE that
    leaves keys alone locks) in the order of ``key``: a step of the statement's own,
    read by the part that writes them. PostgreSQL sorts every row before it locks the
    first."""
    locked = select(key).where(among).order_by(key)
    return locked.with_for_update(of=key.table, key_share=key_share).cte(name)
