"""The YAML card of `healthscore scorecard learn`: a learned model written as a reviewable scorecard
(factors, points, interactions as overrides) whose score is an affine map of the model's log-odds."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.lib.backtest.history import (
    OBJECTIVE,
)
from orchestration.lib.backtest.learn_model import (
    BOOLEAN,
    NUMERIC,
    Candidate,
    LearnedModel,
    Term,
)

_FAMILY_GROUPS = (
    ("attr_", "account_profile", "Account profile"),
    ("metric_", "custom_metrics", "Custom metrics"),
)
_STANDARD_PROFILE = {"tenure_days", "plan", "contract_term_months", "segment", "industry", "mrr", "arr"}


def _factor_name(feature: str, taken: set[str]) -> str:
    name = re.sub(r"^(attr_|metric_)", "", feature)
    name = re.sub(r"__+", "_", name)
    name = re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_") or "factor"
    if name in taken:
        name = f"{name}_learned"
    i = 2
    base = name
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def feature_label(c: Candidate) -> str:
    if c.label:
        return c.label
    text = re.sub(r"^(attr_|metric_)", "", c.name).replace("__", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _round_to_total(values: dict[str, float], total: float, digits: int = 2) -> dict[str, float]:
    """Round to `digits` so that the rounded values add up to exactly `total`."""
    scale = 10**digits
    units = {k: v * scale for k, v in values.items()}
    floors = {k: math.floor(v) for k, v in units.items()}
    short = int(round(total * scale)) - sum(floors.values())
    for k in sorted(units, key=lambda k: units[k] - floors[k], reverse=True)[:short]:
        floors[k] += 1
    return {k: v / scale for k, v in floors.items()}


@dataclass
class CardParts:
    """The learned model expressed as factor scores: score = offset - scale x logit part."""

    scale: float  # 100 / total range of the points
    top: float  # sum over factors of the highest points
    ranges: dict[str, float]


def neutral_points(model: LearnedModel, frame: pd.DataFrame) -> None:
    """Bins no training row fell in (a category never seen, a missing value never seen) get the
    factor's average points instead of an arbitrary 0, so 'unknown' is neutral by design."""
    for t, points in zip(model.terms, model.points, strict=True):
        idx = t.assign(frame)
        counts = np.bincount(idx, minlength=t.width)
        seen = counts > 0
        if seen.any():
            mean = float((points[seen] * counts[seen]).sum() / counts[seen].sum())
            points[~seen] = mean


def score_from_logit(model: LearnedModel, parts: CardParts, logit: np.ndarray) -> np.ndarray:
    """The card's score of a row from the model's log-odds: every factor scores
    100 x (its top points - its points) / its range with weight range / total range, so
    score = 100 / total range x (sum of top points - (log-odds - intercept))."""
    return parts.scale * (parts.top - (np.asarray(logit, float) - model.intercept))


def _numeric_unit(feature: str) -> str:
    """How a learned numeric factor's value is written in its reasons: days and percentages as
    whole numbers ("Tenure days 92", "-50%"), anything else with one decimal."""
    if feature.endswith("_days") or feature.startswith("days_"):
        return "days"
    if feature.endswith("_pct") or "_pct_" in feature:
        return "pct"
    return "number"


