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
) -> tuple[list[tuple[str, float, float]], list[str]]:
    """Red: the lowest scores, as many as keep their churn rate >= red_lift x base; green: the
    highest scores, as many as keep theirs <= green_lift x base; yellow in between."""
    y = np.asarray(y, bool)
    score = np.asarray(score, float)
    base = y.mean()
    notes = []
    n_min = max(10, int(min_share * len(y)))
    cuts = np.arange(1, 100)
    red = None
    for c in cuts:
        below = score < c
        if below.sum() >= n_min and y[below].mean() >= red_lift * base:
            red = int(c)
    if red is None:
        lifts = [(y[score < c].mean() / base if (score < c).sum() >= n_min else 0, int(c)) for c in cuts]
        best = max(lifts)
        red = best[1] if best[0] > 0 else 40
        notes.append(
            f"no band of at least {n_min} rows reaches {red_lift:g}x the base churn rate; red is the "
            f"band with the highest lift ({best[0]:.1f}x)"
        )
    green = None
    for c in cuts[::-1]:
        above = score >= c
        between = (score >= red) & (score < c)
        # Yellow must hold enough rows to mean something, and churn at least as much as green.
        if (
            c > red
            and between.sum() >= n_min
            and above.sum() >= n_min
            and y[above].mean() <= green_lift * base
            and y[between].mean() >= y[above].mean()
        ):
            green = int(c)
    if green is None or green <= red:
        green = min(99, max(red + 1, 70))
        notes.append(f"no top band of at least {n_min} rows stays under {green_lift:g}x the base rate")
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
