"""`healthscore scorecard learn`: a scorecard learned from real outcomes, written as reviewable YAML.

rows      labelled_rows()     feature rows + label: churn within the horizon (history) or the
                              concurrent churn flag (a snapshot: one date, nothing after it)
split     by time (train dates, a horizon gap, test dates) or by a stable hash of the account
model     learn_model.learn() bins and points per factor, interactions as overrides
card      build_card()        the base scorecard with a learned retention objective, bands
                              proposed from outcomes and a calibration
measure   on the held-out rows: the learned card scored by the warehouse's own SQL (the
          round trip), the current card, and a tuned gradient-boosting reference; ROC AUC,
          PR AUC, top-decile lift, Brier with bootstrap CIs over accounts; band table;
          reliability curve
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration.lib import clock
from orchestration.lib.backtest.calibration import (
    band_rates,
    brier,
    fit_calibration,
    metrics_with_ci,
    propose_bands,
    reliability,
)
from orchestration.lib.backtest.history import (
    OBJECTIVE,
    churn_labels,
    find_relation,
    parse_days,
    sample_dates,
    score_history,
)
from orchestration.lib.backtest.learn_card import (
    build_card,
    feature_label,
    neutral_points,
    score_from_logit,
)
from orchestration.lib.backtest.learn_model import (
    BOOLEAN,
    CATEGORICAL,
    NUMERIC,
    Candidate,
    LearnedModel,
    LearnOptions,
    encode,
    group_folds,
    hash_share,
    learn,
    screen,
)
from orchestration.lib.backtest.metrics import auc_weighted, compare_auc
from orchestration.lib.backtest.weights import time_split
from orchestration.lib.scoring.scorecard import Scorecard, load_scorecard, parse_scorecard

# Columns of the feature mart that are never features (keys, labels, descriptive, bookkeeping).
NOT_FEATURES = {
    "account_id",
    "as_of_date",
    "account_name",
    "owner",
    "parent_account_id",
    "is_churned",
    "churned_on",
    "inputs_loaded_through",
    "sentiment_top_negative",
}
_NOT_FEATURE_PREFIXES = ("has_",)
# Largest difference, in score points, between the warehouse's score of the learned YAML and the
# model's own (rounding of the scores and weights written in the YAML gives about 0.01).
ROUND_TRIP_TOLERANCE = 0.05
SNAPSHOT = "snapshot"
HISTORY = "history"


# --------------------------------------------------------------------------- rows and labels
@dataclass
class LabelledRows:
    frame: pd.DataFrame  # the mart's rows, plus `churned`
    mode: str  # history | snapshot
    dates: list[dt.date]
    horizon_days: int
    label_words: str
    notes: list[str] = field(default_factory=list)


def labelled_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    features_table: str,
    outcomes_table: str,
    horizon_days: int,
    every_days: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    mode: str = "auto",
) -> LabelledRows:
    """Feature rows and labels. History: sampled dates with a full horizon after them, label =
    a churn outcome in (as_of, as_of + horizon], accounts already churned left out. Snapshot (no
    date has a horizon of data after it, or mode='snapshot'): the last date, label = the
    account's churn flag on that date, which is agreement with a concurrent flag, not a forecast."""
    notes: list[str] = []
    dates: list[dt.date] = []
    if mode != SNAPSHOT:
        try:
            dates = sample_dates(
                con, features_table, start=start, end=end, every_days=every_days, horizon_days=horizon_days
            )
            mode = HISTORY
        except ValueError as exc:
            if mode == HISTORY:
                raise
            notes.append(f"no as_of date has {horizon_days} days of data after it ({exc}): snapshot mode")
            mode = SNAPSHOT
    if mode == SNAPSHOT:
        last = end or con.execute(f"select max(as_of_date) from {features_table}").fetchone()[0]
        dates = [last]
    date_list = ", ".join(f"date '{d.isoformat()}'" for d in dates)
    frame = con.execute(f"select * from {features_table} where as_of_date in ({date_list})").df()
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    if mode == SNAPSHOT:
        frame["churned"] = frame["is_churned"].fillna(False).astype(bool)
        words = f"churn flag on {dates[0]} (agreement with a concurrent churn flag, not a prediction)"
        return LabelledRows(frame, mode, dates, 0, words, notes)
    labels = churn_labels(
        con, frame[["account_id", "as_of_date"]], outcomes_table=outcomes_table, horizon_days=horizon_days
    )
    frame = frame.merge(labels, on=["account_id", "as_of_date"], how="left")
    frame = frame[~frame["is_churned"].fillna(False).astype(bool)].reset_index(drop=True)
    frame["churned"] = frame["churned"].fillna(False).astype(bool)
    words = f"churn within {horizon_days} days after each as_of date"
    return LabelledRows(frame, mode, dates, horizon_days, words, notes)


