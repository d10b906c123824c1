"""Configuration rules that protect a production deployment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from boxoffice.config import Settings


def test_the_embedded_shape_makes_up_a_secret_key() -> None:
    one = Settings(database_url="sqlite:///x.db")
    two = Settings(database_url="sqlite:///x.db")
    assert len(one.secret_key) >= 32
    assert one.secret_key != two.secret_key


def test_postgresql_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        Settings(database_url="postgresql://u@h/db")
    assert Settings(database_url="postgresql://u@h/db", secret_key="k" * 32).uses_postgres


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret_key="short")


def test_an_unknown_database_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(database_url="mysql://u@h/db")
