"""Scorecards as code: the YAML model, its validation, and its identity.

A scorecard turns point-in-time account features into scores for one or more objectives
(retention risk, expansion potential) with factor groups, weights, grade bands and
per-segment / per-industry overrides. It is reviewed like code: `load_scorecard` rejects
an invalid file with messages that name the scorecard and the offending entry.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.lib.yaml_text import load_yaml_mapping

OWNERS = ("sales", "cs", "product", "finance", "support")
UNITS = ("pct", "count", "days", "score", "ratio", "hours", "currency", "number")
PLACEHOLDERS = ("value", "abs_value", "change", "bin")
WEIGHT_TOTAL = 100.0
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
# Names that become SQL identifiers (columns, CTE aliases) when a scorecard is compiled: factor,
# feature, group and objective names. Configuration is data: anything else is rejected here, in
# every command that loads a scorecard (run, diff, backtest, render), never quoted into SQL.
IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ScorecardError(ValueError):
    """A scorecard that cannot be used, with every problem found listed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


METHODS = ("thresholds", "percentile", "bins", "categories", "boolean")
CATEGORY_METHODS = ("categories", "boolean")  # the feature is read as text, not as a number


def fold_category(value: object) -> str:
    """How a category is matched: text, spaces trimmed, lower case, as the SQL's
    lower(trim(...)) does (trim removes spaces only, on every engine: a tab stays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip(" ").lower()


class Normalisation(_Strict):
    """How a raw feature value becomes a 0-100 factor score (the factor's type).

    thresholds: linear between `low` and `high` (clamped); with higher_is_better a value
    at or above `high` scores 100 and at or below `low` scores 0; lower_is_better mirrors it.
    percentile: the value's percentile rank among peers (all accounts, the same segment or
    the same industry) on the same as_of_date; tied values share their mid-rank (all tied: 50).
    bins: `edges` (ascending) cut the values into len(edges) + 1 bins, [edge_i, edge_i+1) (a
    value on an edge goes to the upper bin); `scores` gives each bin its score, any shape.
    categories: `scores` maps a value (matched trimmed, case-insensitive) to its score;
    `other` scores a value that is not listed (a new plan name): required, never guessed.
    boolean: `if_true` / `if_false` (true/false, 1/0, yes/no, t/f, y/n).
    missing (every method): the score when the feature is NULL. Without it a missing value
    leaves the factor out and the other factors' weights are scaled up.
    """

    method: Literal[METHODS]  # type: ignore[valid-type]
    low: float | None = None
    high: float | None = None
    peer_group: Literal["all", "segment", "industry"] = "segment"
    edges: list[float] | None = None
    scores: list[float] | dict[str, float] | None = None
    other: float | None = None
    if_true: float | None = None
    if_false: float | None = None
    missing: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _check(self) -> Normalisation:
        def in_range(name: str, value: float) -> None:
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be a factor score from 0 to 100 (got {value:g})")

        allowed = {
            "thresholds": {"low", "high"},
            "percentile": {"peer_group"},
            "bins": {"edges", "scores"},
            "categories": {"scores", "other"},
            "boolean": {"if_true", "if_false"},
        }[self.method] | {"method", "missing"}
        extra = sorted(k for k in self.model_fields_set if k not in allowed)
        if extra:
            raise ValueError(f"{self.method} normalisation does not take {', '.join(extra)}")
        if self.method == "thresholds":
            if self.low is None or self.high is None:
                raise ValueError("thresholds normalisation needs both low and high")
            if not self.low < self.high:
                raise ValueError(
                    f"thresholds are unordered: low ({self.low}) must be below high ({self.high})"
                )
        elif self.method == "bins":
            if self.edges is None or not isinstance(self.scores, list):
                raise ValueError("bins normalisation needs edges (a list) and scores (a list)")
            if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
                raise ValueError(f"bin edges must be strictly ascending (got {self.edges})")
            if len(self.scores) != len(self.edges) + 1:
                raise ValueError(
                    f"bins: {len(self.edges)} edges make {len(self.edges) + 1} bins, "
                    f"but {len(self.scores)} scores are given"
                )
            for s in self.scores:
                in_range("a bin score", s)
        elif self.method == "categories":
            if not isinstance(self.scores, dict) or not self.scores:
                raise ValueError("categories normalisation needs scores: {value: score, ...}")
            if self.other is None:
                raise ValueError(
                    "categories normalisation needs `other`: the score of a value that is not listed"
                )
            folded = [fold_category(k) for k in self.scores]
            for dup in sorted({k for k in folded if folded.count(k) > 1}):
                raise ValueError(f"category {dup!r} is listed more than once (matching ignores case)")
            for s in [*self.scores.values(), self.other]:
                in_range("a category score", s)
        elif self.method == "boolean":
            if self.if_true is None or self.if_false is None:
                raise ValueError("boolean normalisation needs if_true and if_false")
            in_range("if_true", self.if_true)
            in_range("if_false", self.if_false)
        return self


class Condition(_Strict):
    """A condition on one feature: `in` a list of values (categories/booleans, matched like
    categories) or a numeric range [min, max)."""

    feature: str
    in_: list[str | bool | float] | None = Field(default=None, alias="in")
    min: float | None = None
    max: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.in_ is None and self.min is None and self.max is None:
            raise ValueError(f"condition on {self.feature!r} needs `in` or `min`/`max`")
        if self.in_ is not None and (self.min is not None or self.max is not None):
            raise ValueError(f"condition on {self.feature!r}: use either `in` or `min`/`max`, not both")
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(
                f"condition on {self.feature!r}: min ({self.min:g}) must be below max ({self.max:g})"
            )
        return self


class Explanation(_Strict):
    unit: Literal[UNITS] = "number"  # type: ignore[valid-type]
    low: str = Field(description="Reason shown when the factor scores below 50 (a risk).")
    high: str = Field(description="Reason shown when the factor scores 50 or more (a strength).")
    # Numbers only: the reason when the value is exactly 0, whatever the score ("No licensed seat
    # was active" reads better than "Only 0% of licensed seats were active").
    zero: str | None = Field(default=None, description="Reason shown when the value is 0.")

    @model_validator(mode="after")
    def _check(self) -> Explanation:
        for text in (self.low, self.high, self.zero or ""):
            for name in _PLACEHOLDER_RE.findall(text):
                if name not in PLACEHOLDERS:
                    raise ValueError(f"unknown placeholder {{{name}}} in {text!r}; use {PLACEHOLDERS}")
        return self


class Factor(_Strict):
    name: str
    label: str
    feature: str
    group: str
    owner: Literal[OWNERS]  # type: ignore[valid-type]
    # Required for thresholds and percentile; bins, categories and boolean state their own shape.
    direction: Literal["higher_is_better", "lower_is_better"] | None = None
    weight: float = Field(default=1.0, gt=0, description="Relative weight inside its group.")
    normalisation: Normalisation
    explain: Explanation
    description: str = ""
    # An optional factor reads a feature that only some datasets have (a custom attribute or
    # metric): where the feature table has no such column, the factor is left out with a note
    # (Scorecard.notes) instead of refusing the card. Its weight goes to the group's other factors.
    optional: bool = False

    @model_validator(mode="after")
    def _check(self) -> Factor:
        if self.direction is None and self.normalisation.method in ("thresholds", "percentile"):
            raise ValueError(f"factor {self.name!r}: {self.normalisation.method} needs a direction")
        return self


class Objective(_Strict):
    label: str
    description: str
    group_weights: dict[str, float]
    # Relative factor weights for this objective only (default: the factor's weight).
    factor_weights: dict[str, float] = Field(default_factory=dict)


class Band(_Strict):
    grade: str
    min: float
    max: float


class Variant(_Strict):
    """Overrides for one segment or industry: group weights per objective, normalisation per factor."""

    group_weights: dict[str, dict[str, float]] = Field(default_factory=dict)
    normalisation: dict[str, Normalisation] = Field(default_factory=dict)


class Override(Variant):
    """Overrides for the accounts that meet `when` (one condition, or a list that must all hold)."""

    name: str = ""
    when: Condition | list[Condition]

    @property
    def conditions(self) -> list[Condition]:
        return self.when if isinstance(self.when, list) else [self.when]


class Calibration(_Strict):
    """churn_probability = 1 / (1 + exp(-(intercept + slope * computed_score))) for `objective`.

    Fitted by `healthscore scorecard learn` (or `backtest --calibrate`) on real outcomes and
    versioned with the scorecard. horizon_days 0: the label was a concurrent churn flag (a
    snapshot), so the probability is agreement with that flag, not a forecast.
    """

    objective: str = "retention_risk"
    method: Literal["logistic"] = "logistic"
    intercept: float
    slope: float
    horizon_days: int = Field(ge=0)
    fitted_on: str = ""

    def probability(self, score: float) -> float:
        import math

        z = self.intercept + self.slope * score
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


class Confidence(_Strict):
    min_for_grade: float = Field(default=0.5, ge=0, le=1)
    fresh_days: int = Field(default=14, ge=0)
    stale_days: int = Field(default=90, gt=0)
    stale_floor: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> Confidence:
        if self.stale_days <= self.fresh_days:
            raise ValueError("confidence.stale_days must be greater than fresh_days")
        return self


class Scorecard(_Strict):
    name: str
    version: str
    description: str
    owner: str
    change_window_days: int = Field(default=7, gt=0)
    groups: dict[str, str]  # group -> label
    objectives: dict[str, Objective]
    factors: list[Factor]
    bands: list[Band]
    confidence: Confidence = Confidence()
    segment_overrides: dict[str, Variant] = Field(default_factory=dict)
    industry_overrides: dict[str, Variant] = Field(default_factory=dict)
    # Checked in order before industry and segment overrides; the first that matches wins.
    overrides: list[Override] = Field(default_factory=list)
    calibration: Calibration | None = None

    # Set by load_scorecard: sha256 of the file's bytes.
    content_hash: str = ""
    # Set by load_scorecard: what was adapted to the feature table (optional factors left out).
    notes: tuple[str, ...] = ()

    @property
    def factor_map(self) -> dict[str, Factor]:
        return {f.name: f for f in self.factors}

    def factors_in(self, objective: str) -> list[Factor]:
        weights = self.objectives[objective].group_weights
        return [f for f in self.factors if weights.get(f.group, 0) > 0]

    def variants(self) -> list[tuple[str, list[Condition], Variant]]:
        """Every override in precedence order: (where, conditions, variant)."""
        out: list[tuple[str, list[Condition], Variant]] = []
        for i, o in enumerate(self.overrides):
            out.append((f"override {o.name or i + 1!r}", o.conditions, o))
        for value, v in self.industry_overrides.items():
            out.append((f"industry override {value!r}", [Condition(feature="industry", in_=[value])], v))
        for value, v in self.segment_overrides.items():
            out.append((f"segment override {value!r}", [Condition(feature="segment", in_=[value])], v))
        return out

    def factor_weight(self, objective: str, factor: Factor) -> float:
        return self.objectives[objective].factor_weights.get(factor.name, factor.weight)

    def grade_for(self, score: float) -> str:
        """Python mirror of the SQL band lookup (bands are [min, max), the top one closed)."""
        for band in self.bands:
            if band.min <= score < band.max:
                return band.grade
        return self.bands[-1].grade


def _identifier_errors(card: Scorecard) -> list[str]:
    found: list[tuple[str, str]] = [("objective", name) for name in card.objectives]
    found += [("group", name) for name in card.groups]
    for f in card.factors:
        found += [
            ("factor", f.name),
            (f"factor {f.name!r}: feature", f.feature),
            (f"factor {f.name!r}: group", f.group),
        ]
    for name, objective in card.objectives.items():
        found += [(f"objective {name!r}: group_weights", g) for g in objective.group_weights]
        found += [(f"objective {name!r}: factor_weights", f) for f in objective.factor_weights]
    for kind, variants in (("segment", card.segment_overrides), ("industry", card.industry_overrides)):
        for value, variant in variants.items():
            found += [(f"{kind} override {value!r}: objective", o) for o in variant.group_weights]
            for weights in variant.group_weights.values():
                found += [(f"{kind} override {value!r}: group_weights", g) for g in weights]
            found += [(f"{kind} override {value!r}: normalisation", f) for f in variant.normalisation]
    return [
        f"{where} {name!r} is not a valid name (lower-case letters, digits and _, starting with a letter or _)"
        for where, name in dict.fromkeys(found)
        if not IDENTIFIER_RE.match(name)
    ]


def _validate(card: Scorecard, known_features: set[str] | None) -> list[str]:
    errors: list[str] = _identifier_errors(card)
    if errors:  # names go into SQL: report them and nothing else
        return errors
    names = [f.name for f in card.factors]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"factor {dup!r} is defined more than once")
    for f in card.factors:
        if f.group not in card.groups:
            errors.append(f"factor {f.name!r}: unknown group {f.group!r} (groups: {', '.join(card.groups)})")
        if known_features is not None and f.feature not in known_features and not f.optional:
            errors.append(
                f"factor {f.name!r}: unknown feature {f.feature!r} "
                f"(known features: {', '.join(sorted(known_features))})"
            )

    def check_weights(where: str, weights: dict[str, float]) -> None:
        for group, weight in weights.items():
            if group not in card.groups:
                errors.append(f"{where}: unknown group {group!r}")
            if weight < 0:
                errors.append(f"{where}: weight of {group!r} is negative ({weight})")
        total = sum(weights.values())
        if abs(total - WEIGHT_TOTAL) > 1e-6:
            errors.append(f"{where}: group weights add up to {total:g}, not {WEIGHT_TOTAL:g}")

    if not card.objectives:
        errors.append("at least one objective is required")
    for name, obj in card.objectives.items():
        check_weights(f"objective {name!r}", obj.group_weights)
        for factor in obj.factor_weights:
            if factor not in names:
                errors.append(f"objective {name!r}: factor_weights names unknown factor {factor!r}")
        if not card.factors_in(name):
            errors.append(f"objective {name!r} has no factor in a weighted group")

    for where, conditions, variant in card.variants():
        for cond in conditions:
            if known_features is not None and cond.feature not in known_features:
                errors.append(f"{where}: condition on unknown feature {cond.feature!r}")
        for objective, weights in variant.group_weights.items():
            if objective not in card.objectives:
                errors.append(f"{where}: unknown objective {objective!r}")
                continue
            check_weights(f"{where}, objective {objective!r}", weights)
        for factor, norm in variant.normalisation.items():
            base = card.factor_map.get(factor)
            if base is None:
                errors.append(f"{where}: unknown factor {factor!r}")
            elif norm.method != base.normalisation.method:
                errors.append(
                    f"{where}: factor {factor!r} must keep its method "
                    f"{base.normalisation.method!r} (got {norm.method!r})"
                )
    if card.calibration is not None and card.calibration.objective not in card.objectives:
        errors.append(f"calibration: unknown objective {card.calibration.objective!r}")

    bands = card.bands
    if not bands:
        errors.append("at least one grade band is required")
    else:
        for band in bands:
            if not band.min < band.max:
                errors.append(f"band {band.grade!r}: min ({band.min:g}) must be below max ({band.max:g})")
        if bands[0].min != 0:
            errors.append(f"bands must start at 0 (first band {bands[0].grade!r} starts at {bands[0].min:g})")
        if bands[-1].max != 100:
            errors.append(f"bands must end at 100 (last band {bands[-1].grade!r} ends at {bands[-1].max:g})")
        for prev, nxt in zip(bands, bands[1:], strict=False):
            if nxt.min < prev.max:
                errors.append(
                    f"bands {prev.grade!r} and {nxt.grade!r} overlap or are unordered "
                    f"({prev.grade} ends at {prev.max:g}, {nxt.grade} starts at {nxt.min:g})"
                )
            elif nxt.min > prev.max:
                errors.append(
                    f"gap between bands {prev.grade!r} and {nxt.grade!r} ({prev.max:g} to {nxt.min:g})"
                )
        grades = [b.grade for b in bands]
        if len(set(grades)) != len(grades):
            errors.append("band grades must be unique")
    return errors


def parse_scorecard(
    text: str, *, source: str = "<string>", known_features: set[str] | None = None
) -> Scorecard:
    data = load_yaml_mapping(text, f"scorecard {source}", ScorecardError)
    try:
        card = Scorecard(**data, content_hash=hashlib.sha256(text.encode()).hexdigest())
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}")
        raise ScorecardError(f"scorecard {source} is invalid:\n  - " + "\n  - ".join(problems)) from None
    if "notes" in data:
        raise ScorecardError(
            f"scorecard {source} is invalid:\n  - notes: set by healthscore, not in the file"
        )
    errors = _validate(card, known_features)
    if errors:
        raise ScorecardError(f"scorecard {source} is invalid:\n  - " + "\n  - ".join(errors))
    if known_features is not None:
        card = _without_absent_optional(card, known_features)
        errors = _validate(card, known_features)
        if errors:
            raise ScorecardError(
                f"scorecard {source} is invalid once its optional factors without a feature are left out:"
                "\n  - " + "\n  - ".join(errors)
            )
    return card


def _without_absent_optional(card: Scorecard, known_features: set[str]) -> Scorecard:
    """The card without its optional factors whose feature the feature table does not have
    (removed from the factor list, the objectives' factor_weights and every override), with a
    note per factor left out."""
    absent = {f.name: f.feature for f in card.factors if f.optional and f.feature not in known_features}
    if not absent:
        return card

    def variant(v: Variant) -> Variant:
        kept = {k: n for k, n in v.normalisation.items() if k not in absent}
        return v if len(kept) == len(v.normalisation) else v.model_copy(update={"normalisation": kept})

    objectives = {
        name: o.model_copy(
            update={"factor_weights": {k: w for k, w in o.factor_weights.items() if k not in absent}}
        )
        for name, o in card.objectives.items()
    }
    notes = tuple(
        f"optional factor {name!r} left out: the feature table has no column {feature!r}"
        for name, feature in absent.items()
    )
    return card.model_copy(
        update={
            "factors": [f for f in card.factors if f.name not in absent],
            "objectives": objectives,
            "segment_overrides": {k: variant(v) for k, v in card.segment_overrides.items()},
            "industry_overrides": {k: variant(v) for k, v in card.industry_overrides.items()},
            "overrides": [variant(o) for o in card.overrides],
            "notes": card.notes + notes,
        }
    )


DEFAULT_SCORECARD = "scorecards/default.yml"  # the project's scorecard, relative to the project root
SCORECARD_ENV = "HEALTHSCORE_SCORECARD"


def scorecard_in_use() -> str:
    """The card runs, schedules and backtests use unless told otherwise: HEALTHSCORE_SCORECARD (a
    path, relative to the project root or absolute: a learned card you adopted), else the default."""
    return os.environ.get(SCORECARD_ENV, "").strip() or DEFAULT_SCORECARD


def load_scorecard(path: Path | str, known_features: set[str] | None = None) -> Scorecard:
    path = Path(path)
    if not path.exists():
        raise ScorecardError(f"scorecard file {path} does not exist")
    return parse_scorecard(path.read_text(), source=str(path), known_features=known_features)


def load_scorecard_for(con, path: Path | str, relation: str) -> Scorecard:
    """The card as it scores `relation` (a feature table): checked against its columns, optional
    factors without a column left out (card.notes says which). `con`: any DB-API connection."""
    known = {d[0] for d in con.execute(f"select * from {relation} limit 0").description}
    return load_scorecard(path, known_features=known)