def candidates_from(con: duckdb.DuckDBPyConnection, features_table: str) -> list[Candidate]:
    """Every column that may be a factor, typed: the feature catalog (marts.dim_features: type,
    kind, description) for the columns it knows, the warehouse types for the others."""
    from orchestration.lib.features.catalog import feature_catalog

    try:
        catalog = feature_catalog(con)
    except LookupError:
        catalog = {}
    out: list[Candidate] = []
    for name, type_code, *_ in con.execute(f"select * from {features_table} limit 0").description:
        if name in NOT_FEATURES or name.startswith(_NOT_FEATURE_PREFIXES):
            continue
        info = catalog.get(name)
        if info is not None:
            kind = {"categorical": CATEGORICAL, "boolean": BOOLEAN, "numeric": NUMERIC}.get(info.type)
            if not info.is_feature or kind is None:
                continue
            out.append(Candidate(name, kind, "", info.description or ""))
            continue
        text = str(type_code).upper()
        if text in ("VARCHAR", "STRING"):
            kind = CATEGORICAL
        elif text in ("BOOLEAN", "BOOL"):
            kind = BOOLEAN
        elif any(t in text for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "NUMBER", "REAL")):
            kind = NUMERIC
        else:
            continue  # dates, timestamps: not a factor as they are
        out.append(Candidate(name, kind))
    return out


