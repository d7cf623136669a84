"""Score sampled past as_of dates with point-in-time features and label them with churn in the
following horizon."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from orchestration.lib.scoring.scorecard import Scorecard
from orchestration.lib.scoring.scores import compute_scores, drop_score_temp_tables

OBJECTIVE = "retention_risk"
_EMPTY_OVERRIDES = "_bt_no_overrides"


# --------------------------------------------------------------------------- helpers
def parse_days(text: str | int) -> int:
    """'90d', '12w', '3m' (30-day months) or a plain number of days."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+)\s*([dwm]?)\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90d, 12w, 3m)")
    n, unit = int(m.group(1)), m.group(2) or "d"
    return n * {"d": 1, "w": 7, "m": 30}[unit]


def find_relation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """schema.name of a table or view, whatever schema dbt put it in (main_marts, marts, ...)."""
    if "." in name:
        return name
    rows = con.execute(
        "select table_schema from information_schema.tables where table_name = ? order by table_schema",
        [name],
    ).fetchall()
    if not rows:
        raise LookupError(f"no table or view named {name!r} in the warehouse")
    return f"{rows[0][0]}.{name}"


def sample_dates(
    con: duckdb.DuckDBPyConnection,
    features_table: str,
    *,
    start: dt.date | None,
    end: dt.date | None,
    every_days: int,
    horizon_days: int,
    warmup_days: int = 60,
) -> list[dt.date]:
    """Every `every_days` from start to end, kept inside the data with a full label window.

    Defaults: start = first as_of_date + warmup (30-vs-previous-30-day trends need 60 days),
    end = last as_of_date - horizon (later dates cannot see their whole outcome window).
    """
    lo, hi = con.execute(f"select min(as_of_date), max(as_of_date) from {features_table}").fetchone()
    if lo is None:
        raise ValueError(f"{features_table} is empty")
    first = max(start or lo + dt.timedelta(days=warmup_days), lo)
    last = min(end or hi, hi - dt.timedelta(days=horizon_days))
    if last < first:
        raise ValueError(
            f"no as_of date between {first} and {last}: the data ends on {hi} and a {horizon_days}-day "
            "horizon needs that much data after each as_of date"
        )
    # Anchor on the last date so that the most recent evaluable date is always included.
    dates, d = [], last
    while d >= first:
        dates.append(d)
        d -= dt.timedelta(days=every_days)
    return sorted(dates)


def _ensure_empty_overrides(con: duckdb.DuckDBPyConnection) -> str:
    con.execute(
        f"""create or replace temp table {_EMPTY_OVERRIDES} (
            override_id varchar, account_id varchar, objective varchar, action varchar, grade varchar,
            value double, author varchar, reason varchar, created_at timestamp, expires_at timestamp)"""
    )
    return _EMPTY_OVERRIDES


# --------------------------------------------------------------------------- history
@dataclass
class History:
    scores: pd.DataFrame  # account_id, as_of_date, segment, industry, computed_score, banded_grade, ...
    factors: pd.DataFrame  # account_id, as_of_date, factor, factor_group, factor_score, contribution
    seconds: float


def score_history(
    con: duckdb.DuckDBPyConnection,
    card: Scorecard,
    *,
    features_table: str,
    dates: Sequence[dt.date],
    objective: str = OBJECTIVE,
) -> History:
    """Score only the sampled dates (computed scores, before human overrides: overrides are
    human decisions made with hindsight and are not what the scorecard predicted)."""
    t0 = time.perf_counter()
    date_list = ", ".join(f"date '{d.isoformat()}'" for d in dates)
    con.execute(
        f"create or replace temp table _bt_feats as select * from {features_table} "
        f"where as_of_date in ({date_list})"
    )
    compute_scores(
        con,
        card,
        features_table="_bt_feats",
        as_of_start=min(dates),
        as_of_end=max(dates),
        overrides_table=_ensure_empty_overrides(con),
    )
    scores = con.execute(
        """select account_id, as_of_date, segment, industry, computed_score, banded_grade,
                  confidence, is_churned
           from _sc_final where objective = ? order by as_of_date, account_id""",
        [objective],
    ).df()
    factors = con.execute(
        f"""select account_id, as_of_date, factor, factor_group, factor_score, contribution, raw_value
            from _sc_factors where objective = ? and as_of_date in ({date_list})""",
        [objective],
    ).df()
    drop_score_temp_tables(con)
    con.execute("drop table if exists _bt_feats")
    for df in (scores, factors):
        df["as_of_date"] = pd.to_datetime(df["as_of_date"]).dt.date
    return History(scores=scores, factors=factors, seconds=time.perf_counter() - t0)


def churn_labels(
    con: duckdb.DuckDBPyConnection, keys: pd.DataFrame, *, outcomes_table: str, horizon_days: int
) -> pd.DataFrame:
    """(account_id, as_of_date, churned) per key: `churned` when a churn outcome falls in
    (as_of_date, as_of_date + horizon_days]."""
    con.register("_churn_keys", keys)
    try:
        labels = con.execute(
            f"""select k.account_id, k.as_of_date,
                    count(o.account_id) > 0 as churned
                from _churn_keys as k
                left join (select account_id, outcome_date from {outcomes_table}
                           where outcome_type = 'churn') as o
                    on o.account_id = k.account_id
                    and o.outcome_date > cast(k.as_of_date as date)
                    and o.outcome_date <= cast(k.as_of_date as date) + {int(horizon_days)}
                group by k.account_id, k.as_of_date"""
        ).df()
    finally:
        con.unregister("_churn_keys")
    labels["as_of_date"] = pd.to_datetime(labels["as_of_date"]).dt.date
    return labels


def label_history(
    con: duckdb.DuckDBPyConnection,
    scores: pd.DataFrame,
    *,
    outcomes_table: str,
    horizon_days: int,
    concurrent: bool = False,
) -> pd.DataFrame:
    """Add `churned` (a churn outcome in (as_of, as_of + horizon]); drop rows already churned
    on as_of and rows without a computed score.

    concurrent (a snapshot, nothing known after its date): `churned` is the account's churn flag
    on as_of itself and those rows stay: the score is measured on agreement with a concurrent
    flag, not on a prediction."""
    if concurrent:
        out = scores[scores["computed_score"].notna()].copy()
        out["churned"] = out["is_churned"].fillna(False).astype(bool)
        out["risk"] = 100.0 - out["computed_score"].astype(float)
        return out.reset_index(drop=True)
    keys = scores[["account_id", "as_of_date"]].drop_duplicates()
    labels = churn_labels(con, keys, outcomes_table=outcomes_table, horizon_days=horizon_days)
    out = scores.merge(labels, on=["account_id", "as_of_date"], how="left")
    out = out[~out["is_churned"].astype(bool) & out["computed_score"].notna()].copy()
    out["churned"] = out["churned"].fillna(False).astype(bool)
    out["risk"] = 100.0 - out["computed_score"].astype(float)
    return out.reset_index(drop=True)
