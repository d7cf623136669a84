"""Backtesting scorecards against what actually happened (no Dagster in here).

A backtest scores sampled past as_of dates with point-in-time features (`compute_scores`,
nothing published), labels each (account, as_of_date) with "churned in the following
horizon" and measures how well the score ranked the churners:

    history   score_history()      scores + factor scores per sampled as_of date
    labels    label_history()      churn in (as_of, as_of + horizon]; already-churned rows dropped
    metrics   evaluate()           ROC AUC, PR AUC, top-decile precision / recall / lift
              band_table()         churn rate per grade band, monotone or not
              group_table()        per segment, per industry, per as_of date
    compare   compare_auc()        champion vs challenger, bootstrap CI resampling accounts
    refine    suggest_weights()    logistic regression on factor scores, time split with a gap
    drift     drift_table()        PSI per factor and for the score, reference vs latest period

`run_backtest` ties them together for the CLI and the Dagster asset and writes the tables of
schema `backtest` (see docs/backtesting.md).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from . import clock
from .scorecard import Scorecard, load_scorecard, parse_scorecard
from .scoring import compute_scores, drop_score_temp_tables

OBJECTIVE = "retention_risk"
PSI_WARN = 0.2
MIN_FACTOR_WEIGHT = 0.01
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


def label_history(
    con: duckdb.DuckDBPyConnection,
    scores: pd.DataFrame,
    *,
    outcomes_table: str,
    horizon_days: int,
) -> pd.DataFrame:
    """Add `churned` (a churn outcome in (as_of, as_of + horizon]); drop rows already churned
    on as_of and rows without a computed score."""
    keys = scores[["account_id", "as_of_date"]].drop_duplicates()
    con.register("_bt_keys", keys)
    try:
        labels = con.execute(
            f"""select k.account_id, k.as_of_date,
                    count(o.account_id) > 0 as churned
                from _bt_keys as k
                left join (select account_id, outcome_date from {outcomes_table}
                           where outcome_type = 'churn') as o
                    on o.account_id = k.account_id
                    and o.outcome_date > cast(k.as_of_date as date)
                    and o.outcome_date <= cast(k.as_of_date as date) + {int(horizon_days)}
                group by k.account_id, k.as_of_date"""
        ).df()
    finally:
        con.unregister("_bt_keys")
    labels["as_of_date"] = pd.to_datetime(labels["as_of_date"]).dt.date
    out = scores.merge(labels, on=["account_id", "as_of_date"], how="left")
    out = out[~out["is_churned"].astype(bool) & out["computed_score"].notna()].copy()
    out["churned"] = out["churned"].fillna(False).astype(bool)
    out["risk"] = 100.0 - out["computed_score"].astype(float)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- metrics
def auc_weighted(risk: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """ROC AUC (ties count half) with optional row weights; NaN when one class is missing."""
    risk = np.asarray(risk, dtype=float)
    y = np.asarray(y, dtype=bool)
    w = np.ones(len(risk)) if w is None else np.asarray(w, dtype=float)
    groups = np.unique(risk, return_inverse=True)[1]
    return _auc_groups(groups, y, w, groups.max() + 1 if len(groups) else 0)


def _auc_groups(groups: np.ndarray, y: np.ndarray, w: np.ndarray, n_groups: int) -> float:
    pos = np.bincount(groups, weights=w * y, minlength=n_groups)
    neg = np.bincount(groups, weights=w * ~y, minlength=n_groups)
    tp, tn = pos.sum(), neg.sum()
    if tp <= 0 or tn <= 0:
        return float("nan")
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (tp * tn))


def pr_auc(risk: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    return float(average_precision_score(y, risk))


def top_decile(df: pd.DataFrame, risk_col: str = "risk", share: float = 0.1) -> pd.Series:
    """True for the riskiest `share` of accounts on each as_of date (ties broken by account_id)."""
    ordered = df.sort_values(["as_of_date", risk_col, "account_id"], ascending=[True, False, True])
    rank = ordered.groupby("as_of_date").cumcount() + 1
    size = ordered.groupby("as_of_date")["account_id"].transform("count")
    flag = rank <= np.ceil(share * size)
    return flag.reindex(df.index)


def evaluate(df: pd.DataFrame, risk_col: str = "risk") -> dict[str, float]:
    y = df["churned"].to_numpy(bool)
    risk = df[risk_col].to_numpy(float)
    top = top_decile(df, risk_col).to_numpy(bool)
    base = float(y.mean()) if len(y) else float("nan")
    precision = float(y[top].mean()) if top.any() else float("nan")
    return {
        "rows": int(len(df)),
        "accounts": int(df["account_id"].nunique()),
        "as_of_dates": int(df["as_of_date"].nunique()),
        "positives": int(y.sum()),
        "base_rate": base,
        "roc_auc": auc_weighted(risk, y),
        "pr_auc": pr_auc(risk, y),
        "top_decile_precision": precision,
        "top_decile_recall": float(y[top].sum() / y.sum()) if y.any() else float("nan"),
        "top_decile_lift": precision / base if base and base > 0 else float("nan"),
    }


def band_table(df: pd.DataFrame, card: Scorecard) -> tuple[pd.DataFrame, bool]:
    """Churn rate per grade band, worst band first; monotone = rates never rise toward green."""
    rows = []
    for band in card.bands:
        part = df[df["banded_grade"] == band.grade]
        n = len(part)
        rate = float(part["churned"].mean()) if n else float("nan")
        rows.append(
            {
                "grade": band.grade,
                "score_min": band.min,
                "score_max": band.max,
                "rows": n,
                "churned": int(part["churned"].sum()),
                "churn_rate": rate,
            }
        )
    table = pd.DataFrame(rows)
    base = float(df["churned"].mean()) if len(df) else float("nan")
    table["lift"] = table["churn_rate"] / base if base else float("nan")
    rates = [r for r in table["churn_rate"] if not math.isnan(r)]
    monotone = all(a >= b for a, b in zip(rates, rates[1:], strict=False))
    return table, monotone


def group_table(df: pd.DataFrame, by: str, risk_col: str = "risk") -> pd.DataFrame:
    rows = []
    for value, part in df.groupby(df[by].astype("object").fillna("(none)"), sort=True):
        y = part["churned"].to_numpy(bool)
        rows.append(
            {
                by: value if not isinstance(value, dt.date) else value,
                "rows": len(part),
                "accounts": part["account_id"].nunique(),
                "churned": int(y.sum()),
                "churn_rate": float(y.mean()),
                "roc_auc": auc_weighted(part[risk_col].to_numpy(float), y),
                "mean_score": float(part["computed_score"].mean())
                if "computed_score" in part
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def roc_points(risk: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(y, bool), risk)
    return fpr.tolist(), tpr.tolist()


def lift_by_decile(df: pd.DataFrame, risk_col: str = "risk") -> pd.DataFrame:
    """Churn rate per risk decile (1 = riskiest) within each as_of date, pooled."""
    ordered = df.sort_values(["as_of_date", risk_col, "account_id"], ascending=[True, False, True]).copy()
    rank = ordered.groupby("as_of_date").cumcount()
    size = ordered.groupby("as_of_date")["account_id"].transform("count")
    ordered["decile"] = (rank * 10 // size + 1).astype(int)
    base = ordered["churned"].mean()
    out = ordered.groupby("decile")["churned"].agg(["count", "sum", "mean"]).reset_index()
    out.columns = ["decile", "rows", "churned", "churn_rate"]
    out["lift"] = out["churn_rate"] / base if base else float("nan")
    return out


# --------------------------------------------------------------------------- compare
def compare_auc(
    y: np.ndarray,
    risk_a: np.ndarray,
    risk_b: np.ndarray,
    accounts: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """AUC of A (champion) and B (challenger) on the same rows, B - A and a bootstrap CI.

    The bootstrap resamples accounts with replacement (all rows of a drawn account come
    along, weighted by how often it was drawn): rows of one account on different dates are
    correlated, so resampling rows would give intervals that are too narrow.
    """
    y = np.asarray(y, dtype=bool)
    codes, n_acc = pd.factorize(pd.Series(accounts))[0], pd.Series(accounts).nunique()
    ga = np.unique(np.asarray(risk_a, float), return_inverse=True)[1]
    gb = np.unique(np.asarray(risk_b, float), return_inverse=True)[1]
    na, nb = ga.max() + 1, gb.max() + 1
    ones = np.ones(len(y))
    auc_a, auc_b = _auc_groups(ga, y, ones, na), _auc_groups(gb, y, ones, nb)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        w = np.bincount(rng.integers(0, n_acc, n_acc), minlength=n_acc)[codes].astype(float)
        diffs[i] = _auc_groups(gb, y, w, nb) - _auc_groups(ga, y, w, na)
    diffs = diffs[~np.isnan(diffs)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(diffs, [alpha, 1 - alpha]) if len(diffs) else (float("nan"), float("nan"))
    return {
        "auc_champion": auc_a,
        "auc_challenger": auc_b,
        "auc_diff": auc_b - auc_a,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "share_boot_better": float((diffs > 0).mean()) if len(diffs) else float("nan"),
        "n_boot": int(len(diffs)),
        "accounts": int(n_acc),
        "rows": int(len(y)),
    }


def verdict(cmp: dict[str, float]) -> str:
    if cmp["ci_low"] > 0:
        return "challenger is better (CI above 0)"
    if cmp["ci_high"] < 0:
        return "challenger is worse (CI below 0)"
    return "no significant difference (CI contains 0)"


# --------------------------------------------------------------------------- drift
def psi(
    reference: np.ndarray, current: np.ndarray, edges: Sequence[float] | None = None, eps: float = 1e-4
) -> float:
    """Population stability index; missing values form their own bin."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    edges = np.asarray(edges if edges is not None else np.linspace(0, 100, 11), dtype=float)

    def shares(x: np.ndarray) -> np.ndarray:
        miss = np.isnan(x)
        counts = np.histogram(np.clip(x[~miss], edges[0], edges[-1]), bins=edges)[0]
        full = np.append(counts, miss.sum()).astype(float)
        return np.maximum(full / max(len(x), 1), eps)

    p, q = shares(ref), shares(cur)
    return float(((q - p) * np.log(q / p)).sum())


