"""HEALTHSCORE_DATA_DIR moves everything: landing zone, warehouse and published files, also
through `make` (the Makefile must not pin the warehouse)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from orchestration.lib.publish.tables import published_dir
from orchestration.lib.settings import PROJECT_ROOT, Settings


def test_data_dir_moves_landing_warehouse_and_published(monkeypatch, tmp_path):
    for name in ("HEALTHSCORE_WAREHOUSE", "HEALTHSCORE_LANDING_DIR", "HEALTHSCORE_PUBLISHED_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HEALTHSCORE_DATA_DIR", str(tmp_path / "x"))
    settings = Settings.from_env()
    assert settings.landing_dir == tmp_path / "x" / "landing"
    assert settings.warehouse_path == tmp_path / "x" / "warehouse" / "healthscore.duckdb"
    assert published_dir(settings) == tmp_path / "x" / "published"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_passes_the_data_dir_through_without_pinning_the_warehouse(tmp_path):
    """What a recipe of the Makefile sees as its environment when the user sets only HEALTHSCORE_DATA_DIR."""
    env = {"PATH": "/usr/bin:/bin", "HEALTHSCORE_DATA_DIR": str(tmp_path / "x")}
    out = subprocess.run(
        ["make", "-s", "-f", str(PROJECT_ROOT / "Makefile"), "--eval", "show-env: ; @env", "show-env"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"HEALTHSCORE_DATA_DIR={tmp_path / 'x'}" in out
    assert "HEALTHSCORE_WAREHOUSE=" not in out  # Settings derives it from the data dir


def test_suggested_commands_point_at_the_data_dir_in_use(monkeypatch, tmp_path):
    """After a run or a learn on HEALTHSCORE_DATA_DIR=..., the commands the CLI suggests carry it:
    a plain `healthscore sql` would open the default warehouse, not the one just built."""
    from orchestration.lib.commands import command_with_data_dir

    monkeypatch.delenv("HEALTHSCORE_DATA_DIR", raising=False)
    assert "HEALTHSCORE_DATA_DIR" not in command_with_data_dir()
    monkeypatch.setenv("HEALTHSCORE_DATA_DIR", str(tmp_path / "mine"))
    assert command_with_data_dir().startswith(f"HEALTHSCORE_DATA_DIR={tmp_path / 'mine'} ")
    assert command_with_data_dir().endswith("healthscore")
