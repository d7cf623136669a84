"""Learn a scorecard from outcomes: bins and points per factor, readable as YAML.

The learned model is a logistic regression on one-hot bins of each factor (a classic points
scorecard). Where the bins come from: the shape of each feature in an additive boosting model
(scikit-learn HistGradientBoosting with one feature per tree), compressed to a few bins by a
count-weighted regression tree on that shape. Interactions a readable scorecard can carry: a
factor's bins may depend on the level of a categorical feature (an `overrides` entry in the
YAML); they are added greedily while they improve the cross-validated log loss.

Everything here works on a pandas frame (one row per account and as_of date, a column per
feature, `churned`); the warehouse side (which rows, which labels) is in learn_run.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestration.lib.scoring.scorecard import fold_category

NUMERIC, CATEGORICAL, BOOLEAN = "numeric", "categorical", "boolean"
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


def fold(value: object) -> str | None:
    """The text a category is matched on (the SQL does lower(trim(cast(x as varchar))))."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return fold_category(bool(value) if isinstance(value, np.bool_) else value)


def fold_series(values: pd.Series) -> pd.Series:
    return values.astype("object").map(fold)


def level_keys(values: pd.Series, kind: str) -> pd.Series:
    """Folded text per row for a categorical feature, 'true'/'false' for a boolean one."""
    if kind == BOOLEAN:
        return (
            as_bool(values).map({1.0: "true", 0.0: "false"}).astype("object").where(lambda s: s.notna(), None)
        )
    return fold_series(values)


def as_bool(values: pd.Series) -> pd.Series:
    """1.0 / 0.0 / NaN from booleans, 0/1 or yes/no text (mirrors the SQL of method boolean)."""
    folded = fold_series(values)
    out = pd.Series(np.nan, index=values.index)
    out[folded.isin(_TRUE)] = 1.0
    out[folded.isin(_FALSE)] = 0.0
    return out


@dataclass(frozen=True)
class Candidate:
    """A feature the learner may turn into a factor."""

    name: str
    kind: str  # numeric | categorical | boolean
    label: str = ""
    description: str = ""


# --------------------------------------------------------------------------- binnings
@dataclass
class Binning:
    """How one feature's values fall into bins (the columns of the design matrix).

    numeric: bins 0..len(edges) ([e_i, e_i+1), a value on an edge goes up), then `missing`.
    categorical / boolean: one bin per level, then `other` (a value not listed), then `missing`.
    """

    kind: str
    edges: list[float] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)  # folded keys
    labels: dict[str, str] = field(default_factory=dict)  # folded key -> text as seen

    @property
    def n_bins(self) -> int:
        if self.kind == NUMERIC:
            return len(self.edges) + 2
        return len(self.levels) + 2

    def bin_names(self) -> list[str]:
        if self.kind == NUMERIC:
            return [bin_words(self.edges, i) for i in range(len(self.edges) + 1)] + ["missing"]
        return [self.labels.get(k, k) for k in self.levels] + ["other", "missing"]

    def assign(self, values: pd.Series) -> np.ndarray:
        if self.kind == NUMERIC:
            x = pd.to_numeric(values, errors="coerce").to_numpy(float)
            idx = np.searchsorted(np.asarray(self.edges, float), x, side="right")
            idx[np.isnan(x)] = len(self.edges) + 1
            return idx
        folded = (
            fold_series(values)
            if self.kind == CATEGORICAL
            else as_bool(values).map({1.0: "true", 0.0: "false"})
        )
        pos = {k: i for i, k in enumerate(self.levels)}
        other, missing = len(self.levels), len(self.levels) + 1
        return np.array(
            [missing if v is None or pd.isna(v) else pos.get(v, other) for v in folded], dtype=int
        )


def bin_words(edges: Sequence[float], i: int) -> str:
    if not edges:
        return "any value"
    if i == 0:
        return f"below {fmt_num(edges[0])}"
    if i == len(edges):
        return f"{fmt_num(edges[-1])} or more"
    return f"{fmt_num(edges[i - 1])} to {fmt_num(edges[i])}"


