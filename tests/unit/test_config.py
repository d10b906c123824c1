"""Configuration rules that protect a production deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from boxoffice.config import DEFAULT_ADMIN_TOKEN, Settings

REAL_ADMIN_TOKEN = "a-real-operator-token-0123456789"


def production(**values: Any) -> Settings:
    values = {"secret_key": "k" * 32, "admin_token": REAL_ADMIN_TOKEN, **values}
    return Settings(database_url="postgresql://u@h/db", **values)


def test_the_embedded_shape_makes_up_a_secret_key() -> None:
    one = Settings(database_url="sqlite:///x.db")
    two = Settings(database_url="sqlite:///x.db")
    assert len(one.secret_key) >= 32
    assert one.secret_key != two.secret_key


def test_postgresql_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        production(secret_key="")
    assert production().uses_postgres


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret_key="short")


def test_an_unknown_database_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(database_url="mysql://u@h/db")


def test_postgresql_refuses_to_start_with_the_documented_admin_token() -> None:
    with pytest.raises(ValidationError, match="ADMIN_TOKEN must be set"):
        Settings(database_url="postgresql://u@h/db", secret_key="k" * 32)
    with pytest.raises(ValidationError, match="ADMIN_TOKEN must be set"):
        production(admin_token=DEFAULT_ADMIN_TOKEN)


def test_postgresql_refuses_an_admin_token_shorter_than_24_characters() -> None:
    with pytest.raises(ValidationError, match="at least 24 characters"):
        production(admin_token="a" * 23)
    assert production(admin_token="a" * 24).admin_token == "a" * 24


def test_the_embedded_shape_keeps_working_with_the_default_or_a_short_admin_token() -> None:
    assert Settings(database_url="sqlite:///x.db").admin_token == DEFAULT_ADMIN_TOKEN
    assert Settings(database_url="sqlite:///x.db", admin_token="short").admin_token == "short"


def test_the_token_postgresql_refuses_is_the_one_the_readme_prints() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"Bearer {DEFAULT_ADMIN_TOKEN}" in readme
