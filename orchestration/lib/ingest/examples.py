"""Worked examples on real data: `healthscore run --example <name>` (examples/<name>/).

An example folder holds one mapping per source (docs/bring-your-own-data.md) and `example.yml`:
the reference date its staleness is measured against (the data's own last day), the folder for
its warehouse, and the backtest settings. Running it: the environment is pointed at the
example, every mapping is checked up front, the normal pipeline runs (ingest -> gates -> dbt ->
scoring), then the scorecard is backtested on the example's history.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestration.lib.ingest.mapping import MAPPINGS_DIR_ENV, check_mappings_dir
from orchestration.lib.quality.policy import REFERENCE_DATE_ENV
from orchestration.lib.settings import PROJECT_ROOT

EXAMPLES_DIR = PROJECT_ROOT / "examples"


@dataclass(frozen=True)
class Example:
    name: str
    folder: Path
    reference_date: dt.date
    data_dir: Path
    horizon: str = "90d"
    every: str = "14d"
    partitions_start: dt.date = dt.date(2023, 1, 1)


def load_example(name: str) -> Example:
    folder = EXAMPLES_DIR / name
    config = folder / "example.yml"
    if not config.is_file():
        known = sorted(p.name for p in EXAMPLES_DIR.iterdir() if (p / "example.yml").is_file())
        raise ValueError(f"no example {name!r} ({config} missing); examples: {', '.join(known) or 'none'}")
    data = yaml.safe_load(config.read_text()) or {}
    backtest = data.get("backtest") or {}
    ref = data["reference_date"]
    return Example(
        name=name,
        folder=folder,
        reference_date=ref if isinstance(ref, dt.date) else dt.date.fromisoformat(str(ref)),
        # HEALTHSCORE_EXAMPLE_DATA_DIR moves it (tests run the example in a temporary folder).
        # Absolute: Dagster requires an absolute DAGSTER_HOME (a relative one is taken from the
        # current directory, as a shell user means it).
        data_dir=Path(
            os.environ.get("HEALTHSCORE_EXAMPLE_DATA_DIR")
            or PROJECT_ROOT / data.get("data_dir", f"data/{name}")
        ).resolve(),
        horizon=str(backtest.get("horizon", "90d")),
        every=str(backtest.get("every", "14d")),
        partitions_start=dt.date.fromisoformat(str(data.get("partitions_start", "2023-01-01"))),
    )


def apply_example(name: str, say: Callable[[str], None] = print) -> Example:
    """Point this process's environment at the example and check its mappings (fails before any load)."""
    example = load_example(name)
    os.environ[MAPPINGS_DIR_ENV] = str(example.folder)
    os.environ[REFERENCE_DATE_ENV] = example.reference_date.isoformat()
    os.environ["HEALTHSCORE_DATA_DIR"] = str(example.data_dir)
    # Its own run history too: the demo's asset pages must not show the example's runs.
    os.environ["DAGSTER_HOME"] = str(example.data_dir / ".dagster_home")
    # Scoring is partitioned by as_of day: the example scores its reference date's partition.
    os.environ["HEALTHSCORE_PARTITIONS_START"] = example.partitions_start.isoformat()
    # An explicit warehouse or landing setting would mix the example with other data.
    os.environ.pop("HEALTHSCORE_WAREHOUSE", None)
    os.environ.pop("HEALTHSCORE_LANDING_DIR", None)
    mappings = check_mappings_dir(example.folder)
    say(
        f"Example {name}: {len(mappings)} mappings checked ({', '.join(sorted(mappings))}); "
        f"reference date {example.reference_date}; warehouse under {example.data_dir}"
    )
    return example


def backtest_example(
    example: Example, warehouse: Path, say: Callable[[str], None] = print
) -> dict[str, float]:
    """Backtest the default scorecard on the example's history (point in time, churn in the next
    horizon), plus the concurrent AUC against the CRM churn flag on the last day (not predictive:
    a score built after the churn describes it). Returns the figures."""
    import numpy as np

    from orchestration.lib.backtest.metrics import auc_weighted
    from orchestration.lib.backtest.run import run_backtest
    from orchestration.lib.engines.warehouse import connect
    from orchestration.lib.scoring.scorecard import scorecard_in_use
    from orchestration.lib.settings import project_path

    with connect(warehouse) as con:
        result = run_backtest(
            con,
            project_path(scorecard_in_use()),
            horizon=example.horizon,
            every=example.every,
            n_boot=200,
            write_tables=True,
            log=say,
        )
        m = result.metrics
        figures = {
            "backtest_roc_auc": float(m["roc_auc"]),
            "backtest_pr_auc": float(m["pr_auc"]),
            "backtest_base_rate": float(m["base_rate"]),
            "backtest_rows": float(len(result.labelled)),
            "backtest_dates": float(len(result.dates)),
        }
        flag = con.execute(
            """select s.account_id, 100 - s.health_score as risk, lower(e.value) = 'true' as flagged
            from scores.health_scores_current as s
            join raw._mapped_extras as e
                on e.record_id = s.account_id and e.source = 'accounts' and e.name = 'churn_flag'
            where s.objective = 'retention_risk' and s.health_score is not null"""
        ).fetchall()
    if flag:
        risk = np.array([r[1] for r in flag], dtype=float)
        flagged = np.array([r[2] for r in flag], dtype=bool)
        figures["snapshot_auc_vs_churn_flag"] = float(auc_weighted(risk, flagged))
    say("")
    say(
        f"Backtest ({example.name}): ROC AUC {figures['backtest_roc_auc']:.3f}, PR AUC "
        f"{figures['backtest_pr_auc']:.3f} (base rate {figures['backtest_base_rate']:.3f}) over "
        f"{int(figures['backtest_rows']):,} account-dates on {int(figures['backtest_dates'])} as_of dates, "
        f"label: {result.label_words}"
    )
    if "snapshot_auc_vs_churn_flag" in figures:
        say(
            f"Snapshot on {example.reference_date} vs accounts.churn_flag: AUC "
            f"{figures['snapshot_auc_vs_churn_flag']:.3f} (concurrent, not a prediction: see "
            "docs/bring-your-own-data.md)"
        )
    if figures["backtest_roc_auc"] > 0.6:
        say("WARNING: backtest AUC above 0.6 on data documented to carry little signal: check for leakage.")
    return figures
