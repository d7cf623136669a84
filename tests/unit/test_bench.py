"""The benchmark's bound and pandas peer compute the pipeline's features on a tiny dataset.

The bound runs the project's compiled dbt SQL in one DuckDB connection (its scores are compared
with a real pipeline run by `make bench`); here the pandas peer is checked against it feature by
feature, so a ratio against pandas compares the same work.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from benchmarks.bench import ratio_table, run_measured, tree_rss_by_process, write_results
from benchmarks.bench_bound import run_bound
from benchmarks.bench_pandas import compute_features
from orchestration.lib.demo.generate import generate_demo_data

SHARED_FEATURES = [
    "events_30d", "events_prev_30d", "active_users_30d", "active_users_prev_30d", "features_used_30d",
    "days_since_last_activity", "usage_change_pct", "seat_utilisation",
    "tickets_30d", "tickets_90d", "open_tickets", "high_priority_share_90d", "avg_resolution_hours_90d",
    "csat_avg_90d",
    "nps_latest", "nps_previous", "nps_change", "survey_response_rate_180d",
    "mrr", "mrr_90d_ago", "mrr_change_pct_90d", "seats", "overdue_invoices", "late_payments_180d",
    "failed_payments_180d", "discount_pct",
    "days_since_last_note", "am_rating_latest",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    landing = root / "landing"
    generate_demo_data(landing, accounts=25, days=150, seed=7, end_date=dt.date(2026, 6, 30))
    db = root / "bound" / "healthscore.duckdb"
    run_bound(landing, db, compile_dir=root / "compile", history_days=7, log=lambda _m: None)
    return landing, db


@pytest.mark.slow  # the `tiny` fixture runs the whole bound pipeline (dbt build and scoring)
def test_pandas_peer_matches_the_bound_feature_by_feature(tiny):
    landing, db = tiny
    features = compute_features(landing)
    con = duckdb.connect(str(db), read_only=True)
    con.register("peer", features)
    assert (
        con.execute("select count(*) from peer").fetchone()[0]
        == con.execute("select count(*) from marts.fct_account_features_daily").fetchone()[0]
    )
    mismatches = {}
    for column in SHARED_FEATURES:
        n = con.execute(
            f"""select count(*) from peer as p
            inner join marts.fct_account_features_daily as b
                on b.account_id = p.account_id and b.as_of_date = cast(p.as_of_date as date)
            -- dbt.type_float() is a 32-bit float on DuckDB: compare to a relative 1e-5
            where (p.{column} is null) <> (b.{column} is null)
                or abs(cast(p.{column} as double) - cast(b.{column} as double))
                    > 1e-5 * greatest(1.0, abs(cast(b.{column} as double)))"""
        ).fetchone()[0]
        if n:
            mismatches[column] = n
    con.close()
    assert mismatches == {}


@pytest.mark.slow
def test_bound_scores_every_account_for_the_history(tiny):
    _landing, db = tiny
    con = duckdb.connect(str(db), read_only=True)
    dates, accounts, objectives = con.execute(
        "select count(distinct as_of_date), count(distinct account_id), count(distinct objective) from bound_scores"
    ).fetchone()
    con.close()
    assert (dates, objectives) == (7, 2)
    assert accounts >= 20


def test_tree_rss_counts_this_process():
    import os

    assert sum(tree_rss_by_process(os.getpid()).values()) > 10 * 2**20


def test_run_measured_names_the_processes_at_the_peak_and_writes_a_timeline(tmp_path):
    import os
    import sys

    # a child that holds ~200 MiB for a moment, under a parent that holds little
    child = "import time; b = bytearray(200 * 2**20); time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    run = run_measured([sys.executable, "-c", parent], dict(os.environ), tmp_path / "x.log")
    assert run["returncode"] == 0 and run["peak_rss_mib"] >= 200
    # the peak names both processes, and the big one is the child
    assert len(run["peak_processes_mib"]) == 2
    assert max(run["peak_processes_mib"].values()) >= 200
    rows = (tmp_path / "x.rss.tsv").read_text().splitlines()
    assert rows[0].startswith("time\telapsed_s\trss_mib")
    assert max(int(r.split("\t")[2]) for r in rows[1:]) >= 200
    assert run["load_avg"]["max"] >= run["load_avg"]["mean"] >= 0  # the machine's load, with the figure


def test_ratio_table_reports_a_pandas_run_that_did_not_finish():
    result = {
        "size": "M", "accounts": 20_000, "usage_events": 9_600_000,
        "pipeline": {"seconds": 100.0, "peak_rss_mib": 2000, "stages": {"quality checks": 10.0}},
        "bound": {"seconds": 50.0, "peak_rss_mib": 1500, "stages": {}, "compare": {"different": 0}},
        "pandas": {"seconds": 1200.0, "peak_rss_mib": 16000, "finished": False, "why_not": "time cap 20 min"},
    }  # fmt: skip
    table = ratio_table([result])
    assert "2.00x" in table and "DNF" in table and ">12.0x" in table and "10%" in table


def test_ratio_table_gives_the_pipeline_over_the_independent_yardstick_with_the_load():
    result = {
        "size": "S", "accounts": 1_000, "usage_events": 480_000,
        "pipeline": {"seconds": 90.0, "peak_rss_mib": 3000, "stages": {}, "load_avg": {"mean": 2.5, "max": 3.0}},
        "independent": {
            "mart_seconds": 4.5, "scoring_seconds": 1.5, "peak_rss_mib": 700, "equal": True, "stages": {},
            "load_avg": {"mean": 2.2, "max": 2.4},
        },
    }  # fmt: skip
    row = ratio_table([result]).splitlines()[1].split()
    # pipeline s, its load, independent mart s, + scoring, its load, MiB, pipe/indep, pipe/(indep+scoring)
    assert row[3:] == ["90.0", "2.5", "4.5", "6.0", "2.2", "700", "20.0x", "15.0x", "yes"]


def test_ratio_table_gives_no_speed_ratio_when_pandas_ran_out_of_memory_and_no_bound_ran():
    result = {
        "size": "L", "accounts": 100_000, "usage_events": 48_000_000,
        "pipeline": {"seconds": 1900.0, "peak_rss_mib": 3900, "stages": {"quality checks": 130.0}},
        "pandas": {"seconds": 80.0, "peak_rss_mib": 16600, "finished": False, "why_not": "memory cap 16 GiB"},
    }  # fmt: skip
    table = ratio_table([result]).splitlines()
    row = table[4]  # the second table: own-SQL bound and pandas
    assert "no (mem)" in row and ">0.0x" not in row and "nan" not in row
    assert row.split()[1] == "-" and row.split()[3] == "-"  # no bound: neither seconds nor ratio
    assert table[1].split()[5:] == ["-"] * 7  # no independent yardstick either


def test_write_results_keeps_every_run_apart_from_the_latest(tmp_path):
    first = dt.datetime(2026, 12, 1, 6, 14, 0, tzinfo=dt.UTC)
    latest, kept_first = write_results(tmp_path, "results", {"run": 1}, now=first)
    _, kept_second = write_results(tmp_path, "results", {"run": 2}, now=first + dt.timedelta(hours=1))
    assert latest == tmp_path / "results.json"
    assert json.loads(latest.read_text()) == {"run": 2}
    assert kept_first == tmp_path / "history" / "results-20261201T061400Z.json"
    assert json.loads(kept_first.read_text()) == {"run": 1}
    assert json.loads(kept_second.read_text()) == {"run": 2}
