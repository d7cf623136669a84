"""The feature mart's values on a pinned demo do not change when its models are rewritten.

A small demo (fixed seed, ending on DEMO_END_DATE) is loaded through the loader at a pinned load
time, its texts scored, and the feature mart built by dbt; every column of
marts.fct_account_features_daily is then hashed in (account_id, as_of_date) order and compared
with tests/snapshots/feature_mart.json. A performance rewrite of the dbt models must leave every
hash as it is; a change that means to alter features regenerates the snapshot on purpose:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/integration/test_mart_fingerprint.py

and the diff of the snapshot (which columns changed) is reviewed like code. Doubles are rounded
to 9 decimals before hashing: the order in which a running sum adds its terms may move the last
bits, never the ninth decimal of a feature.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pytest

from benchmarks.score_fingerprint import column_hashes
from orchestration.lib.dbt_cli import project_args
from orchestration.lib.settings import PROJECT_ROOT
from tests.dates import DEMO_END_DATE, pinned_env

# Three dbt invocations on a 60-account demo: not for test-fast.
pytestmark = pytest.mark.slow

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "feature_mart.json"
REGENERATE = "UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/integration/test_mart_fingerprint.py"
MART = "marts.fct_account_features_daily"
ACCOUNTS, DAYS, SEED = 60, 150, 11
LOADED_AT = dt.datetime.combine(DEMO_END_DATE + dt.timedelta(days=1), dt.time(6))


def _dbt(tmp_path: Path, *args: str) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    result = dbtRunner().invoke(
        [
            *args,
            *project_args(DBT_PROJECT_DIR, tmp_path / "target", tmp_path / "logs"),
            "--vars",
            json.dumps({"reference_date": DEMO_END_DATE.isoformat()}),
            "--quiet",
        ]
    )
    release_duckdb()
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"


def fingerprint(con: duckdb.DuckDBPyConnection, relation: str) -> dict:
    """Row count, the (account_id, as_of_date) keys and an md5 per column of the values in key order."""
    rows, accounts, first, last = con.execute(
        f"select count(*), count(distinct account_id), min(as_of_date), max(as_of_date) from {relation}"
    ).fetchone()
    return {
        "rows": rows,
        "accounts": accounts,
        "as_of_dates": [str(first), str(last)],
        "columns": column_hashes(con, relation, ("account_id", "as_of_date")),
    }


@pytest.fixture(scope="module")
def mart(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from orchestration.defs.sentiment.assets import STAGING_MODELS
    from orchestration.defs.transform.assets import relation_for
    from orchestration.lib.contracts.sources import CONTRACTS
    from orchestration.lib.demo.generate import generate_demo_data
    from orchestration.lib.ingest.loader import ensure_raw_schema, load_source
    from orchestration.lib.sentiment.score import score_warehouse_texts

    tmp_path = tmp_path_factory.mktemp("mart_fingerprint")
    warehouse, landing = tmp_path / "healthscore.duckdb", tmp_path / "landing"
    generate_demo_data(landing, accounts=ACCOUNTS, days=DAYS, seed=SEED, end_date=DEMO_END_DATE)
    patch = pytest.MonkeyPatch()
    patch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    for name, value in pinned_env().items():
        patch.setenv(name, value)
    try:
        with duckdb.connect(str(warehouse)) as con:
            ensure_raw_schema(con)
            for source in CONTRACTS:
                load_source(con, source, landing, loaded_at=LOADED_AT, now=LOADED_AT)
        # as the pipeline: staging, then the sentiment texts, then the features
        _dbt(tmp_path, "run", "--select", "staging")
        with duckdb.connect(str(warehouse)) as con:
            score_warehouse_texts(con, {c: relation_for(m) for c, m in STAGING_MODELS.items()})
        _dbt(tmp_path, "run", "--select", "+fct_account_features_daily")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield fingerprint(con, MART)
    finally:
        patch.undo()


def test_mart_values_match_the_snapshot(mart: dict) -> None:
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(mart, indent=2) + "\n")
    stored = json.loads(SNAPSHOT.read_text())
    assert mart["rows"] > ACCOUNTS * 30, "the demo must give the mart real history"
    changed = sorted(set(mart["columns"].items()) ^ set(stored["columns"].items()), key=lambda item: item[0])
    assert (mart["rows"], mart["accounts"], mart["as_of_dates"]) == (
        stored["rows"],
        stored["accounts"],
        stored["as_of_dates"],
    ), f"the mart's grain changed; if intended, regenerate with `{REGENERATE}`"
    assert not changed, (
        f"feature values changed in {sorted({name for name, _ in changed})}; "
        f"if intended, regenerate with `{REGENERATE}` and review the diff"
    )
