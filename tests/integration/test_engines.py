"""The same pipeline on DuckDB, PostgreSQL and Spark gives the same answers (docs/scale-out.md).

One small demo landing zone; the Dagster job `healthscore_all` runs on each engine in turn
(ingest -> quality gates -> dbt -> sentiment -> scoring -> publish), each in its own warehouse:
a DuckDB file, a throwaway PostgreSQL 15 server (tests/support/pg_server.py) and a local Spark
session with its own warehouse dir and Derby metastore. Then features, scores, grades,
explanations and quality results are compared with DuckDB's:

- keys, counts, grades, text (reasons, change drivers, missing factors): exactly;
- floating point: within FLOAT_TOLERANCE (absolute, on 0-100 scores and on features).

Spark is in its own module (test_engines_spark.py), with its own DuckDB reference on the same
landing zone, so that pytest-xdist (`--dist loadfile`) runs it on one worker while this module
and the rest of the suite run on the other. On Spark the dbt tests (model-level asset checks) are
left out of the run to keep `make test` short (about 100 extra Spark jobs); they run on DuckDB and
PostgreSQL here, and the Great Expectations gates run on every engine.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.demo.generate import generate_demo_data
from orchestration.lib.engines.factory import open_engine
from tests.dates import DEMO_END_DATE, pinned_env
from tests.support import pg_server as pg

pytestmark = pytest.mark.slow

ACCOUNTS = 40
DAYS = 120
HISTORY_DAYS = 10
FLOAT_TOLERANCE = 1e-6
# When the rows were loaded: differs by run, not by engine.
LOAD_TIME_COLUMNS = {"inputs_loaded_through"}

# What is compared, with the key of each row. Columns not listed in FLOATS are compared exactly.
QUERIES = {
    "features": (
        "select * from marts.fct_account_features_daily",
        ["account_id", "as_of_date"],
    ),
    "scores": (
        """select account_id, as_of_date, objective, health_score, grade, computed_score, computed_grade,
            confidence, coverage, missing_factors, is_churned, arr, top_reasons, previous_score,
            score_change, change_drivers, override_id
        from scores.health_scores""",
        ["account_id", "as_of_date", "objective"],
    ),
    "factors": (
        """select account_id, as_of_date, objective, factor, raw_value, factor_score, nominal_weight,
            weight, contribution, impact, reason
        from scores.health_score_factors""",
        ["account_id", "as_of_date", "objective", "factor"],
    ),
    "current": (
        "select account_id, objective, as_of_date, health_score, grade, top_reasons from bi.health_scores_current",
        ["account_id", "objective"],
    ),
    "rollups": (
        """select parent_account_id, as_of_date, objective, rollup_score, rollup_grade, accounts_in_rollup,
            worst_account_id
        from scores.health_score_rollups""",
        ["parent_account_id", "as_of_date", "objective"],
    ),
    "quality": (
        "select check_name, passed, unexpected_count from quality.check_results",
        ["check_name"],
    ),
    "quarantine": (
        "select source, source_file, row_number, column_name, reason from raw._quarantine",
        ["source", "source_file", "row_number", "column_name"],
    ),
    "sentiment": (
        "select channel, record_id, content_hash, compound, label, topic from sentiment.text_scores",
        ["channel", "record_id"],
    ),
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engines")
    generate_demo_data(root / "landing", accounts=ACCOUNTS, days=DAYS, seed=11, end_date=DEMO_END_DATE)
    return root


def _selection(model_tests: bool) -> dg.AssetSelection:
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups("backtest")
    if not model_tests:
        from orchestration.defs.transform.assets import healthscore_dbt_models

        # Model tests are asset checks of the dbt assets; the GX gates stay in.
        selection = selection - dg.AssetSelection.checks_for_assets(healthscore_dbt_models)
    return selection


def run_pipeline(
    engine: str, root: Path, monkeypatch: pytest.MonkeyPatch, *, model_tests: bool = True
) -> tuple[dict, float]:
    """Run healthscore_all on `engine` (without the dbt tests unless `model_tests`); return the
    compared tables and the run's wall time."""
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("HEALTHSCORE_ENGINE", engine)
    for name, value in pinned_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HEALTHSCORE_LANDING_DIR", str(root / "landing"))
    monkeypatch.setenv("HEALTHSCORE_PUBLISHED_DIR", str(root / f"published-{engine}"))
    warehouse = root / "duckdb" / "healthscore.duckdb"
    monkeypatch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    resource = WarehouseResource(
        warehouse_path=str(warehouse), landing_dir=str(root / "landing"), engine=engine
    )
    defs = build_definitions(resource)
    job = dg.define_asset_job(
        f"healthscore_on_{engine}", selection=_selection(model_tests), executor_def=dg.in_process_executor
    )
    defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    started = time.perf_counter()
    result = defs.resolve_job_def(job.name).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"scores__health_scores": {"config": {"history_days": HISTORY_DAYS}}}},
    )
    seconds = time.perf_counter() - started
    assert result.success
    tables = {}
    with open_engine(engine, duckdb_path=warehouse) as con:
        for name, (sql, _key) in QUERIES.items():
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description]
            tables[name] = (columns, cursor.fetchall())
        # A second run loads nothing new: files are known by checksum on every engine.
        tables["batches"] = (["n"], con.execute("select count(*) from raw._load_batches").fetchall())
    return tables, seconds