def fmt_num(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e6 else f"{x:,.0f}"


def nice_edge(lo: float, hi: float) -> float:
    """The number with the fewest digits in (lo, hi]: an edge there splits lo from hi."""
    for digits in range(-6, 7):
        step = 10.0**-digits
        x = math.floor(lo / step + 1) * step
        if lo < x <= hi:
            return round(x, max(digits, 0))
    return hi


def round_edge(cut: float, values: np.ndarray, spread: float) -> float:
    """A readable edge near a tree cut: the shortest number within 1% of the feature's spread
    of the cut that still lies between two training values (so no bin empties)."""
    lo = values[values <= cut].max()
    hi = values[values > cut].min()
    tol = 0.01 * spread
    return nice_edge(min(lo, cut - tol), max(hi, cut + tol)) if tol > 0 else nice_edge(lo, hi)


@dataclass
class Term:
    """A factor of the learned card: a feature, its bins, and optionally bins per level of a
    conditioning categorical feature (levels not listed use the default bins)."""

    candidate: Candidate
    default: Binning
    conditioner: Candidate | None = None
    variants: dict[str, Binning] = field(default_factory=dict)  # folded level -> bins

    @property
    def name(self) -> str:
        return self.candidate.name

    def blocks(self) -> list[tuple[str | None, Binning]]:
        return [(None, self.default), *self.variants.items()]

    @property
    def width(self) -> int:
        return sum(b.n_bins for _, b in self.blocks())

    def assign(self, frame: pd.DataFrame) -> np.ndarray:
        """Column index (within this term) of every row."""
        idx = self.default.assign(frame[self.name])
        if self.conditioner is None:
            return idx
        level = level_keys(frame[self.conditioner.name], self.conditioner.kind)
        offset = self.default.n_bins
        for key, binning in self.variants.items():
            rows = (level == key).to_numpy()
            if rows.any():
                idx[rows] = offset + binning.assign(frame.loc[rows, self.name])
            offset += binning.n_bins
        return idx


def design(frame: pd.DataFrame, terms: Sequence[Term]) -> np.ndarray:
    """One-hot bins of every term (dense float; a scorecard has a few hundred columns at most)."""
    n = len(frame)
    out = np.zeros((n, sum(t.width for t in terms)))
    rows = np.arange(n)
    offset = 0
    for t in terms:
        out[rows, offset + t.assign(frame)] = 1.0
        offset += t.width
    return out


# --------------------------------------------------------------------------- boosting shapes
def encode(frame: pd.DataFrame, cands: Sequence[Candidate], levels: dict[str, list[str]]) -> np.ndarray:
    """Matrix for HistGradientBoosting: numbers as floats, categories as codes (NaN = missing)."""
    cols = []
    for c in cands:
        if c.kind == NUMERIC:
            cols.append(pd.to_numeric(frame[c.name], errors="coerce").to_numpy(float))
        elif c.kind == BOOLEAN:
            cols.append(as_bool(frame[c.name]).to_numpy(float))
        else:
            pos = {k: float(i) for i, k in enumerate(levels[c.name])}
            other = float(len(levels[c.name]))
            cols.append(
                np.array([np.nan if v is None else pos.get(v, other) for v in fold_series(frame[c.name])])
            )
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def category_levels(values: pd.Series, min_rows: int, max_levels: int) -> tuple[list[str], dict[str, str]]:
    """Levels seen at least min_rows times (the max_levels most frequent), with a display text."""
    folded = fold_series(values)
    counts = folded.value_counts()
    keep = [k for k, n in counts.items() if n >= min_rows][:max_levels]
    labels = {}
    for raw, key in zip(values.astype("object"), folded, strict=True):
        if key in keep and key not in labels:
            labels[key] = str(raw).strip(" ")
    return sorted(keep), labels


def _hgb(seed: int, **kw):
    from sklearn.ensemble import HistGradientBoostingClassifier

    params = {
        "learning_rate": 0.1,
        "max_iter": 400,
        "max_leaf_nodes": 8,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
        "early_stopping": True,
        "validation_fraction": 0.2,
        "n_iter_no_change": 20,
        "random_state": seed,
    }
    params.update(kw)
    return HistGradientBoostingClassifier(**params)


def numeric_edges(x: np.ndarray, shape: np.ndarray, *, max_bins: int, min_share: float) -> list[float]:
    """Compress a feature's shape (model output per training value) to at most max_bins bins:
    a regression tree on (value, shape) weighted by how often each value occurs."""
    from sklearn.tree import DecisionTreeRegressor

    ok = ~np.isnan(x)
    x, shape = x[ok], shape[ok]
    if len(np.unique(x)) < 2:
        return []
    tree = DecisionTreeRegressor(
        max_leaf_nodes=max_bins, min_samples_leaf=max(1, int(min_share * len(x))), random_state=0
    )
    tree.fit(x.reshape(-1, 1), shape)
    cuts = sorted(tree.tree_.threshold[tree.tree_.feature >= 0])
    values = np.unique(x)
    spread = float(np.quantile(x, 0.95) - np.quantile(x, 0.05))
    edges = [round_edge(cut, values, spread) for cut in cuts]
    edges = [e for e in edges if values.min() < e <= values.max()]
    return sorted(set(edges))


def shapes(model, xmat: np.ndarray, col: int, cond_col: int | None = None, cond_value: float | None = None):
    """Model output as column `col` varies over its training values (others as in row 0).

    Evaluated on at most 256 distinct values (boosting bins a feature into 255 bins anyway);
    values in between take the output of the grid value at or below them."""
    x = xmat[:, col]
    values = np.unique(x[~np.isnan(x)])
    if len(values) > 256:
        values = np.unique(np.quantile(values, np.linspace(0, 1, 256), method="lower"))
    grid = np.repeat(xmat[:1], len(values), axis=0)
    grid[:, col] = values
    if cond_col is not None:
        grid[:, cond_col] = cond_value
    out = model.decision_function(grid)
    pos = np.clip(np.searchsorted(values, x, side="right") - 1, 0, len(values) - 1)
    shaped = out[pos]
    shaped[np.isnan(x)] = np.nan
    return shaped


# --------------------------------------------------------------------------- splits and CV
def hash_share(account_ids: pd.Series, salt: str = "healthscore") -> np.ndarray:
    """A stable number in [0, 1) per account (sha256): the same account always lands on the
    same side of a split, on any machine and any run."""
    return np.array(
        [int(hashlib.sha256(f"{salt}:{a}".encode()).hexdigest()[:12], 16) / 16**12 for a in account_ids]
    )


def group_folds(accounts: pd.Series, k: int) -> np.ndarray:
    """Fold number per row; all rows of an account in one fold."""
    return np.minimum((hash_share(accounts, "folds") * k).astype(int), k - 1)


Monotone = Sequence[tuple[np.ndarray, int]]  # (design columns of one numeric block's value bins, direction)


def monotone_blocks(terms: Sequence[Term], directions: dict[str, int]) -> list[tuple[np.ndarray, int]]:
    """The design columns whose points must rise (+1) or fall (-1) with the value: the value bins
    of every numeric block of a term whose feature has a direction (the missing bin stays free)."""
    out, offset = [], 0
    for t in terms:
        d = directions.get(t.name, 0)
        for _key, b in t.blocks():
            if d and b.kind == NUMERIC and b.edges:
                out.append((np.arange(offset, offset + len(b.edges) + 1), d))
            offset += b.n_bins
    return out


def fit_lr(xd: np.ndarray, y: np.ndarray, c: float, monotone: Monotone = ()) -> tuple[np.ndarray, float]:
    """Logistic regression on the one-hot bins; with `monotone`, each block's points are then
    projected onto the monotone shapes (weighted isotonic regression, weights = rows per bin)
    and the intercept refitted, so bins never zigzag."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=c, solver="newton-cholesky", max_iter=200).fit(xd, y)
    coef, b = m.coef_[0].copy(), float(m.intercept_[0])
    if not monotone:
        return coef, b
    counts = xd.sum(axis=0)
    for cols, d in monotone:
        w = counts[cols] + 1e-6
        coef[cols] = IsotonicRegression(increasing=d > 0).fit_transform(
            np.arange(len(cols)), coef[cols], sample_weight=w
        )
    z = xd @ coef
    for _ in range(25):  # Newton steps on the intercept alone
        p = 1 / (1 + np.exp(-(z + b)))
        g, h = float((p - y).sum()), float((p * (1 - p)).sum()) + 1e-9
        b -= g / h
        if abs(g / h) < 1e-9:
            break
    return coef, b


def cv_logloss(
    xd: np.ndarray, y: np.ndarray, folds: np.ndarray, c: float, k: int, monotone: Monotone = ()
) -> tuple[float, np.ndarray]:
    oof = np.zeros(len(y))
    for f in range(k):
        tr, te = folds != f, folds == f
        if y[tr].all() or not y[tr].any() or not te.any():
            continue
        coef, b = fit_lr(xd[tr], y[tr], c, monotone)
        oof[te] = xd[te] @ coef + b
    p = np.clip(1 / (1 + np.exp(-oof)), 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), oof


# --------------------------------------------------------------------------- the fit
@dataclass
class LearnedModel:
    terms: list[Term]
    intercept: float
    points: list[np.ndarray]  # per term, one coefficient per design column (log-odds of churn)
    c: float
    cv_logloss: float
    oof_logit: np.ndarray  # out-of-fold log-odds on the training rows (for calibration and bands)
    notes: list[str]
    importance: dict[str, float]

    def logit(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.full(len(frame), self.intercept)
        for t, p in zip(self.terms, self.points, strict=True):
            out += p[t.assign(frame)]
        return out


@dataclass
class LearnOptions:
    max_factors: int = 15
    max_bins: int = 6
    min_bin_share: float = 0.03
    max_levels: int = 20
    min_level_rows: int = 20
    max_conditioner_levels: int = 4
    max_interactions: int = 4
    max_conditioners: int = 4  # categorical features tried as conditions (the most important ones)
    min_gain: float = 0.002  # mean log loss per row a step must save
    folds: int = 3
    seed: int = 0
    monotone: bool = True  # numeric bins rise or fall with the value (the direction seen in training)
    c_grid: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)


def screen(frame: pd.DataFrame, cands: Sequence[Candidate], y: np.ndarray, opts: LearnOptions):
    """Drop what cannot be a factor (absent, all missing, constant, too many levels, the label
    in disguise), with a note each; returns kept candidates and category levels."""
    kept, levels, labels, notes = [], {}, {}, []
    for c in cands:
        if c.name not in frame.columns:
            notes.append(f"{c.name}: not in the feature table: dropped")
            continue
        col = frame[c.name]
        if col.isna().all():
            notes.append(f"{c.name}: no value in the training rows (source absent?): dropped")
            continue
        if c.kind == NUMERIC:
            x = pd.to_numeric(col, errors="coerce")
            if x.nunique(dropna=True) < 2:
                notes.append(f"{c.name}: constant ({x.dropna().iloc[0]:g}) in the training rows: dropped")
                continue
        else:
            lv, lb = category_levels(
                col if c.kind == CATEGORICAL else as_bool(col).map({1.0: "true", 0.0: "false"}),
                opts.min_level_rows,
                opts.max_levels,
            )
            has_rest = fold_series(col).notna().sum() > sum(fold_series(col).isin(lv))
            if len(lv) + int(has_rest) + int(col.isna().any()) < 2:
                notes.append(f"{c.name}: a single value in the training rows: dropped")
                continue
            n_distinct = fold_series(col).nunique()
            if c.kind == CATEGORICAL and n_distinct > 10 * opts.max_levels and len(lv) < 2:
                notes.append(
                    f"{c.name}: {n_distinct} distinct values, none frequent (an identifier?): dropped"
                )
                continue
            levels[c.name], labels[c.name] = lv, lb
        kept.append(c)
    return kept, levels, labels, notes


def learn(
    frame: pd.DataFrame,
    y: np.ndarray,
    candidates: Sequence[Candidate],
    *,
    accounts: pd.Series,
    opts: LearnOptions | None = None,
) -> LearnedModel:
    from sklearn.metrics import roc_auc_score

    opts = opts or LearnOptions()
    y = np.asarray(y, bool)
    if y.sum() < 10 or (~y).sum() < 10:
        raise ValueError(
            f"{int(y.sum())} churners and {int((~y).sum())} others in the training rows: too few to learn from"
        )
    cands, levels, labels, notes = screen(frame, candidates, y, opts)
    # The label in disguise: a single feature that separates almost perfectly.
    clean = []
    for c in cands:
        xm = encode(frame, [c], levels)[:, 0]
        ok = ~np.isnan(xm)
        if ok.sum() > 0.5 * len(xm) and 0 < y[ok].sum() < ok.sum():
            auc = roc_auc_score(y[ok], xm[ok])
            if max(auc, 1 - auc) > 0.995:
                notes.append(
                    f"{c.name}: separates churners almost perfectly alone (AUC {max(auc, 1 - auc):.3f}): "
                    "is it the label? dropped"
                )
                continue
        clean.append(c)
    cands = clean
    if not cands:
        raise ValueError("no usable feature: " + "; ".join(notes))

    xmat = encode(frame, cands, levels)
    cat_mask = np.array([c.kind == CATEGORICAL for c in cands])
    n = len(cands)
    # Direction of each numeric feature (sign of its rank correlation with churn in training):
    # with opts.monotone the shapes, and so the bins' points, only rise or fall with the value.
    directions: dict[str, int] = {}
    if opts.monotone:
        for i, c in enumerate(cands):
            x = xmat[:, i]
            ok = ~np.isnan(x)
            if c.kind == NUMERIC and ok.sum() > 1 and 0 < y[ok].sum() < ok.sum():
                rho = pd.Series(x[ok]).corr(pd.Series(y[ok].astype(float)), method="spearman")
                if rho == rho and rho != 0:
                    directions[c.name] = 1 if rho > 0 else -1
    mono_cst = [directions.get(c.name, 0) for c in cands] if directions else None
    additive = _hgb(
        opts.seed,
        interaction_cst=[[i] for i in range(n)],
        categorical_features=cat_mask if cat_mask.any() else None,
        monotonic_cst=mono_cst,
    )
    additive.fit(xmat, y)

    def binning_for(i: int, model, cond_col=None, cond_value=None) -> Binning:
        c = cands[i]
        if c.kind == NUMERIC:
            s = shapes(model, xmat, i, cond_col, cond_value)
            rows = slice(None) if cond_col is None else (xmat[:, cond_col] == cond_value)
            return Binning(
                NUMERIC,
                edges=numeric_edges(
                    xmat[rows, i], s[rows], max_bins=opts.max_bins, min_share=opts.min_bin_share
                ),
            )
        if c.kind == BOOLEAN:
            return Binning(BOOLEAN, levels=["false", "true"], labels={"false": "no", "true": "yes"})
        return Binning(CATEGORICAL, levels=levels[c.name], labels=labels[c.name])

    # Importance: spread of each feature's additive shape over the training rows.
    importance = {}
    for i, c in enumerate(cands):
        s = shapes(additive, xmat, i)
        importance[c.name] = float(np.nanstd(s))
    order = sorted(importance, key=importance.get, reverse=True)
    total = sum(importance.values()) or 1.0
    chosen = [name for name in order if importance[name] >= 0.02 * total][: opts.max_factors]
    for name in order:
        if name not in chosen:
            notes.append(
                f"{name}: little effect once the others are known (importance {importance[name]:.3f}): left out"
            )
    index = {c.name: i for i, c in enumerate(cands)}
    terms = [Term(cands[index[name]], binning_for(index[name], additive)) for name in chosen]

    folds = group_folds(accounts, opts.folds)

    def best_c(ts):
        xd = design(frame, ts)
        mono = monotone_blocks(ts, directions)
        scores = [(cv_logloss(xd, y, folds, c, opts.folds, mono)[0], c) for c in opts.c_grid]
        return min(scores)

    base_loss, base_c = best_c(terms)
    # One backward pass: a factor whose removal does not cost cross-validated log loss goes.
    for t in sorted(terms, key=lambda t: importance[t.name]):
        if len(terms) <= 1:
            break
        rest = [u for u in terms if u is not t]
        rest_loss = cv_logloss(
            design(frame, rest), y, folds, base_c, opts.folds, monotone_blocks(rest, directions)
        )[0]
        if rest_loss - base_loss < opts.min_gain / 2:
            notes.append(
                f"{t.name}: adds nothing the other factors do not already say "
                f"(cross-validated log loss {base_loss:.4f} without it {rest_loss:.4f}): left out"
            )
            terms, base_loss = rest, min(base_loss, rest_loss)

    # Interactions: a factor's bins per level of a categorical feature with few levels.
    conditioners = sorted(
        (
            c
            for c in cands
            if c.kind in (CATEGORICAL, BOOLEAN)
            and 2 <= len(levels.get(c.name, ["false", "true"])) <= opts.max_conditioner_levels
        ),
        key=lambda c: -importance[c.name],
    )[: opts.max_conditioners]
    proposals: dict[tuple[str, str], Term] = {}
    for cond in conditioners:
        ci = index[cond.name]
        paired = _hgb(
            opts.seed,
            interaction_cst=[[i, ci] for i in range(n) if i != ci],
            categorical_features=cat_mask if cat_mask.any() else None,
            monotonic_cst=mono_cst,
        )
        paired.fit(xmat, y)
        cond_levels = levels.get(cond.name) if cond.kind == CATEGORICAL else ["false", "true"]
        codes = xmat[:, ci]
        counts = {k: int((codes == j).sum()) for j, k in enumerate(cond_levels)}
        default_level = max(counts, key=counts.get)
        for t in terms:
            if t.name == cond.name or len(t.default.levels) > opts.max_conditioner_levels:
                continue
            i = index[t.name]
            variants = {}
            for j, key in enumerate(cond_levels):
                if key == default_level:
                    continue
                variants[key] = (
                    binning_for(i, paired, ci, float(j)) if t.default.kind == NUMERIC else t.default
                )
            dflt = (
                binning_for(i, paired, ci, float(cond_levels.index(default_level)))
                if t.default.kind == NUMERIC
                else t.default
            )
            proposals[(t.name, cond.name)] = Term(t.candidate, dflt, cond, variants)

    current, loss, c_best = list(terms), base_loss, base_c
    promising = list(proposals)
    for _ in range(opts.max_interactions):
        tried = []
        for key in promising:
            fname, _cname = key
            pos = next((k for k, t in enumerate(current) if t.name == fname), None)
            if pos is None or current[pos].conditioner is not None:
                continue
            trial = current[:pos] + [proposals[key]] + current[pos + 1 :]
            trial_loss = cv_logloss(
                design(frame, trial), y, folds, c_best, opts.folds, monotone_blocks(trial, directions)
            )[0]
            tried.append((trial_loss, key, trial))
        tried.sort(key=lambda r: r[0])
        # Later rounds only retry the proposals that helped on their own.
        promising = [key for trial_loss, key, _ in tried if loss - trial_loss >= opts.min_gain][1:6]
        if not tried or loss - tried[0][0] < opts.min_gain:
            break
        best_loss, (fname, cname), current = tried[0]
        notes.append(
            f"{fname}: bins depend on {cname} (cross-validated log loss {loss:.4f} -> {best_loss:.4f})"
        )
        loss = best_loss
        if not promising:
            break
    loss, c_best = best_c(current)

    xd = design(frame, current)
    mono = monotone_blocks(current, directions)
    coefs, intercept = fit_lr(xd, y, c_best, mono)
    points, offset = [], 0
    for t in current:
        points.append(coefs[offset : offset + t.width].copy())
        offset += t.width
    _, oof = cv_logloss(xd, y, folds, c_best, opts.folds, mono)
    return LearnedModel(
        terms=current,
        intercept=intercept,
        points=points,
        c=c_best,
        cv_logloss=loss,
        oof_logit=oof,
        notes=notes,
        importance=importance,
    )
