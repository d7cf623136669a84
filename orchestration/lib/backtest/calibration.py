"""Bands proposed from outcomes, the calibrated churn probability and the held-out measures
(ROC AUC, PR AUC, lift, Brier with bootstrap CIs, reliability, churn rate by band)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from orchestration.lib.backtest.metrics import auc_weighted


def propose_bands(
    score: np.ndarray,
    y: np.ndarray,
    *,
    red_lift: float = 3.0,
    green_lift: float = 0.5,
    min_share: float = 0.02,
    min_width: int = 5,
) -> tuple[list[tuple[str, float, float]], list[str]]:
    """Grade bands from outcomes. Every band is at least `min_width` score points wide and holds
    at least max(10, min_share x rows) rows, so no band is a sliver a reviewer cannot act on.

    red: the lowest scores, the widest band whose churn rate is >= red_lift x base (else the
    band with the highest lift, with a note); green: the highest scores, the widest band whose
    churn rate is <= green_lift x base while the yellow band between churns at least as much as
    green (else without that condition, else green from 70, each with a note); yellow between."""
    y = np.asarray(y, bool)
    score = np.asarray(score, float)
    base = y.mean()
    notes = []
    n_min = max(10, int(min_share * len(y)))

    def rate(rows: np.ndarray) -> float:
        return float(y[rows].mean()) if rows.any() else float("nan")

    # Integer cuts that leave room for a yellow and a green band of min_width points each.
    red_cuts = range(min_width, 100 - 2 * min_width + 1)
    red = None
    for c in red_cuts:
        below = score < c
        if below.sum() >= n_min and rate(below) >= red_lift * base:
            red = c
    if red is None:
        lifts = [(rate(score < c) / base if (score < c).sum() >= n_min else 0.0, c) for c in red_cuts]
        best = max(lifts)
        red = best[1] if best[0] > 0 else 40
        notes.append(
            f"no band of at least {n_min} rows and {min_width} points reaches {red_lift:g}x the base churn "
            f"rate; red is the band with the highest lift ({best[0]:.1f}x)"
        )

    def green_ok(c: int, monotone: bool) -> bool:
        above, between = score >= c, (score >= red) & (score < c)
        return (
            above.sum() >= n_min
            and between.sum() >= n_min
            and rate(above) <= green_lift * base
            and (not monotone or rate(between) >= rate(above))
        )

    green_cuts = range(red + min_width, 100 - min_width + 1)
    green = next((c for c in green_cuts if green_ok(c, monotone=True)), None)
    if green is None:
        green = next((c for c in green_cuts if green_ok(c, monotone=False)), None)
        if green is not None:
            notes.append(
                f"yellow churns less than green wherever green stays under {green_lift:g}x the base rate: "
                "the scores separate two groups, not three"
            )
    if green is None:
        green = min(100 - min_width, max(red + min_width, 70))
        notes.append(
            f"no top band of at least {n_min} rows stays under {green_lift:g}x the base rate with a yellow "
            f"band of {n_min} rows and {min_width} points below it: green from {green}"
        )
    return [("red", 0, red), ("yellow", red, green), ("green", green, 100)], notes


def fit_calibration(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: logistic regression of the label on the score."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(score, float).reshape(-1, 1), y)
    return float(m.intercept_[0]), float(m.coef_[0][0])


def brier(p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    w = np.ones(len(y)) if w is None else w
    return float((w * (np.asarray(p, float) - np.asarray(y, float)) ** 2).sum() / w.sum())


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed churn rate, in bins of equal size by prediction."""
    order = np.argsort(p, kind="stable")
    rows = []
    for i, part in enumerate(np.array_split(order, min(bins, max(1, len(p))))):
        if len(part) == 0:
            continue
        rows.append(
            {
                "bin": i + 1,
                "rows": len(part),
                "mean_predicted": float(np.mean(p[part])),
                "observed_rate": float(np.mean(y[part])),
            }
        )
    return pd.DataFrame(rows)


def _metrics(
    risk: np.ndarray, prob: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
) -> dict[str, float]:
    from sklearn.metrics import average_precision_score

    w = np.ones(len(y)) if w is None else w
    base = float((w * y).sum() / w.sum())
    n_top = max(1, int(math.ceil(0.1 * len(y))))
    top = np.zeros(len(y), bool)
    top[np.argsort(-risk, kind="stable")[:n_top]] = True
    top_rate = float((w[top] * y[top]).sum() / max(w[top].sum(), 1e-12))
    return {
        "roc_auc": auc_weighted(risk, y, w),
        "pr_auc": float(average_precision_score(y, risk, sample_weight=w))
        if 0 < y.sum() < len(y)
        else float("nan"),
        "top_decile_lift": top_rate / base if base > 0 else float("nan"),
        "brier": brier(prob, y, w),
    }


def metrics_with_ci(
    risk: np.ndarray, prob: np.ndarray, y: np.ndarray, accounts: np.ndarray, *, n_boot: int, seed: int
) -> dict[str, tuple[float, float, float]]:
    """Each metric with a 95% bootstrap interval resampling accounts (their rows together)."""
    y = np.asarray(y, bool)
    point = _metrics(risk, prob, y)
    codes, uniq = pd.factorize(pd.Series(accounts))
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in point}
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))[codes].astype(float)
        keep = w > 0
        m = _metrics(risk[keep], prob[keep], y[keep], w[keep])
        for k, v in m.items():
            draws[k].append(v)
    out = {}
    for k, v in point.items():
        arr = np.array([d for d in draws[k] if not math.isnan(d)])
        lo, hi = np.quantile(arr, [0.025, 0.975]) if len(arr) else (float("nan"), float("nan"))
        out[k] = (v, float(lo), float(hi))
    return out


def band_rates(score: np.ndarray, y: np.ndarray, bands: Sequence[tuple[str, float, float]]) -> pd.DataFrame:
    y = np.asarray(y, bool)
    base = y.mean()
    rows = []
    for i, (grade, lo, hi) in enumerate(bands):
        inside = (score >= lo) & ((score < hi) | (i == len(bands) - 1))
        n = int(inside.sum())
        rate = float(y[inside].mean()) if n else float("nan")
        rows.append(
            {
                "grade": grade,
                "score_min": lo,
                "score_max": hi,
                "rows": n,
                "churned": int(y[inside].sum()),
                "churn_rate": rate,
                "lift": rate / base if base else float("nan"),
                "share_of_churners": float(y[inside].sum() / y.sum()) if y.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)