def _normalise(value):
    # Engines return dates/timestamps/decimals as their own Python types; compare them as values.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return float(value) if type(value).__name__ == "Decimal" else value


def assert_same(reference: dict, other: dict, engine: str) -> None:
    for name, (_sql, key) in QUERIES.items():
        ref_cols, ref_rows = reference[name]
        cols, rows = other[name]
        assert sorted(cols) == sorted(ref_cols), f"{engine} {name}: columns differ"
        assert len(rows) == len(ref_rows), f"{engine} {name}: {len(rows)} rows, duckdb {len(ref_rows)}"

        def by_key(columns, data, key=key):
            index = [columns.index(k) for k in key]
            out = {}
            for row in data:
                record = dict(zip(columns, (_normalise(v) for v in row), strict=True))
                out[tuple(record[columns[i]] for i in index)] = record
            return out

        ref, got = by_key(ref_cols, ref_rows), by_key(cols, rows)
        assert got.keys() == ref.keys(), f"{engine} {name}: keys differ"
        mismatches = []
        for k, ref_record in ref.items():
            for column, expected in ref_record.items():
                if column in LOAD_TIME_COLUMNS:
                    continue
                actual = got[k][column]
                if isinstance(expected, float) and isinstance(actual, float):
                    if math.isnan(expected) and math.isnan(actual):
                        continue
                    if abs(expected - actual) <= FLOAT_TOLERANCE * max(1.0, abs(expected)):
                        continue
                elif expected == actual:
                    continue
                mismatches.append((name, k, column, expected, actual))
        by_column: dict[tuple[str, str], list] = {}
        for m in mismatches:
            by_column.setdefault((m[0], m[2]), []).append(m)
        summary = "; ".join(
            f"{t}.{c}: {len(ms)} rows, e.g. {ms[0][1]} {ms[0][3]!r} vs {ms[0][4]!r}"
            for (t, c), ms in by_column.items()
        )
        assert not mismatches, f"{engine}: {len(mismatches)} values differ: {summary}"
    assert other["batches"] == reference["batches"]


@pytest.fixture(scope="module")
def duckdb_result(landing):
    mp = pytest.MonkeyPatch()
    try:
        yield run_pipeline("duckdb", landing, mp)
    finally:
        mp.undo()


def test_duckdb_reference_has_scores_and_explanations(duckdb_result):
    tables, seconds = duckdb_result
    print(f"\nduckdb pipeline: {seconds:.1f} s")
    scores = tables["scores"][1]
    assert scores and len({r[0] for r in scores}) == ACCOUNTS
    assert any(r[12] for r in scores), "no top reasons"
    assert any(r[15] for r in scores), "no change drivers: the history did not span the change window"


@pytest.mark.skipif(pg.available() is not None, reason=str(pg.available()))
def test_postgres_gives_the_same_answers(landing, duckdb_result):
    import psycopg2

    mp = pytest.MonkeyPatch()
    try:
        with pg.postgres_server() as server:
            con = psycopg2.connect(server.dsn)
            con.autocommit = True
            con.cursor().execute("create database healthscore")
            con.close()
            mp.setenv("HEALTHSCORE_PG_HOST", server.host)
            mp.setenv("HEALTHSCORE_PG_PORT", str(server.port))
            mp.setenv("HEALTHSCORE_PG_USER", server.user)
            mp.setenv("HEALTHSCORE_PG_DBNAME", "healthscore")
            tables, seconds = run_pipeline("postgres", landing, mp)
    finally:
        mp.undo()
    print(f"\npostgres pipeline: {seconds:.1f} s")
    assert_same(duckdb_result[0], tables, "postgres")
