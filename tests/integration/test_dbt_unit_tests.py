"""Every dbt unit test, on its own (`dbt build` also runs them, before each model), among them the
point-in-time rules (dbt_project/models/intermediate/_intermediate__unit_tests.yml):
a record known after day D never counts for D, late records count from the day they are known,
coverage intervals merge into islands. dbt reads the input models' column types from the
warehouse, so their upstream is built empty first (`dbt run --empty`) on raw tables made from the
contracts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.settings import PROJECT_ROOT

PROJECT = PROJECT_ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
pytestmark = pytest.mark.slow  # about a minute of dbt

TESTED_MODELS = ("int_account_usage_daily", "int_account_signals_daily", "cf_contract_progress")


def _dbt(args: list[str], warehouse: Path, target: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEALTHSCORE_WAREHOUSE": str(warehouse), "HEALTHSCORE_ENGINE": "duckdb"}
    common = ["--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT), "--target-path", str(target)]
    return subprocess.run([str(DBT), *args, *common], env=env, capture_output=True, text=True, check=False)


def test_point_in_time_unit_tests_pass(tmp_path: Path) -> None:
    warehouse = tmp_path / "unit.duckdb"
    with connect(warehouse) as con:
        ensure_raw_schema(con)
    target = tmp_path / "target"
    select = " ".join(f"+{m}" for m in TESTED_MODELS)
    built = _dbt(["run", "--empty", "--select", select], warehouse, target)
    assert built.returncode == 0, built.stdout[-3000:]
    tested = _dbt(["test", "--select", "test_type:unit"], warehouse, target)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert "PASS=0 " not in tested.stdout and " ERROR=0 " in tested.stdout, tested.stdout[-3000:]
