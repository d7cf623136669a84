"""Learn on the 80 file, measure on the 20 file only (docs/backtesting.md, "Worked example").

    python examples/telecom_churn/measure.py --learn data/telecom80 --test data/telecom20 \
        --out reports/learn/telecom-learned.yml

Both folders are example data dirs built by `healthscore run --example telecom_churn` (with
TELECOM_CHURN_FILE pointing at the 80 and at the 20 file). `healthscore scorecard learn` learns
on 75% of the 80 file's customers and reports on the other 25%; this script also fits the
references on the same training rows and measures everything on the 20 file, which the learner
never saw: the learned card scored by the warehouse's SQL, the tuned gradient-boosting reference,
an L2 logistic regression on every usable feature, and the base card.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration.lib.backtest.calibration import band_rates, brier, metrics_with_ci
from orchestration.lib.backtest.history import find_relation, score_history
from orchestration.lib.backtest.learn import labelled_rows, learn_scorecard, split_rows
from orchestration.lib.backtest.learn_model import NUMERIC, encode
from orchestration.lib.backtest.metrics import compare_auc
from orchestration.lib.scoring.scorecard import load_scorecard


def _logistic(train: pd.DataFrame, y: np.ndarray, reference) -> object:
    """L2 logistic regression on the reference's columns: numbers standardised (missing = mean,
    plus a missing flag), categories one-hot."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cols = reference.columns
    num = [i for i, c in enumerate(cols) if c.kind == NUMERIC]
    cat = [i for i, c in enumerate(cols) if c.kind != NUMERIC]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), num),
            ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
        ]
    )
    model = make_pipeline(prep, LogisticRegressionCV(Cs=10, cv=3, scoring="neg_log_loss", max_iter=2000))
    x = encode(train, cols, reference.levels)
    model.fit(x, y)
    return lambda frame: model.predict_proba(encode(frame, cols, reference.levels))[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learn", required=True, help="data dir of the 80 file's run")
    parser.add_argument("--test", required=True, help="data dir of the 20 file's run")
    parser.add_argument("--scorecard", default="scorecards/default.yml", help="base card")
    parser.add_argument("--out", default="reports/learn/telecom-learned.yml")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)  # scikit-learn's notices of 1.10
    warehouse = "warehouse/healthscore.duckdb"
    out = Path(args.out)

    with duckdb.connect(str(Path(args.learn) / warehouse), read_only=True) as con80:
        result = learn_scorecard(con80, args.scorecard, out=out, n_boot=args.bootstrap, log=print)
        side, _words = split_rows(result.rows, 0.25)
        train = result.rows.frame[side == 0].reset_index(drop=True)
    y_train = train["churned"].to_numpy(bool)
    logistic = _logistic(train, y_train, result.reference)

    with duckdb.connect(str(Path(args.test) / warehouse), read_only=True) as con20:
        features = find_relation(con20, "fct_account_features_daily")
        rows = labelled_rows(
            con20,
            features_table=features,
            outcomes_table=find_relation(con20, "fct_account_outcomes"),
            horizon_days=90,
            every_days=14,
            mode="snapshot",
        )
        frame = rows.frame
        known = {r[0] for r in con20.execute(f"select * from {features} limit 0").description}
        card = load_scorecard(out, known_features=known)
        base = load_scorecard(args.scorecard, known_features=known)
        dates = sorted(frame["as_of_date"].unique())
        keys = frame[["account_id", "as_of_date"]]

        def score(c):
            h = score_history(con20, c, features_table=features, dates=dates)
            s = keys.merge(h.scores, on=["account_id", "as_of_date"], how="left")["computed_score"]
            return s.to_numpy(float)

        s_learn, s_base = score(card), score(base)

    y = frame["churned"].to_numpy(bool)
    acc = frame["account_id"].astype(str).to_numpy()
    p_learn = np.array([card.calibration.probability(s) for s in s_learn])
    p_ref = result.reference.predict(frame)
    p_lr = logistic(frame)
    s_base = np.nan_to_num(s_base, nan=50.0)
    models = {
        "learned scorecard (scored by the warehouse)": (100 - s_learn, p_learn),
        "gradient-boosting reference": (p_ref, p_ref),
        "logistic regression reference": (p_lr, p_lr),
        f"base card {base.name} {base.version}": (100 - s_base, None),
    }
    print(
        f"\n20 file: {len(y):,} customers, {y.mean():.1%} churned; learned on {len(train):,} rows of the 80 file"
    )
    for name, (risk, prob) in models.items():
        m = metrics_with_ci(risk, prob if prob is not None else np.full(len(y), y_train.mean()), y, acc,
                            n_boot=args.bootstrap, seed=0)  # fmt: skip
        print(
            f"  {name}: ROC AUC {m['roc_auc'][0]:.3f} [{m['roc_auc'][1]:.3f}, {m['roc_auc'][2]:.3f}]"
            f" | PR AUC {m['pr_auc'][0]:.3f} | top-decile lift {m['top_decile_lift'][0]:.2f}"
            + (f" | Brier {m['brier'][0]:.4f}" if prob is not None else "")
        )
    print(f"  base rate only: Brier {brier(np.full(len(y), y_train.mean()), y):.4f}")
    for name, risk in (("gradient-boosting", p_ref), ("logistic regression", p_lr)):
        d = compare_auc(y, risk, 100 - s_learn, acc, n_boot=args.bootstrap, seed=0)
        print(f"  learned minus {name}: {d['auc_diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
    bands = [(b.grade, b.min, b.max) for b in card.bands]
    print("\nBands of the learned card on the 20 file:")
    print(band_rates(s_learn, y, bands).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"Calibrated probability: mean {p_learn.mean():.3f} against {y.mean():.3f} observed")
    print(f"Round trip on the 80 file's held-out rows: {result.round_trip_max_diff:.3f} points")


if __name__ == "__main__":
    main()
