"""`healthscore summary`: the summary of the published scores (also printed after a run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.cli.common import _readable_warehouse, _say
from orchestration.lib.settings import Settings


def print_summary(settings: Settings, run_id: str | None = None, dagster_home: Path | None = None) -> None:
    from orchestration.lib.engines.warehouse import connect

    path = _readable_warehouse(settings)
    _say("")
    _say("=" * 78)
    if not path.exists():
        _say(f"No warehouse at {path} yet: run `make run`.")
        return
    with connect(path, read_only=True) as con:
        has = {
            r[0] + "." + r[1]
            for r in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        }
        if "scores.health_scores_current" in has:
            run = con.execute(
                """select score_version, scorecard_name, scorecard_version, as_of_end, accounts_scored, run_id
                from scores.score_runs order by score_version desc limit 1"""
            ).fetchone()
            if run:
                _say(
                    f"Published scores: version {run[0]} (scorecard {run[1]} {run[2]}), as of {run[3]}, "
                    f"{run[4]:,} accounts scored"
                )
                grades = con.execute(
                    """select grade, count(*) from scores.health_scores_current
                    where objective = 'retention_risk' group by grade
                    order by case grade when 'red' then 1 when 'yellow' then 2 when 'green' then 3
                    when 'insufficient_data' then 4 else 5 end"""
                ).fetchall()
                total = sum(n for _, n in grades) or 1
                _say("Retention health grades:")
                for grade, n in grades:
                    _say(f"  {grade:<18}{n:6,}  {100 * n / total:5.1f}%  {'#' * round(40 * n / total)}")
                _say("10 most at-risk accounts (retention health, lowest first):")
                rows = con.execute(
                    """select account_id, segment, round(health_score, 1), grade, round(confidence, 2),
                        coalesce(top_reasons, '')
                    from scores.health_scores_current
                    where objective = 'retention_risk' and grade not in ('churned', 'insufficient_data')
                    order by health_score asc nulls last, account_id limit 10"""
                ).fetchall()
                for acc, seg, score, grade, conf, reasons in rows:
                    _say(f"  {acc:<12}{seg or '':<12}{score:6.1f} {grade:<7} conf {conf:.2f}  {reasons[:90]}")
        else:
            _say("No scores published yet.")
        if "raw._load_batches" in has:
            q = con.execute(
                "select sum(rows_loaded), sum(rows_quarantined), count(*) from raw._load_batches"
            ).fetchone()
            _say(
                f"Raw rows loaded: {q[0] or 0:,} from {q[2]} files; quarantined: {q[1] or 0:,} (raw._quarantine)"
            )
        if "quality.check_results" in has:
            where = (
                "where run_id = ?"
                if run_id
                else "where run_id = (select max_by(run_id, checked_at) from quality.check_results)"
            )
            failed = con.execute(
                f"""select severity, check_name, unexpected_count
                from quality.check_results {where} and not passed
                order by case severity when 'error' then 0 else 1 end, source, category""",
                [run_id] if run_id else [],
            ).fetchall()
            _say(f"Failed quality checks this run: {len(failed)}")
            for sev, check_name, n in failed[:15]:
                _say(f"  [{sev}] {check_name} ({n if n is not None else '-'} unexpected)")
            if len(failed) > 15:
                _say(f"  ... and {len(failed) - 15} more: select * from quality.check_results")
    _say(f"Warehouse: {path}")
    _say(
        "Open it read-only:  .venv/bin/python -c \"import duckdb; duckdb.connect('"
        + str(path)
        + "', read_only=True)\""
    )
    _say("Dagster UI:         make dev   (then http://127.0.0.1:3000)")
    if dagster_home:
        _say(f"Run history:        DAGSTER_HOME={dagster_home}")
    _say("=" * 78)


def cmd_summary(_args: argparse.Namespace) -> int:
    print_summary(Settings.from_env())
    return 0