def build_card(
    base_text: str,
    model: LearnedModel,
    *,
    objective: str = OBJECTIVE,
    bands: list[tuple[str, float, float]],
    calibration: dict,
    description: str,
    version: str,
    header: str,
) -> tuple[str, CardParts]:
    """The base scorecard with `objective` relearned: learned factors (bins / categories /
    boolean, with `missing` and `other` explicit), conditioned bins as `overrides`, group and
    factor weights from the points' ranges, bands and calibration. Other objectives and the
    base card's factors stay (a factor the learned objective does not use gets weight 0 there)."""
    import yaml

    data = yaml.safe_load(base_text)
    taken = {f["name"] for f in data.get("factors", [])}
    base_features = {f["feature"]: f for f in data.get("factors", [])}
    ranges: dict[str, float] = {}
    tops: dict[str, float] = {}
    names: dict[str, str] = {}
    for t, p in zip(model.terms, model.points, strict=True):
        names[t.name] = _factor_name(t.name, taken)
        ranges[t.name] = float(p.max() - p.min())
        tops[t.name] = float(p.max())
    total = sum(ranges.values())
    if total <= 0:
        raise ValueError("the learned points are all equal: nothing separates churners")
    scale = 100.0 / total

    def score_of(t: Term, value: float) -> float:
        r = ranges[t.name]
        return float(round(100.0 * (tops[t.name] - float(value)) / r, 2)) if r > 0 else 50.0

    def normalisation(t: Term, binning, points: np.ndarray) -> dict:
        scores = [score_of(t, v) for v in points]
        if binning.kind == NUMERIC:
            k = len(binning.edges) + 1
            norm = {"method": "bins", "edges": [float(e) for e in binning.edges], "scores": scores[:k]}
            missing = scores[k]
        elif binning.kind == BOOLEAN:
            pos = {k: i for i, k in enumerate(binning.levels)}
            norm = {"method": "boolean", "if_true": scores[pos["true"]], "if_false": scores[pos["false"]]}
            missing = scores[-1]
        else:
            norm = {
                "method": "categories",
                "scores": {binning.labels.get(k, k): scores[i] for i, k in enumerate(binning.levels)},
                "other": scores[len(binning.levels)],
            }
            missing = scores[-1]
        norm["missing"] = missing
        return norm

    groups = data.setdefault("groups", {})
    factors_out = []
    overrides: dict[tuple[str, str], dict] = {}
    group_of: dict[str, str] = {}
    for t, p in zip(model.terms, model.points, strict=True):
        if ranges[t.name] <= 0:
            continue
        base = base_features.get(t.name)
        if base is not None:
            group, owner, label = base["group"], base["owner"], base["label"]
        else:
            group, gl = "account_profile", "Account profile"
            for prefix, g, glabel in _FAMILY_GROUPS:
                if t.name.startswith(prefix):
                    group, gl = g, glabel
            if not t.name.startswith(("attr_", "metric_")) and t.name not in _STANDARD_PROFILE:
                group, gl = "other_signals", "Other signals"
            groups.setdefault(group, gl)
            owner, label = "cs", feature_label(t.candidate)
        group_of[t.name] = group
        offset = 0
        blocks = []
        for key, binning in t.blocks():
            blocks.append((key, binning, p[offset : offset + binning.n_bins]))
            offset += binning.n_bins
        kind = t.default.kind
        value = "{value}"
        explain = (
            {
                "unit": "number",
                "low": f"{label}: {value}, which weighs against retention",
                "high": f"{label}: {value}",
            }
            if kind != NUMERIC
            else {
                "unit": _numeric_unit(t.name),
                "low": f"{label} {value} ({{bin}}), a range that weighs against retention",
                "high": f"{label} {value} ({{bin}})",
            }
        )
        factor = {
            "name": names[t.name],
            "label": label,
            "feature": t.name,
            "group": group,
            "owner": owner,
            "normalisation": normalisation(t, blocks[0][1], blocks[0][2]),
            "explain": explain,
            "description": (t.candidate.description + " " if t.candidate.description else "")
            + "Learned: points per bin from outcomes"
            + (f", bins per {t.conditioner.name}" if t.conditioner else "")
            + ".",
        }
        factors_out.append(factor)
        for key, binning, pts in blocks[1:]:
            value_in = key == "true" if t.conditioner.kind == BOOLEAN else key
            entry = overrides.setdefault(
                (t.conditioner.name, key),
                {
                    "name": f"{feature_label(t.conditioner)} {key}",
                    "when": {"feature": t.conditioner.name, "in": [value_in]},
                    "normalisation": {},
                },
            )
            entry["normalisation"][names[t.name]] = normalisation(t, binning, pts)

    data["factors"] = [*data.get("factors", []), *factors_out]
    obj = data["objectives"][objective]
    group_raw = {g: 0.0 for g in groups}
    for t in model.terms:
        if ranges[t.name] > 0:
            group_raw[group_of[t.name]] += 100.0 * ranges[t.name] / total
    obj["group_weights"] = _round_to_total(group_raw, 100.0)
    learned_names = {names[t.name] for t in model.terms if ranges[t.name] > 0}
    obj["factor_weights"] = {
        **{f["name"]: 0 for f in data["factors"] if f["name"] not in learned_names},
        **{names[t.name]: round(ranges[t.name], 4) for t in model.terms if ranges[t.name] > 0},
    }
    for other in data["objectives"].values():
        if other is not obj:
            for g in groups:
                other.setdefault("group_weights", {}).setdefault(g, 0)
    # Group weights of this objective in any override (segment, industry or a condition on any
    # feature) would bend the learned weights for those accounts: removed.
    variants = [
        *(data.get("segment_overrides") or {}).values(),
        *(data.get("industry_overrides") or {}).values(),
        *(data.get("overrides") or []),
    ]
    for variant in variants:
        (variant.get("group_weights") or {}).pop(objective, None)
        for weights in (variant.get("group_weights") or {}).values():
            for g in groups:
                weights.setdefault(g, 0)
        if "group_weights" in variant and not variant["group_weights"]:
            del variant["group_weights"]
    if data.get("overrides"):
        # An override left with nothing to change is noise in a reviewed card.
        data["overrides"] = [o for o in data["overrides"] if o.get("group_weights") or o.get("normalisation")]
        if not data["overrides"]:
            del data["overrides"]
    if overrides:
        data["overrides"] = [*(data.get("overrides") or []), *overrides.values()]
    data["bands"] = [{"grade": g, "min": lo, "max": hi} for g, lo, hi in bands]
    data["calibration"] = calibration
    data["version"] = version
    data["description"] = description
    text = header + yaml.safe_dump(
        data, sort_keys=False, width=110, allow_unicode=True, default_flow_style=None
    )
    return text, CardParts(scale=scale, top=sum(tops.values()), ranges=ranges)
