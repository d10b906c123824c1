"""Redis Sentinel's settings given half-way: the CLI says so before serving."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.instances import BOXOFFICE, free_port, instance_env


@pytest.mark.parametrize(
    "given",
    [
        {"BOXOFFICE_REDIS_SENTINELS": "127.0.0.1:26379"},
        {"BOXOFFICE_REDIS_SENTINEL_MASTER": "boxoffice"},
    ],
)
def test_one_sentinel_setting_without_the_other_is_refused_at_startup(
    tmp_path: Path, given: dict[str, str]
) -> None:
    env = instance_env(database_url=f"sqlite:///{tmp_path}/x.db", redis_url="", redis_prefix="x:")
    del env["BOXOFFICE_REDIS_URL"]
    result = subprocess.run(
        [BOXOFFICE, "serve", "--port", str(free_port())],
        env={**env, **given},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "REDIS_SENTINELS and BOXOFFICE_REDIS_SENTINEL_MASTER go together" in result.stderr
    assert not (tmp_path / "x.db").exists()
