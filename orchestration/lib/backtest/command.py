"""The `healthscore backtest` and `healthscore scorecard diff` commands, on typed options (the
argparse parser is in orchestration/cli/main.py)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import clock
from orchestration.lib.scoring.scorecard import DEFAULT_SCORECARD
from orchestration.lib.settings import Settings, project_path


@dataclass(frozen=True)
class BacktestOptions:
    """What `healthscore backtest` was asked to do (dates ISO strings, "" for the default)."""

    scorecard: str = DEFAULT_SCORECARD
    start: str = ""
    end: str = ""
    horizon: str = "90d"
    every: str = "7d"
    challenger: str | None = None
    suggest: bool = False
    suggest_out: str | None = None
    leakage_dates: int = 1
    bootstrap: int = 1000
    out: str = "reports/backtest"
    write_tables: bool = True
    label: str = "auto"


@dataclass(frozen=True)
class ScorecardDiffOptions:
    """What `healthscore scorecard diff` was asked to compare."""

    old: str
    new: str
    as_of: str = ""
    out: str | None = None


@dataclass(frozen=True)
class LearnCommandOptions:
    """What `healthscore scorecard learn` was asked to do."""

    scorecard: str = DEFAULT_SCORECARD
    out: str = ""
    horizon: str = "90d"
    every: str = "7d"
    start: str = ""
    end: str = ""
    label: str = "auto"
    holdout: float = 0.25
    max_factors: int = 15
    max_bins: int = 6
    shape: str = "monotone"
    max_interactions: int = 4
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    bootstrap: int = 300


def scorecard_learn_command(args: LearnCommandOptions, say: Callable[[str], None]) -> int:
    from orchestration.lib.backtest.learn import learn_scorecard
    from orchestration.lib.backtest.learn_model import LearnOptions
    from orchestration.lib.engines.warehouse import connect

    settings = Settings.from_env()
    out = project_path(args.out) if args.out else settings.scorecards_dir / f"learned-{clock.today()}.yml"
    opts = LearnOptions(
        max_factors=args.max_factors,
        max_bins=args.max_bins,
        max_interactions=args.max_interactions,
        monotone=args.shape == "monotone",
    )
    with connect(settings.warehouse_path) as con:
        result = learn_scorecard(
            con,
            project_path(args.scorecard),
            horizon=args.horizon,
            every=args.every,
            start=dt.date.fromisoformat(args.start) if args.start else None,
            end=dt.date.fromisoformat(args.end) if args.end else None,
            mode=args.label,
            test_share=args.holdout,
            exclude=args.exclude,
            only=args.only,
            options=opts,
            n_boot=args.bootstrap,
            out=out,
            log=say,
        )
    say("")
    say(f"Held out ({result.test_rows:,} rows; label: {result.rows.label_words}):")
    for model, part in result.comparison.groupby("model", sort=False):
        m = {r.metric: r for r in part.itertuples()}
        say(
            f"  {model}: ROC AUC {m['roc_auc'].value:.3f} [{m['roc_auc'].ci_low:.3f}, {m['roc_auc'].ci_high:.3f}]"
            f" | PR AUC {m['pr_auc'].value:.3f} | top-decile lift {m['top_decile_lift'].value:.2f}"
            f" | Brier {m['brier'].value:.4f}"
        )
    say(
        "Bands (held out): "
        + ", ".join(
            f"{b.grade} <{b.score_max:g}: churn {b.churn_rate:.1%} ({b.lift:.1f}x, "
            f"{b.share_of_churners:.0%} of churners, n={b.rows})"
            for b in result.bands.itertuples()
        )
    )
    say(
        f"Round trip (YAML scored by the warehouse vs the model): max difference {result.round_trip_max_diff:.3f}"
    )
    say(f"Learned scorecard: {result.path}")
    say(f"Report: {result.path.with_suffix('.report.md')}")
    from orchestration.lib.commands import command_with_data_dir

    cmd = command_with_data_dir()
    say(
        f"Review it, then: {cmd} backtest --scorecard {result.path}; "
        f"{cmd} scorecard diff {args.scorecard} {result.path}"
    )
    return 0


def run_backtest_command(args: BacktestOptions, say: Callable[[str], None]) -> int:
    from orchestration.lib.backtest.leakage import LeakageError, dbt_leakage_check
    from orchestration.lib.backtest.metrics import verdict
    from orchestration.lib.backtest.report import write_report
    from orchestration.lib.backtest.run import run_backtest
    from orchestration.lib.engines.warehouse import connect

    settings = Settings.from_env()
    start = dt.date.fromisoformat(args.start) if args.start else None
    end = dt.date.fromisoformat(args.end) if args.end else None
    suggest_out = None
    if args.suggest and args.write_tables:
        suggest_out = (
            project_path(args.suggest_out)
            if args.suggest_out
            else settings.scorecards_dir / f"suggested-{clock.today()}.yml"
        )
    guard = (
        dbt_leakage_check(settings.warehouse_path, n_dates=args.leakage_dates)
        if args.leakage_dates > 0
        else None
    )
    with connect(settings.warehouse_path) as con:
        try:
            result = run_backtest(
                con,
                project_path(args.scorecard),
                start=start,
                end=end,
                horizon=args.horizon,
                every=args.every,
                challenger=project_path(args.challenger) if args.challenger else None,
                suggest=args.suggest,
                suggest_out=suggest_out,
                leakage_check=guard,
                n_boot=args.bootstrap,
                write_tables=args.write_tables,
                label=args.label,
                log=say,
            )
        except LeakageError as exc:
            say(f"BACKTEST FAILED - leakage guard: {exc}")
            return 2
    # --no-write writes nothing: no backtest.* rows, no report file, no suggested scorecard.
    report = write_report(result, project_path(args.out)) if args.write_tables else None
    say("")  # the metrics line was printed by run_backtest
    say(f"Label: {result.label_words}")
    if result.calibration:
        cm = result.calibration["metrics"]
        say(
            f"Churn probability: Brier {cm['brier']:.4f} vs {cm['brier_base_rate']:.4f} for the base rate; "
            f"mean predicted {cm['mean_probability']:.3f} vs observed {result.metrics['base_rate']:.3f}"
        )
    say(
        "Churn rate by band: "
        + ", ".join(
            f"{b.grade} {b.churn_rate:.1%} (n={b.rows})"
            for b in result.bands.itertuples()
            if not math.isnan(b.churn_rate)
        )
        + (" - monotone" if result.monotone else " - NOT monotone")
    )
    for c in result.comparisons:
        say(
            f"{c['period']}: {c['champion']} AUC {c['auc_champion']:.3f} vs {c['challenger']} AUC "
            f"{c['auc_challenger']:.3f}: diff {c['auc_diff']:+.4f}, 95% CI [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] "
            f"over {c['accounts']} accounts - {verdict(c)}"
        )
    if result.oot:
        models = result.oot["models"]
        say(
            "Out of time (the later dates): this scorecard AUC "
            f"{result.oot['champion_test']['roc_auc']:.3f}, the suggested weights "
            f"{result.oot['suggested_test']['roc_auc']:.3f}, a logistic regression "
            f"{models['logistic_regression_test_auc']:.3f}, a gradient-boosting model (the ceiling) "
            f"{models['gbm_ceiling_test_auc']:.3f}"
        )
    if result.suggestion_path:
        say(f"Suggested scorecard: {result.suggestion_path}")
    warn = result.drift[result.drift["warn"]]
    say(
        f"Drift: {len(warn)} PSI warnings (> 0.2)"
        + (": " + ", ".join(f"{r.name} {r.psi:.2f}" for r in warn.itertuples()) if len(warn) else "")
    )
    say("Timing: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))
    if report is not None:
        say(f"Report: {report}")
        say(f"Tables: backtest.* in {settings.warehouse_path} (run_id {result.run_id})")
    else:
        say("--no-write: nothing written (no report, no backtest.* rows, no suggested scorecard).")
    return 0


def scorecard_diff_command(args: ScorecardDiffOptions, say: Callable[[str], None]) -> int:
    from orchestration.lib.backtest.history import find_relation
    from orchestration.lib.backtest.report import scorecard_diff
    from orchestration.lib.engines.warehouse import connect
    from orchestration.lib.scoring.scorecard import load_scorecard, load_scorecard_for

    settings = Settings.from_env()
    for path in (args.old, args.new):  # an invalid card is refused before the warehouse is opened
        load_scorecard(project_path(path))
    with connect(settings.warehouse_path) as con:
        features = find_relation(con, "fct_account_features_daily")
        old = load_scorecard_for(con, project_path(args.old), features)
        new = load_scorecard_for(con, project_path(args.new), features)
        for card in (old, new):
            for note in card.notes:
                say(f"{card.name} {card.version}: {note}")
        as_of = (
            dt.date.fromisoformat(args.as_of)
            if args.as_of
            else con.execute(f"select max(as_of_date) from {features}").fetchone()[0]
        )
        transitions, changed = scorecard_diff(con, old, new, features_table=features, as_of=as_of)
    lines = [
        f"# Scorecard diff: {old.name} {old.version} -> {new.name} {new.version}, as of {as_of}",
        "",
        "## Grade transitions (retention health)",
        "",
        transitions.to_markdown(index=False),
        "",
        f"## Accounts that change grade ({len(changed)}), with the factors whose contributions moved most",
        "",
    ]
    lines.append(changed.to_markdown(index=False) if len(changed) else "No account changes grade.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        say(f"wrote {args.out}")
    return 0