def drift_table(history: History, *, reference_dates: int = 4, latest_dates: int = 4) -> pd.DataFrame:
    """PSI per factor score and for the score: first `reference_dates` sampled dates vs the last ones."""
    dates = sorted(history.scores["as_of_date"].unique())
    n_ref = min(reference_dates, max(1, len(dates) // 2))
    n_cur = min(latest_dates, max(1, len(dates) - n_ref))
    ref_d, cur_d = set(dates[:n_ref]), set(dates[-n_cur:])
    live = history.scores[~history.scores["is_churned"].astype(bool)]
    rows = []

    def add(name: str, kind: str, ref: pd.Series, cur: pd.Series) -> None:
        value = psi(ref.to_numpy(float), cur.to_numpy(float))
        rows.append(
            {
                "name": name,
                "kind": kind,
                "psi": value,
                "warn": value > PSI_WARN,
                "reference_mean": float(ref.mean()),
                "latest_mean": float(cur.mean()),
                "reference_missing": float(ref.isna().mean()),
                "latest_missing": float(cur.isna().mean()),
                "reference_from": min(ref_d),
                "reference_to": max(ref_d),
                "latest_from": min(cur_d),
                "latest_to": max(cur_d),
            }
        )

    add(
        "health_score",
        "score",
        live.loc[live["as_of_date"].isin(ref_d), "computed_score"],
        live.loc[live["as_of_date"].isin(cur_d), "computed_score"],
    )
    keys = live[["account_id", "as_of_date"]]
    fac = history.factors.merge(keys, on=["account_id", "as_of_date"])
    for name, part in fac.groupby("factor", sort=True):
        add(
            name,
            "factor",
            part.loc[part["as_of_date"].isin(ref_d), "factor_score"],
            part.loc[part["as_of_date"].isin(cur_d), "factor_score"],
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- refine
def factor_matrix(history: History, labelled: pd.DataFrame, factors: Sequence[str]) -> pd.DataFrame:
    """One row per labelled (account, as_of_date), one column per factor score (NaN = missing)."""
    wide = history.factors.pivot_table(
        index=["account_id", "as_of_date"], columns="factor", values="factor_score", aggfunc="first"
    )
    wide = wide.reindex(columns=list(factors))
    keys = labelled.set_index(["account_id", "as_of_date"])
    return wide.reindex(keys.index)


def time_split(dates: Sequence[dt.date], horizon_days: int, train_share: float = 0.5) -> tuple[list, list]:
    """Train on early dates, test on dates at least `horizon` after the last training date
    (so that no training label window overlaps a test date)."""
    dates = sorted(dates)
    span = (dates[-1] - dates[0]).days
    cutoff = dates[0] + dt.timedelta(days=int((span - horizon_days) * train_share))
    train = [d for d in dates if d <= cutoff]
    test = [d for d in dates if d >= cutoff + dt.timedelta(days=horizon_days)]
    if not train or not test:
        raise ValueError(
            f"history too short for an out-of-time split: {dates[0]} to {dates[-1]} with a "
            f"{horizon_days}-day gap (widen --from/--to or shorten --horizon)"
        )
    return train, test


@dataclass
class Suggestion:
    card_text: str
    card: Scorecard
    coefficients: dict[str, float]
    group_weights: dict[str, float]
    factor_weights: dict[str, float]
    train_dates: list[dt.date]
    test_dates: list[dt.date]
    model_auc_test: float
    gbm_auc_test: float
    c: float
    notes: list[str] = field(default_factory=list)


def _risk_matrix(x: pd.DataFrame) -> np.ndarray:
    # Factor score 0-100 (100 healthy) -> risk in [-1, 1]; missing = neutral, as the scorecard
    # drops a missing factor rather than guessing it.
    return np.nan_to_num((50.0 - x.to_numpy(float)) / 50.0)


def suggest_weights(
    history: History,
    labelled: pd.DataFrame,
    card: Scorecard,
    source_text: str,
    *,
    horizon_days: int,
    objective: str = OBJECTIVE,
    c: float = 0.1,
    seed: int = 0,
    suggested_on: dt.date | None = None,
) -> Suggestion:
    """Regularised logistic regression on factor scores, trained on early dates only; the
    positive coefficients become group and factor weights (normalised to 100)."""
    import yaml
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    factors = [f.name for f in card.factors_in(objective)]
    train_d, test_d = time_split(sorted(labelled["as_of_date"].unique()), horizon_days)
    tr = labelled[labelled["as_of_date"].isin(train_d)]
    te = labelled[labelled["as_of_date"].isin(test_d)]
    x_tr, x_te = factor_matrix(history, tr, factors), factor_matrix(history, te, factors)
    y_tr, y_te = tr["churned"].to_numpy(bool), te["churned"].to_numpy(bool)
    if y_tr.sum() < 5:
        raise ValueError(f"only {int(y_tr.sum())} churners in the training period: too few to fit weights")

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(_risk_matrix(x_tr), y_tr)
    coefs = dict(zip(factors, model.coef_[0].tolist(), strict=True))
    model_auc = auc_weighted(model.decision_function(_risk_matrix(x_te)), y_te)

    gbm = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_depth=3,
        min_samples_leaf=40,
        l2_regularization=1.0,
        random_state=seed,
    )
    gbm.fit(x_tr.to_numpy(float), y_tr)
    gbm_auc = auc_weighted(gbm.predict_proba(x_te.to_numpy(float))[:, 1], y_te)

    positive = {f: max(0.0, v) for f, v in coefs.items()}
    total = sum(positive.values())
    notes = []
    if total <= 0:
        raise ValueError("no factor has a positive (risk-increasing) coefficient: nothing to suggest")
    fmap = card.factor_map
    group_raw: dict[str, float] = {}
    for f, v in positive.items():
        group_raw[fmap[f].group] = group_raw.get(fmap[f].group, 0.0) + 100.0 * v / total
    group_weights = _round_to_total({g: group_raw.get(g, 0.0) for g in card.groups}, 100)
    # A factor the data does not support keeps a token weight (MIN_FACTOR_WEIGHT) rather than 0:
    # with weight 0 a group whose only factor with data is that one would divide 0 by 0.
    factor_weights = {f: max(MIN_FACTOR_WEIGHT, round(100.0 * v / total, 2)) for f, v in positive.items()}
    for f, v in coefs.items():
        if v <= 0:
            notes.append(
                f"{f}: coefficient {v:+.3f} (not risk-increasing on this history): token weight "
                f"{MIN_FACTOR_WEIGHT}"
            )

    data = yaml.safe_load(source_text)
    obj = data["objectives"][objective]
    obj["group_weights"] = {g: float(w) for g, w in group_weights.items()}
    obj["factor_weights"] = factor_weights
    dropped = []
    for kind in ("segment_overrides", "industry_overrides"):
        for value, variant in (data.get(kind) or {}).items():
            if objective in (variant.get("group_weights") or {}):
                del variant["group_weights"][objective]
                dropped.append(f"{kind}.{value}")
                if not variant["group_weights"]:
                    del variant["group_weights"]
    if dropped:
        notes.append(
            "removed the per-segment group weights for this objective ("
            + ", ".join(dropped)
            + "): the fit is over all segments"
        )
    when = suggested_on or clock.today()
    data["version"] = f"{card.version}-suggested.{when.isoformat()}"
    data["description"] = (
        f"SUGGESTED by `healthscore backtest` on {when}: weights of '{objective}' fitted by "
        f"L2 logistic regression (C={c}) on factor scores of {len(train_d)} as_of dates "
        f"{train_d[0]}..{train_d[-1]}, evaluated out of time on {test_d[0]}..{test_d[-1]}. "
        "Review it like any scorecard change before use. "
        + " ".join(str(data.get("description", "")).split())
    )
    header = (
        f"# Suggested scorecard, generated {when} from {card.name} {card.version}.\n"
        "# Same factors, groups and thresholds; group and factor weights of the retention objective\n"
        "# come from the positive coefficients of a regularised logistic regression (docs/backtesting.md).\n"
        "# Review the backtest report next to it before merging.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, width=100)
    new_card = parse_scorecard(text, source="<suggested>")
    return Suggestion(
        card_text=text,
        card=new_card,
        coefficients=coefs,
        group_weights=group_weights,
        factor_weights=factor_weights,
        train_dates=train_d,
        test_dates=test_d,
        model_auc_test=model_auc,
        gbm_auc_test=gbm_auc,
        c=c,
        notes=notes,
    )


def _round_to_total(values: dict[str, float], total: int) -> dict[str, int]:
    """Largest-remainder rounding to integers that add up to exactly `total`."""
    floors = {k: math.floor(v) for k, v in values.items()}
    short = total - sum(floors.values())
    order = sorted(values, key=lambda k: values[k] - floors[k], reverse=True)
    for k in order[:short]:
        floors[k] += 1
    return floors


# --------------------------------------------------------------------------- full run
TABLES_DDL = {
    "backtest_runs": """run_id varchar, started_at timestamp, scorecard_name varchar, scorecard_version varchar,
        scorecard_hash varchar, features_table varchar, as_of_from date, as_of_to date, every_days integer,
        horizon_days integer, as_of_dates integer, rows bigint, leakage_passed boolean, leakage_detail varchar,
        seconds double""",
    "backtest_metrics": """run_id varchar, scorecard varchar, period varchar, metric varchar, value double""",
    "backtest_bands": """run_id varchar, scorecard varchar, grade varchar, score_min double, score_max double,
        rows bigint, churned bigint, churn_rate double, lift double, monotone boolean""",
    "backtest_segments": """run_id varchar, scorecard varchar, dimension varchar, value varchar, rows bigint,
        accounts bigint, churned bigint, churn_rate double, roc_auc double, mean_score double""",
    "backtest_over_time": """run_id varchar, scorecard varchar, as_of_date date, rows bigint, churned bigint,
        churn_rate double, roc_auc double, mean_score double, p10_score double, p50_score double,
        p90_score double""",
    "scorecard_comparisons": """run_id varchar, champion varchar, challenger varchar, period varchar,
        rows bigint, accounts bigint, auc_champion double, auc_challenger double, auc_diff double,
        ci_low double, ci_high double, share_boot_better double, n_boot integer, verdict varchar""",
    "drift": """run_id varchar, scorecard varchar, name varchar, kind varchar, psi double, warn boolean,
        reference_mean double, latest_mean double, reference_missing double, latest_missing double,
        reference_from date, reference_to date, latest_from date, latest_to date""",
}


@dataclass
class BacktestResult:
    run_id: str
    card: Scorecard
    dates: list[dt.date]
    horizon_days: int
    labelled: pd.DataFrame
    history: History
    metrics: dict[str, float]
    bands: pd.DataFrame
    monotone: bool
    segments: pd.DataFrame
    industries: pd.DataFrame
    over_time: pd.DataFrame
    deciles: pd.DataFrame
    drift: pd.DataFrame
    leakage: object | None = None
    challenger: Scorecard | None = None
    challenger_labelled: pd.DataFrame | None = None
    comparisons: list[dict] = field(default_factory=list)
    suggestion: Suggestion | None = None
    suggestion_path: Path | None = None
    oot: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _over_time(df: pd.DataFrame) -> pd.DataFrame:
    base = group_table(df, "as_of_date")
    q = df.groupby("as_of_date")["computed_score"].quantile([0.1, 0.5, 0.9]).unstack()
    q.columns = ["p10_score", "p50_score", "p90_score"]
    return base.merge(q, left_on="as_of_date", right_index=True)


def _compare(champ: pd.DataFrame, chall: pd.DataFrame, n_boot: int, seed: int) -> dict[str, float]:
    both = champ[["account_id", "as_of_date", "churned", "risk"]].merge(
        chall[["account_id", "as_of_date", "risk"]], on=["account_id", "as_of_date"], suffixes=("_a", "_b")
    )
    return compare_auc(
        both["churned"].to_numpy(bool),
        both["risk_a"].to_numpy(float),
        both["risk_b"].to_numpy(float),
        both["account_id"].to_numpy(),
        n_boot=n_boot,
        seed=seed,
    )


def run_backtest(
    con: duckdb.DuckDBPyConnection,
    scorecard: Path | str,
    *,
    features_table: str = "fct_account_features_daily",
    outcomes_table: str = "fct_account_outcomes",
    start: dt.date | None = None,
    end: dt.date | None = None,
    horizon: str | int = "90d",
    every: str | int = "7d",
    challenger: Path | str | None = None,
    suggest: bool = False,
    suggest_out: Path | None = None,
    leakage_check: Callable[[duckdb.DuckDBPyConnection, list[dt.date], list[str]], object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    write_tables: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> BacktestResult:
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    timings: dict[str, float] = {}
    horizon_days, every_days = parse_days(horizon), parse_days(every)
    features_table = find_relation(con, features_table)
    outcomes_table = find_relation(con, outcomes_table)
    known = {r[0] for r in con.execute(f"select * from {features_table} limit 0").description}
    card = load_scorecard(scorecard, known_features=known)
    dates = sample_dates(
        con, features_table, start=start, end=end, every_days=every_days, horizon_days=horizon_days
    )
    log(
        f"backtest {card.name} {card.version}: {len(dates)} as_of dates {dates[0]}..{dates[-1]}, "
        f"horizon {horizon_days} d"
    )
    run_id = uuid.uuid4().hex[:12]

    leakage = None
    if leakage_check is not None:
        t0 = time.perf_counter()
        used = sorted({f.feature for f in card.factors})
        leakage = leakage_check(con, dates, used)
        timings["leakage guard"] = time.perf_counter() - t0
        log(f"leakage guard: {leakage}")

    t0 = time.perf_counter()
    history = score_history(con, card, features_table=features_table, dates=dates)
    labelled = label_history(con, history.scores, outcomes_table=outcomes_table, horizon_days=horizon_days)
    timings["score history"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = evaluate(labelled)
    bands, monotone = band_table(labelled, card)
    result = BacktestResult(
        run_id=run_id,
        card=card,
        dates=dates,
        horizon_days=horizon_days,
        labelled=labelled,
        history=history,
        metrics=metrics,
        bands=bands,
        monotone=monotone,
        segments=group_table(labelled, "segment"),
        industries=group_table(labelled, "industry"),
        over_time=_over_time(labelled),
        deciles=lift_by_decile(labelled),
        drift=drift_table(history),
        leakage=leakage,
        timings=timings,
    )
    timings["metrics"] = time.perf_counter() - t0
    log(
        f"ROC AUC {metrics['roc_auc']:.3f}, PR AUC {metrics['pr_auc']:.3f} (base rate "
        f"{metrics['base_rate']:.3f}), top-decile lift {metrics['top_decile_lift']:.2f}"
    )

    if challenger is not None:
        t0 = time.perf_counter()
        ch_card = load_scorecard(challenger, known_features=known)
        ch_hist = score_history(con, ch_card, features_table=features_table, dates=dates)
        ch_lab = label_history(con, ch_hist.scores, outcomes_table=outcomes_table, horizon_days=horizon_days)
        cmp = _compare(labelled, ch_lab, n_boot, seed)
        result.challenger, result.challenger_labelled = ch_card, ch_lab
        result.comparisons.append(
            {
                "champion": f"{card.name} {card.version}",
                "challenger": f"{ch_card.name} {ch_card.version}",
                "period": "all",
                **cmp,
            }
        )
        timings["challenger"] = time.perf_counter() - t0
        log(
            f"challenger {ch_card.version}: AUC diff {cmp['auc_diff']:+.4f} "
            f"[{cmp['ci_low']:+.4f}, {cmp['ci_high']:+.4f}] - {verdict(cmp)}"
        )

    if suggest:
        t0 = time.perf_counter()
        sug = suggest_weights(
            history, labelled, card, Path(scorecard).read_text(), horizon_days=horizon_days, seed=seed
        )
        result.suggestion = sug
        if suggest_out is not None:
            suggest_out.parent.mkdir(parents=True, exist_ok=True)
            suggest_out.write_text(sug.card_text)
            result.suggestion_path = suggest_out
        sug_hist = score_history(con, sug.card, features_table=features_table, dates=sug.test_dates)
        sug_lab = label_history(
            con, sug_hist.scores, outcomes_table=outcomes_table, horizon_days=horizon_days
        )
        champ_test = labelled[labelled["as_of_date"].isin(sug.test_dates)]
        champ_train = labelled[labelled["as_of_date"].isin(sug.train_dates)]
        cmp = _compare(champ_test, sug_lab, n_boot, seed)
        result.comparisons.append(
            {
                "champion": f"{card.name} {card.version}",
                "challenger": f"suggested {sug.card.version}",
                "period": "out_of_time",
                **cmp,
            }
        )
        result.oot = {
            "champion_test": evaluate(champ_test),
            "champion_train": evaluate(champ_train),
            "suggested_test": evaluate(sug_lab),
        }
        result.oot["models"] = {
            "logistic_regression_test_auc": sug.model_auc_test,
            "gbm_ceiling_test_auc": sug.gbm_auc_test,
            "gap_champion_to_gbm": sug.gbm_auc_test - result.oot["champion_test"]["roc_auc"],
            "gap_suggested_to_gbm": sug.gbm_auc_test - result.oot["suggested_test"]["roc_auc"],
        }
        timings["suggest"] = time.perf_counter() - t0
        log(
            f"suggested weights out of time: AUC {cmp['auc_challenger']:.3f} vs champion {cmp['auc_champion']:.3f} "
            f"(diff {cmp['auc_diff']:+.4f} [{cmp['ci_low']:+.4f}, {cmp['ci_high']:+.4f}]); GBM ceiling "
            f"{sug.gbm_auc_test:.3f}"
        )

    timings["total"] = time.perf_counter() - started
    if write_tables:
        write_backtest_tables(
            con, result, features_table=features_table, every_days=every_days, started_at=started_at
        )
    return result


def write_backtest_tables(
    con: duckdb.DuckDBPyConnection,
    r: BacktestResult,
    *,
    features_table: str,
    every_days: int,
    started_at: dt.datetime,
) -> None:
    """Append this run to the BI tables of schema `backtest`, in one transaction."""
    con.execute("create schema if not exists backtest")
    for name, ddl in TABLES_DDL.items():
        con.execute(f"create table if not exists backtest.{name} ({ddl})")
    label = f"{r.card.name} {r.card.version}"
    leak_ok = getattr(r.leakage, "passed", None)
    frames: dict[str, pd.DataFrame] = {}
    frames["backtest_runs"] = pd.DataFrame(
        [
            {
                "run_id": r.run_id,
                "started_at": started_at,
                "scorecard_name": r.card.name,
                "scorecard_version": r.card.version,
                "scorecard_hash": r.card.content_hash,
                "features_table": features_table,
                "as_of_from": r.dates[0],
                "as_of_to": r.dates[-1],
                "every_days": every_days,
                "horizon_days": r.horizon_days,
                "as_of_dates": len(r.dates),
                "rows": len(r.labelled),
                "leakage_passed": leak_ok,
                "leakage_detail": str(r.leakage) if r.leakage is not None else None,
                "seconds": r.timings.get("total"),
            }
        ]
    )
    metric_rows = [(label, "all", k, v) for k, v in r.metrics.items()]
    for period, m in r.oot.items():
        name = (
            f"suggested {r.suggestion.card.version}"
            if period.startswith("suggested")
            else ("models" if period == "models" else label)
        )
        metric_rows += [(name, period, k, v) for k, v in m.items()]
    frames["backtest_metrics"] = pd.DataFrame(
        [
            {"run_id": r.run_id, "scorecard": s, "period": p, "metric": k, "value": float(v)}
            for s, p, k, v in metric_rows
        ]
    )
    frames["backtest_bands"] = r.bands.assign(run_id=r.run_id, scorecard=label, monotone=r.monotone)
    seg = pd.concat(
        [
            r.segments.rename(columns={"segment": "value"}).assign(dimension="segment"),
            r.industries.rename(columns={"industry": "value"}).assign(dimension="industry"),
        ]
    )
    frames["backtest_segments"] = seg.assign(run_id=r.run_id, scorecard=label, value=seg["value"].astype(str))
    frames["backtest_over_time"] = r.over_time.assign(run_id=r.run_id, scorecard=label)
    frames["scorecard_comparisons"] = pd.DataFrame(
        [{**c, "run_id": r.run_id, "verdict": verdict(c)} for c in r.comparisons] or [{"run_id": r.run_id}]
    ).iloc[: len(r.comparisons)]
    frames["drift"] = r.drift.assign(run_id=r.run_id, scorecard=label)
    con.execute("begin transaction")
    try:
        for name, df in frames.items():
            if len(df) == 0:
                continue
            cols = [c.split()[0] for c in TABLES_DDL[name].replace("\n", " ").split(",")]
            df = df.reindex(columns=cols)
            con.register("_bt_frame", df)
            con.execute(f"insert into backtest.{name} by name select * from _bt_frame")
            con.unregister("_bt_frame")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
