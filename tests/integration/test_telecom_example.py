"""The telecom churn worked example (examples/telecom_churn/) on the real BigML files.

The data is not in the repository (licence unclear): it is read from ../shared/data/telecom_churn
beside the repository (or TELECOM_CHURN_DIR), and the tests skip, saying so, when it is not there."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.lib.settings import PROJECT_ROOT

# Beside the repository (as on CI), or wherever TELECOM_CHURN_DIR says.
DATA = Path(os.environ.get("TELECOM_CHURN_DIR") or PROJECT_ROOT.parent / "shared" / "data" / "telecom_churn")
pytestmark = pytest.mark.skipif(
    not (DATA / "churn-bigml-80.csv").is_file(),
    reason=f"telecom churn data not found at {DATA} (kept outside the repository: licence unclear)",
)
DAY = dt.date(2024, 12, 31)
# A hand-written card on a feature this data has (the default card's features do not exist here).
BASE_CARD = """
name: telecom
version: "0.1"
owner: tests
description: tenure only
groups: {profile: Profile}
objectives:
  retention_risk: {label: Retention, description: r, group_weights: {profile: 100}}
bands:
  - {grade: red, min: 0, max: 40}
  - {grade: yellow, min: 40, max: 70}
  - {grade: green, min: 70, max: 100}
factors:
  - name: tenure
    label: Tenure
    feature: tenure_days
    group: profile
    owner: cs
    direction: higher_is_better
    normalisation: {method: thresholds, low: 0, high: 200}
    explain: {unit: days, low: "{value} days", high: "{value} days"}
"""


def test_mappings_check_against_the_data(monkeypatch):
    from orchestration.lib.ingest.mapping import check_mappings_dir

    monkeypatch.setenv("TELECOM_CHURN_FILE", str(DATA / "churn-bigml-80.csv"))
    mappings = check_mappings_dir(PROJECT_ROOT / "examples" / "telecom_churn")
    assert set(mappings) == {"accounts", "outcomes", "account_metrics"}


def _mart(path: Path, prefix: str) -> pd.DataFrame:
    """The feature mart the example's mappings give on the export date (attributes and metrics
    named as the mart names them), built directly so the test needs no pipeline run."""
    raw = pd.read_csv(path)
    churn = raw["Churn"].astype(str).str.upper().eq("TRUE")
    metric = {
        "day_minutes": "Total day minutes",
        "day_calls": "Total day calls",
        "day_charge": "Total day charge",
        "eve_minutes": "Total eve minutes",
        "eve_calls": "Total eve calls",
        "eve_charge": "Total eve charge",
        "night_minutes": "Total night minutes",
        "night_calls": "Total night calls",
        "night_charge": "Total night charge",
        "intl_minutes": "Total intl minutes",
        "intl_calls": "Total intl calls",
        "intl_charge": "Total intl charge",
        "vmail_messages": "Number vmail messages",
        "service_calls": "Customer service calls",
    }
    out = pd.DataFrame(
        {
            "account_id": [f"{prefix}-{i + 1}" for i in range(len(raw))],
            "as_of_date": DAY,
            "segment": "Consumer",
            "industry": None,
            "owner": None,
            "parent_account_id": None,
            "tenure_days": raw["Account length"].astype(float),
            "attr_international_plan": raw["International plan"].eq("Yes"),
            "attr_voice_mail_plan": raw["Voice mail plan"].eq("Yes"),
            "attr_state": raw["State"],
            "attr_area_code": raw["Area code"].astype(str),
            **{f"metric_{k}__latest": raw[v].astype(float) for k, v in metric.items()},
            "metric_total_charge__latest": raw[
                ["Total day charge", "Total eve charge", "Total night charge", "Total intl charge"]
            ].sum(axis=1),
            "is_churned": churn,
            "churned_on": [DAY if c else None for c in churn],
            "mrr": None,
            "days_since_last_signal": 0,  # fresh: the export is the newest signal
        }
    )
    return out


def _warehouse(tmp_path: Path, frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    from orchestration.lib.ingest.loader import ensure_raw_schema

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_raw_schema(con)
    con.execute("create schema marts")
    con.register("_f", frame)
    con.execute(
        "create table marts.fct_account_features_daily as select * exclude (mrr, days_since_last_signal, "
        "industry, owner, parent_account_id), cast(null as varchar) as industry, cast(null as varchar) as owner, "
        "cast(null as varchar) as parent_account_id, cast(null as double) as mrr, "
        "cast(0 as integer) as days_since_last_signal from _f"
    )
    con.unregister("_f")
    con.execute(
        """create table marts.fct_account_outcomes as select account_id,
        case when is_churned then 'churn' else 'renewal' end as outcome_type,
        as_of_date as outcome_date from marts.fct_account_features_daily"""
    )
    return con


@pytest.mark.slow
def test_learned_on_the_80_file_measured_on_the_20_file(tmp_path):
    from orchestration.lib.backtest.learn import learn_scorecard
    from orchestration.lib.backtest.run import run_backtest

    learn_dir, test_dir = tmp_path / "80", tmp_path / "20"
    learn_dir.mkdir()
    test_dir.mkdir()
    con80 = _warehouse(learn_dir, _mart(DATA / "churn-bigml-80.csv", "tel80"))
    out = tmp_path / "learned.yml"
    base = tmp_path / "base.yml"
    base.write_text(BASE_CARD)
    result = learn_scorecard(con80, base, n_boot=50, out=out)
    con80.close()
    assert result.rows.mode == "snapshot"
    assert result.round_trip_max_diff < 0.05
    # The interaction the data needs: some factor's bins depend on the international plan.
    assert any(t.conditioner is not None for t in result.model.terms)

    con20 = _warehouse(test_dir, _mart(DATA / "churn-bigml-20.csv", "tel20"))
    res = run_backtest(con20, out, n_boot=50, write_tables=False)
    con20.close()
    assert res.metrics["roc_auc"] >= 0.88
    bands = res.bands.set_index("grade")
    assert bands.loc["red", "churn_rate"] >= 3 * res.metrics["base_rate"]
    cal = res.calibration["metrics"]
    assert cal["brier"] < cal["brier_base_rate"]
    assert np.isfinite(res.metrics["pr_auc"])
