"""The dialect hooks the scorecard compiler and the loader use (orchestration/lib/engines/)."""

import datetime as dt

import duckdb

from orchestration.lib.engines.dialect import DIALECTS, create_table_sql
from orchestration.lib.engines.duckdb import DuckDBEngine
from orchestration.lib.scoring.compile import FACTOR_UNION_PART, compile_scoring
from orchestration.lib.scoring.scorecard import load_scorecard
from orchestration.lib.settings import PROJECT_ROOT


def test_spark_tables_are_parquet_without_constraints():
    sql = create_table_sql(DIALECTS["spark"], "raw.t", "id varchar primary key, amount double not null")
    assert sql == "create table if not exists raw.t (id string, amount double) using parquet"
    pg = create_table_sql(DIALECTS["postgres"], "raw.t", "id varchar primary key, amount double not null")
    assert "double precision not null" in pg and "primary key" in pg


def test_rounding_and_literals_per_engine():
    assert (
        DIALECTS["postgres"].round("x", 2)
        == "cast(cast(cast(x as decimal(38, 9)) as decimal(38, 2)) as double precision)"
    )
    assert (
        DIALECTS["duckdb"].round_text("x", 1)
        == "cast(cast(cast(x as decimal(38, 9)) as decimal(38, 1)) as varchar)"
    )
    assert DIALECTS["spark"].float(0.25) == "0.25D"  # 0.25 alone is a decimal on Spark
    assert DIALECTS["spark"].q("a`b") == "`a``b`"
    assert DIALECTS["spark"].add_days("d", -7) == "date_add(d, -7)"


def test_duckdb_engine_appends_arrow_batches_by_name():
    import pyarrow as pa

    with duckdb.connect() as con:
        con.execute("create table t (a bigint, b varchar, c double)")
        engine = DuckDBEngine(con)
        batch = pa.record_batch({"b": ["x", None], "a": [1, 2]})  # other order, c missing
        assert engine.append_arrow("t", [batch]) == 2
        assert con.execute("select a, b, c from t order by a").fetchall() == [(1, "x", None), (2, None, None)]


def test_spark_factor_union_is_built_from_parts():
    card = load_scorecard(PROJECT_ROOT / "scorecards" / "default.yml")
    day = dt.date(2026, 1, 31)
    stages = dict(compile_scoring(card, "features", day, day, DIALECTS["spark"]))
    parts = [name for name in stages if name.startswith("_sc_factors_part_")]
    assert parts and stages["_sc_factors"].count("select * from _sc_factors_part_") == len(parts)
    assert all(stages[p].count("union all") < FACTOR_UNION_PART for p in parts)
    duck = dict(compile_scoring(card, "features", day, day))
    assert not any(name.startswith("_sc_factors_part_") for name in duck)
    assert "listagg(" in stages["_sc_base_scores"] and "string_agg(" in duck["_sc_base_scores"]
