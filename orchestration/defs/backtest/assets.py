"""The backtest asset: how well the default scorecard predicted churn on past dates.

Not part of `healthscore_all` (`make run`): with its leakage guard (a dbt rebuild of the
feature mart for one past date, ~12 s) it takes 20-30 s on the 500-account demo, and it
needs at least 60 days of warm-up plus a 90-day outcome window of history, which a fresh
warehouse does not have. Materialise it on demand (UI or `dagster asset materialize`) or
use `healthscore backtest`; it only reads the scores' inputs and appends to schema backtest.
"""

import dagster as dg

from orchestration.defs.asset_keys import BACKTEST_DEFAULT_SCORECARD, HEALTH_SCORES
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.scoring.scorecard import scorecard_in_use
from orchestration.lib.settings import PROJECT_ROOT, project_path


class BacktestConfig(dg.Config):
    scorecard: str = ""  # empty: HEALTHSCORE_SCORECARD, else scorecards/default.yml
    horizon: str = "90d"
    every: str = "7d"
    leakage_dates: int = 1
    bootstrap: int = 500
    report_dir: str = "reports/backtest"


@dg.asset(
    key=BACKTEST_DEFAULT_SCORECARD,
    group_name="backtest",
    deps=[HEALTH_SCORES],
    kinds={"duckdb"},
    description=(
        "Backtest of the default scorecard on sampled past dates: ROC/PR AUC, top-decile lift, churn "
        "rate per band, segment and date, PSI drift, leakage guard. Appends to schema backtest; HTML "
        "report under reports/backtest. See docs/backtesting.md."
    ),
)
def backtest_default_scorecard(
    context: dg.AssetExecutionContext, config: BacktestConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from orchestration.lib.backtest.leakage import dbt_leakage_check
    from orchestration.lib.backtest.report import write_report
    from orchestration.lib.backtest.run import run_backtest

    path = project_path(config.scorecard or scorecard_in_use())
    guard = (
        dbt_leakage_check(warehouse.warehouse_path, n_dates=config.leakage_dates)
        if config.leakage_dates
        else None
    )
    with warehouse.connect() as con:
        result = run_backtest(
            con,
            path,
            horizon=config.horizon,
            every=config.every,
            leakage_check=guard,
            n_boot=config.bootstrap,
            log=context.log.info,
        )
    report = write_report(result, PROJECT_ROOT / config.report_dir)
    m = result.metrics
    drift_warn = result.drift[result.drift["warn"]]
    return dg.MaterializeResult(
        metadata={
            "run_id": result.run_id,
            "scorecard": f"{result.card.name} {result.card.version}",
            "as_of_range": f"{result.dates[0]} to {result.dates[-1]} ({len(result.dates)} dates)",
            "horizon_days": result.horizon_days,
            "roc_auc": round(m["roc_auc"], 4),
            "pr_auc": round(m["pr_auc"], 4),
            "base_rate": round(m["base_rate"], 4),
            "top_decile_lift": round(m["top_decile_lift"], 3),
            "top_decile_precision": round(m["top_decile_precision"], 4),
            "top_decile_recall": round(m["top_decile_recall"], 4),
            "bands_monotone": result.monotone,
            "bands": dg.MetadataValue.md(result.bands.to_markdown(index=False)),
            "psi_warnings": dg.MetadataValue.json({r.name: round(r.psi, 3) for r in drift_warn.itertuples()}),
            "leakage_guard": str(result.leakage) if result.leakage is not None else "skipped",
            "report": dg.MetadataValue.path(str(report)),
            "dagster/row_count": len(result.labelled),
            "seconds": round(result.timings.get("total", 0.0), 2),
        }
    )