# --------------------------------------------------------------------------- the reference model
@dataclass
class Reference:
    model: object
    columns: list[Candidate]
    levels: dict[str, list[str]]
    params: dict
    cv_auc: float
    notes: list[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(encode(frame, self.columns, self.levels))[:, 1]


def fit_reference(
    frame: pd.DataFrame,
    y: np.ndarray,
    candidates: Sequence[Candidate],
    *,
    accounts: pd.Series,
    seed: int = 0,
    opts: LearnOptions | None = None,
) -> Reference:
    """A properly fitted gradient-boosting reference: every usable feature (missing values
    handled natively, absent or constant ones dropped with a note), its size and learning rate
    tuned by cross-validation over accounts on the training rows only, then refitted on them."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    opts = opts or LearnOptions()
    cols, levels, _labels, notes = screen(frame, candidates, y, opts)
    if not cols:
        raise ValueError("no usable feature for the reference model: " + "; ".join(notes))
    x = encode(frame, cols, levels)
    cat = np.array([c.kind == CATEGORICAL for c in cols])
    folds = group_folds(accounts, 3)
    grid = [
        {"learning_rate": 0.1, "max_leaf_nodes": leaves, "min_samples_leaf": leaf}
        for leaves in (7, 31)
        for leaf in (20, 80)
    ]

    def booster(**params: object) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=300,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            categorical_features=cat if cat.any() else None,
            random_state=seed,
            **params,
        )

    best = None
    for params in grid:
        aucs = []
        for f in range(3):
            tr, te = folds != f, folds == f
            if y[tr].all() or not y[tr].any() or y[te].all() or not y[te].any():
                continue
            m = booster(**params).fit(x[tr], y[tr])
            aucs.append(auc_weighted(m.predict_proba(x[te])[:, 1], y[te]))
        score = float(np.mean(aucs)) if aucs else float("nan")
        if best is None or score > best[0]:
            best = (score, params)
    model = booster(**best[1]).fit(x, y)
    return Reference(model, cols, levels, best[1], best[0], notes)


# --------------------------------------------------------------------------- the whole run
@dataclass
class LearnResult:
    card_text: str
    card: Scorecard
    model: LearnedModel
    rows: LabelledRows
    split_words: str
    train_rows: int
    test_rows: int
    comparison: pd.DataFrame  # model x metric with CI
    bands: pd.DataFrame  # learned card on the test rows
    reliability: pd.DataFrame
    round_trip_max_diff: float
    vs_current: dict | None
    vs_reference: dict
    reference: Reference
    notes: list[str]
    timings: dict[str, float]
    path: Path | None = None


def split_rows(rows: LabelledRows, test_share: float) -> tuple[np.ndarray, str]:
    frame = rows.frame
    if rows.mode == HISTORY:
        try:
            train_d, test_d = time_split(rows.dates, rows.horizon_days)
            is_test = frame["as_of_date"].isin(test_d).to_numpy()
            is_train = frame["as_of_date"].isin(train_d).to_numpy()
            words = (
                f"by time: train {len(train_d)} dates {train_d[0]}..{train_d[-1]}, test {len(test_d)} dates "
                f"{test_d[0]}..{test_d[-1]} (a {rows.horizon_days}-day gap: no training label overlaps the test)"
            )
            return np.where(is_test, 1, np.where(is_train, 0, -1)), words
        except ValueError as exc:
            rows.notes.append(f"{exc}: split by account instead")
    share = hash_share(frame["account_id"].astype(str), "holdout")
    is_test = share < test_share
    words = f"by a stable hash of account_id: {1 - test_share:.0%} of accounts to learn, {test_share:.0%} held out"
    return np.where(is_test, 1, 0), words


def learn_scorecard(
    con: duckdb.DuckDBPyConnection,
    scorecard: Path | str,
    *,
    features_table: str = "fct_account_features_daily",
    outcomes_table: str = "fct_account_outcomes",
    horizon: str | int = "90d",
    every: str | int = "7d",
    start: dt.date | None = None,
    end: dt.date | None = None,
    mode: str = "auto",
    test_share: float = 0.25,
    exclude: Sequence[str] = (),
    only: Sequence[str] = (),
    options: LearnOptions | None = None,
    n_boot: int = 300,
    seed: int = 0,
    out: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> LearnResult:
    import time

    from threadpoolctl import threadpool_limits

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    features_table = find_relation(con, features_table)
    outcomes_table = find_relation(con, outcomes_table)
    known = {r[0] for r in con.execute(f"select * from {features_table} limit 0").description}
    base_card = load_scorecard(scorecard, known_features=known)
    base_text = Path(scorecard).read_text()
    rows = labelled_rows(
        con,
        features_table=features_table,
        outcomes_table=outcomes_table,
        horizon_days=parse_days(horizon),
        every_days=parse_days(every),
        start=start,
        end=end,
        mode=mode,
    )
    for n in rows.notes:
        log(n)
    frame = rows.frame
    side, split_words = split_rows(rows, test_share)
    train, test = frame[side == 0].reset_index(drop=True), frame[side == 1].reset_index(drop=True)
    y_tr, y_te = train["churned"].to_numpy(bool), test["churned"].to_numpy(bool)
    log(
        f"{len(frame):,} labelled rows ({rows.label_words}); split {split_words}: "
        f"{len(train):,} rows to learn ({int(y_tr.sum())} churned), {len(test):,} held out ({int(y_te.sum())} churned)"
    )
    if y_te.sum() == 0 or y_te.all():
        raise ValueError("the held-out rows have a single class: nothing to measure on")
    cands = [c for c in candidates_from(con, features_table) if c.name not in set(exclude)]
    if only:
        cands = [c for c in cands if c.name in set(only)]
    timings["rows"] = time.perf_counter() - t0

    opts = options or LearnOptions(seed=seed)
    t0 = time.perf_counter()
    # One thread per library: this runs beside a warehouse and other jobs on small machines,
    # and oversubscribed OpenMP threads were 10x slower there.
    with threadpool_limits(1):
        model = learn(train, y_tr, cands, accounts=train["account_id"].astype(str), opts=opts)
        timings["learn"] = time.perf_counter() - t0
        for n in model.notes:
            log(n)
        t0 = time.perf_counter()
        reference = fit_reference(
            train, y_tr, cands, accounts=train["account_id"].astype(str), seed=seed, opts=opts
        )
        timings["reference"] = time.perf_counter() - t0
    neutral_points(model, train)

    # Calibration and bands from out-of-fold scores of the training rows (not the rows the
    # points were fitted on), so neither is flattered by the fit.
    oof_logit = model.oof_logit
    when = clock.today()
    version = f"{base_card.version}-learned.{when.isoformat()}"
    header = (
        f"# Learned by `healthscore scorecard learn` on {when} from {base_card.name} {base_card.version}.\n"
        f"# Label: {rows.label_words}. Split {split_words}.\n"
        "# Review the learn report next to it (held-out metrics, bands, reliability) before using it.\n"
    )
    description = (
        f"LEARNED on {when}: the {OBJECTIVE} objective's factors, bins and points fitted on "
        f"{len(train):,} rows ({rows.label_words}); measured on {len(test):,} held-out rows. "
        "Review it like any scorecard change. " + " ".join(str(base_card.description).split())
    )
    # First pass: the card's affine map from log-odds to score, to put out-of-fold log-odds on
    # the score scale; bands and calibration then complete the card.
    _, parts = build_card(
        base_text,
        model,
        bands=[("red", 0, 40), ("yellow", 40, 70), ("green", 70, 100)],
        calibration={"intercept": 0.0, "slope": 0.0, "horizon_days": rows.horizon_days},
        description=description,
        version=version,
        header=header,
    )
    oof_score = np.clip(score_from_logit(model, parts, oof_logit), 0, 100)
    bands, band_notes = propose_bands(oof_score, y_tr)
    intercept, slope = fit_calibration(oof_score, y_tr)
    calibration = {
        "objective": OBJECTIVE,
        "method": "logistic",
        "intercept": round(intercept, 6),
        "slope": round(slope, 6),
        "horizon_days": rows.horizon_days,
        "fitted_on": (
            f"out-of-fold scores of {len(train):,} training rows ({rows.label_words}); "
            f"base rate {y_tr.mean():.4f}"
        ),
    }
    text, parts = build_card(
        base_text,
        model,
        bands=bands,
        calibration=calibration,
        description=description,
        version=version,
        header=header,
    )
    card = parse_scorecard(text, source="<learned>", known_features=known)

    # Held out: the learned card scored by the warehouse (the round trip), the current card, the reference.
    t0 = time.perf_counter()
    test_dates = sorted(test["as_of_date"].unique())
    keys = test[["account_id", "as_of_date", "churned"]]

    def scored(c: Scorecard) -> pd.DataFrame:
        h = score_history(con, c, features_table=features_table, dates=test_dates)
        return keys.merge(
            h.scores[["account_id", "as_of_date", "computed_score", "confidence"]],
            on=["account_id", "as_of_date"],
            how="left",
        )

    learned_sql = scored(card)
    expected = np.clip(score_from_logit(model, parts, model.logit(test)), 0, 100)
    round_trip = float(np.nanmax(np.abs(learned_sql["computed_score"].to_numpy(float) - expected)))
    if round_trip > ROUND_TRIP_TOLERANCE:
        round_trip_note = (
            f"ROUND TRIP FAILED: the warehouse scores the learned YAML up to {round_trip:.2f} points away "
            "from the model (the YAML's rounding allows about 0.01): the card does not rank accounts as "
            "the measured model does; a bug of `scorecard learn` or of the scoring SQL: please report it"
        )
        log(round_trip_note)
    current = scored(base_card)
    timings["score held-out"] = time.perf_counter() - t0

    acc = test["account_id"].astype(str).to_numpy()
    s_learn = learned_sql["computed_score"].fillna(50.0).to_numpy(float)
    p_learn = np.array([card.calibration.probability(s) for s in s_learn])
    results = {}
    results["learned scorecard"] = metrics_with_ci(
        100 - s_learn, p_learn, y_te, acc, n_boot=n_boot, seed=seed
    )
    s_cur = current["computed_score"].to_numpy(float)
    cur_notes = ""
    vs_current = None
    if np.isnan(s_cur).all():
        cur_notes = "the current scorecard scores no held-out row (none of its features has data)"
    else:
        # The current card's own probability: Platt on its training-period scores.
        cur_train = scored_train = None
        train_dates = sorted(train["as_of_date"].unique())
        h = score_history(con, base_card, features_table=features_table, dates=train_dates)
        cur_train = train[["account_id", "as_of_date", "churned"]].merge(
            h.scores[["account_id", "as_of_date", "computed_score"]],
            on=["account_id", "as_of_date"],
            how="left",
        )
        scored_train = cur_train["computed_score"].fillna(50.0).to_numpy(float)
        ci, cs = fit_calibration(scored_train, cur_train["churned"].to_numpy(bool))
        s_cur_f = np.nan_to_num(s_cur, nan=50.0)
        p_cur = 1 / (1 + np.exp(-(ci + cs * s_cur_f)))
        results[f"current scorecard ({base_card.name} {base_card.version})"] = metrics_with_ci(
            100 - s_cur_f, p_cur, y_te, acc, n_boot=n_boot, seed=seed
        )
        vs_current = compare_auc(y_te, 100 - s_cur_f, 100 - s_learn, acc, n_boot=n_boot, seed=seed)
        if np.isnan(s_cur).any():
            cur_notes = f"the current scorecard has no score for {int(np.isnan(s_cur).sum())} held-out rows (counted as 50)"
    p_ref = reference.predict(test)
    results["gradient boosting reference"] = metrics_with_ci(
        p_ref, p_ref, y_te, acc, n_boot=n_boot, seed=seed
    )
    base_p = np.full(len(y_te), y_tr.mean())
    results["base rate (no model)"] = {
        "roc_auc": (0.5, 0.5, 0.5),
        "pr_auc": (float(y_te.mean()),) * 3,
        "top_decile_lift": (1.0, 1.0, 1.0),
        "brier": (brier(base_p, y_te),) * 3,
    }
    vs_reference = compare_auc(y_te, p_ref, 100 - s_learn, acc, n_boot=n_boot, seed=seed)
    comparison = pd.DataFrame(
        [
            {"model": name, "metric": k, "value": v[0], "ci_low": v[1], "ci_high": v[2]}
            for name, m in results.items()
            for k, v in m.items()
        ]
    )
    notes = [
        *([round_trip_note] if round_trip > ROUND_TRIP_TOLERANCE else []),
        *rows.notes,
        *model.notes,
        *band_notes,
        *([cur_notes] if cur_notes else []),
        *(f"reference: {n}" for n in reference.notes),
    ]
    result = LearnResult(
        card_text=text,
        card=card,
        model=model,
        rows=rows,
        split_words=split_words,
        train_rows=len(train),
        test_rows=len(test),
        comparison=comparison,
        bands=band_rates(s_learn, y_te, bands),
        reliability=reliability(p_learn, y_te.astype(float)),
        round_trip_max_diff=round_trip,
        vs_current=vs_current,
        vs_reference=vs_reference,
        reference=reference,
        notes=notes,
        timings=timings,
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".report.md").write_text(render_learn_report(result))
        result.path = out
    return result


def render_learn_report(r: LearnResult) -> str:
    def table(df: pd.DataFrame) -> str:
        return df.to_markdown(index=False, floatfmt=".3f")

    wide = r.comparison.assign(
        text=lambda d: d.apply(lambda x: f"{x.value:.3f} [{x.ci_low:.3f}, {x.ci_high:.3f}]", axis=1)
    ).pivot(index="model", columns="metric", values="text")
    wide = wide.reindex(columns=["roc_auc", "pr_auc", "top_decile_lift", "brier"]).reset_index()
    lines = [
        f"# Learned scorecard {r.card.name} {r.card.version}",
        "",
        f"Label: {r.rows.label_words}. Split {r.split_words}: {r.train_rows:,} rows to learn, "
        f"{r.test_rows:,} held out.",
        "",
        "## Held-out metrics (95% bootstrap CI over accounts)",
        "",
        wide.to_markdown(index=False),
        "",
        f"Learned vs reference ROC AUC: {r.vs_reference['auc_challenger']:.3f} vs {r.vs_reference['auc_champion']:.3f}, "
        f"diff {r.vs_reference['auc_diff']:+.3f} [{r.vs_reference['ci_low']:+.3f}, {r.vs_reference['ci_high']:+.3f}]",
    ]
    if r.vs_current:
        c = r.vs_current
        lines.append(
            f"Learned vs current ROC AUC: {c['auc_challenger']:.3f} vs {c['auc_champion']:.3f}, "
            f"diff {c['auc_diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
        )
    lines += [
        "",
        f"Round trip: the learned YAML scored by the warehouse differs from the model by at most "
        f"{r.round_trip_max_diff:.3f} score points.",
        "",
        "## Bands proposed from outcomes, on the held-out rows",
        "",
        table(r.bands),
        "",
        "## Reliability of the calibrated churn probability (held out)",
        "",
        table(r.reliability),
        "",
        "## Factors",
        "",
        "| factor | feature | type | bins depend on |",
        "|---|---|---|---|",
    ]
    for t in r.model.terms:
        lines.append(
            f"| {feature_label(t.candidate)} | `{t.name}` | {t.default.kind} | "
            f"{t.conditioner.name if t.conditioner else ''} |"
        )
    lines += ["", "## Notes", "", *(f"- {n}" for n in r.notes), "", "## Timing", ""]
    lines += [f"- {k}: {v:.1f} s" for k, v in r.timings.items()]
    return "\n".join(lines) + "\n"
