"""Suggest factor weights: logistic regression on factor scores, time split with a gap."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestration.lib import clock
from orchestration.lib.backtest.history import OBJECTIVE, History
from orchestration.lib.backtest.metrics import auc_weighted
from orchestration.lib.scoring.scorecard import Scorecard, parse_scorecard

MIN_FACTOR_WEIGHT = 0.01


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

    # The reference: boosting on the same factor scores, tuned by cross-validation over accounts
    # on the training dates only; factors without data there (an absent source) are dropped
    # with a note instead of crashing the fit.
    from orchestration.lib.backtest.learn import fit_reference
    from orchestration.lib.backtest.learn_model import NUMERIC, Candidate

    ref = fit_reference(
        x_tr.reset_index(drop=True),
        y_tr,
        [Candidate(f, NUMERIC) for f in factors],
        accounts=tr["account_id"].astype(str).reset_index(drop=True),
        seed=seed,
    )
    gbm_auc = auc_weighted(ref.predict(x_te.reset_index(drop=True)), y_te)

    positive = {f: max(0.0, v) for f, v in coefs.items()}
    total = sum(positive.values())
    notes = [f"reference model: {n}" for n in ref.notes]
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
