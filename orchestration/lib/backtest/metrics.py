"""How well a score ranks the churners: ROC AUC, PR AUC, top decile, bands, groups, champion vs
challenger, drift (PSI)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from orchestration.lib.backtest.history import History
from orchestration.lib.scoring.scorecard import Scorecard

PSI_WARN = 0.2


# --------------------------------------------------------------------------- metrics
def auc_weighted(risk: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """ROC AUC (scikit-learn; ties count half) with optional row weights; NaN when one class is
    missing."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(risk, dtype=float), sample_weight=w))


def _auc_groups(groups: np.ndarray, y: np.ndarray, w: np.ndarray, n_groups: int) -> float:
    """The same AUC from risk values ranked once (`groups`: the rank of each row's value): the
    bootstrap in compare_auc re-weights the same rows a thousand times, which a call to
    scikit-learn per resample (a sort each) would make about 50 times slower."""
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
    """Churn rate per grade band, worst band first; monotone = rates never rise toward green.

    Rows whose confidence is below the card's min_for_grade are published as insufficient_data,
    not in a colour band: they are counted on a row of their own, outside the bands."""
    rows = []
    if "confidence" in df:
        thin = df["confidence"].astype(float) < card.confidence.min_for_grade
    else:
        thin = pd.Series(False, index=df.index)
    graded = df[~thin]
    for band in card.bands:
        part = graded[graded["banded_grade"] == band.grade]
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
    rates = [r["churn_rate"] for r in rows if not math.isnan(r["churn_rate"])]
    if thin.any():
        part = df[thin]
        rows.append(
            {
                "grade": "insufficient_data",
                "score_min": float("nan"),
                "score_max": float("nan"),
                "rows": len(part),
                "churned": int(part["churned"].sum()),
                "churn_rate": float(part["churned"].mean()),
            }
        )
    table = pd.DataFrame(rows)
    base = float(df["churned"].mean()) if len(df) else float("nan")
    table["lift"] = table["churn_rate"] / base if base else float("nan")
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
