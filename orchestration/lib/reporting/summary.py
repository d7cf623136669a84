"""The run summary: what `healthscore run` prints at the end and `healthscore summary` prints alone.

Plain text for a terminal, built from one DuckDB file (the warehouse or the published snapshot)
read-only. Everything it states is read from the tables it describes: the "as of" date is the
date of the scores it lists, the at-risk list is the accounts whose grade is worst (an override
can make an account red whatever its score), and the quality line says which failures block.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.reporting.at_risk import (
    OBJECTIVE,
    at_risk_accounts,
    current_relation,
    grade_counts,
    plural,
    table_names,
)

WIDTH = 100
RULE = "=" * WIDTH


@dataclass(frozen=True)
class Places:
    """Files and commands the summary points to (shown as given: pass them relative for short lines)."""

    source: Path  # the DuckDB file the summary was read from
    snapshot: Path | None = None  # the published snapshot, when there is one
    report: Path | None = None
    data_docs: Path | None = None
    dagster_home: Path | None = None
    log_file: Path | None = None  # the full log of the run just finished
    command: str = "healthscore"  # how the user runs the CLI (.venv/bin/healthscore from a checkout)
    ui_command: str = "make dev"  # opens the Dagster UI on this run history (an example's: EXAMPLE=...)


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.0f}"


def _scores_lines(con: duckdb.DuckDBPyConnection, tables: set[str], at_risk_n: int) -> list[str]:
    current = current_relation(tables)
    if current is None or "scores.score_runs" not in tables:
        return ["No scores published yet."]
    latest_run = con.execute(
        """select score_version, scorecard_name, scorecard_version, as_of_start, as_of_end
        from scores.score_runs order by score_version desc limit 1"""
    ).fetchone()
    if latest_run is None:
        return ["No scores published yet."]
    as_of = con.execute(
        f"""select min(as_of_date), max(as_of_date), count(distinct account_id),
               count(distinct score_version), max(score_version),
               count(*) filter (where as_of_date = (select max(as_of_date) from {current} where objective = ?))
        from {current} where objective = ?""",
        [OBJECTIVE, OBJECTIVE],
    ).fetchone()
    first, last, accounts, n_versions, newest_version, on_last = as_of
    version, card, card_version, run_start, run_end = latest_run
    lines = []
    when = f"as of {last}" if first == last else f"as of {last} ({on_last:,} accounts; the oldest {first})"
    lines.append(
        f"Current scores {when}: {plural(accounts, 'account')}, retention health, scorecard {card} {card_version}"
    )
    scored = f"{run_start}" if run_start == run_end else f"{run_start} to {run_end}"
    if run_end is not None and last is not None and run_end < last:
        note = (
            f"The latest run (score version {version}) was a backfill: it scored {scored} and restated that "
            f"history (bi.fct_health_scores); the current scores below are still those of {last} "
            f"(score version {newest_version})."
        )
    else:
        note = f"Score version {newest_version}; the latest run scored {scored}."
    lines.extend(textwrap.wrap(note, WIDTH, initial_indent="  ", subsequent_indent="  "))
    grades = grade_counts(con, current)
    total = sum(grades.values()) or 1
    lines.append("Grades:")
    for grade, n in grades.items():
        lines.append(f"  {grade:<18}{n:7,}  {100 * n / total:5.1f}%  {'#' * round(40 * n / total)}")
    rows = at_risk_accounts(con, current, at_risk_n)
    if rows:
        lines.append(f"{len(rows)} most at-risk accounts (red first, then the lowest score):")
        lines.append(f"  {'account':<12}{'name':<28}{'segment':<12}{'ARR':>10}{'score':>7}  {'grade':<7}conf")
        for r in rows:
            score = "-" if r["health_score"] is None else f"{r['health_score']:.1f}"
            lines.append(
                f"  {r['account_id']:<12}{(r['account_name'] or '')[:27]:<28}{(r['segment'] or '')[:11]:<12}"
                f"{_money(r['arr']):>10}{score:>7}  {r['grade']:<7}{r['confidence']:.2f}"
            )
            if r["override_action"]:
                why = f": {r['override_reason']}" if r["override_reason"] else ""
                lines.extend(
                    textwrap.wrap(
                        f"override {r['override_action']} (the scorecard computed {r['computed_label']}){why}",
                        WIDTH,
                        initial_indent="      ",
                        subsequent_indent="        ",
                    )
                )
            if r["top_reasons"]:
                lines.extend(
                    textwrap.wrap(
                        r["top_reasons"], WIDTH, initial_indent="      ", subsequent_indent="        "
                    )
                )
    return lines


def _quality_lines(
    con: duckdb.DuckDBPyConnection, tables: set[str], run_id: str | None, command: str
) -> list[str]:
    lines: list[str] = []
    if "raw._load_batches" in tables:
        loaded, quarantined, files = con.execute(
            "select sum(rows_loaded), sum(rows_quarantined), count(*) from raw._load_batches"
        ).fetchone()
        lines.append(
            f"Raw rows loaded: {loaded or 0:,} from {plural(files, 'file')}; set aside: "
            f"{plural(quarantined or 0, 'row')} (raw._quarantine, with file and row number)"
        )
    if "quality.check_results" not in tables:
        return lines
    if run_id is None:
        row = con.execute(
            "select run_id from quality.check_results group by run_id order by max(checked_at) desc limit 1"
        ).fetchone()
        run_id = row[0] if row else None
    if run_id is None:
        return lines
    evaluated, errors, warnings = con.execute(
        """select count(*), count(*) filter (where not passed and severity = 'error'),
               count(*) filter (where not passed and severity <> 'error')
        from quality.check_results where run_id = ?""",
        [run_id],
    ).fetchone()
    if evaluated == 0:
        lines.append(f"No quality results for run {run_id}.")
        return lines
    if errors:
        verdict = (
            f"{plural(errors, 'error')} (blocking: scoring did not run, the published scores are the "
            f"previous ones), {plural(warnings, 'warning')}"
        )
    elif warnings:
        verdict = f"no errors; {plural(warnings, 'warning')} (not blocking: the rows were loaded and scored)"
    else:
        verdict = "all passed"
    lines.extend(
        textwrap.wrap(
            f"Quality checks this run: {evaluated:,} evaluated, {verdict}", WIDTH, subsequent_indent="  "
        )
    )
    failed = con.execute(
        """select severity, check_name, unexpected_count, rows_checked
        from quality.check_results where run_id = ? and not passed
        order by case severity when 'error' then 0 else 1 end, source, check_name""",
        [run_id],
    ).fetchall()
    for severity, check_name, unexpected, checked in failed[:12]:
        label = "error" if severity == "error" else "warning"
        count = "" if unexpected is None else f": {plural(unexpected, 'row')}"
        of = f" of {checked:,} checked" if checked and unexpected is not None else ""
        lines.append(f"  [{label}] {check_name}{count}{of}")
    if len(failed) > 12:
        lines.append(f"  ... and {len(failed) - 12} more")
    if failed:
        lines.append(f"  Files, rows and a query per check: {command} dq")
    return lines


def _next_lines(places: Places) -> list[str]:
    cmd = places.command
    items: list[tuple[str, str]] = [("query the scores", f"{cmd} sql   (read-only; .tables lists them)")]
    if places.snapshot is not None:
        items.append(("snapshot", f"{places.snapshot}   (read-only copy for BI tools)"))
    if places.report is not None:
        items.append(("health report", str(places.report)))
    items.append(("data quality", f"{cmd} dq"))
    if places.data_docs is not None:
        items.append(("Data Docs", str(places.data_docs)))
    items.append(("Dagster UI", f"{places.ui_command}, then http://127.0.0.1:3000"))
    if places.dagster_home is not None:
        items.append(("run history", f"DAGSTER_HOME={places.dagster_home}"))
    if places.log_file is not None:
        items.append(("full log", str(places.log_file)))
    return ["Next:"] + [f"  {label:<18}{what}" for label, what in items]


def summary_text(
    con: duckdb.DuckDBPyConnection,
    places: Places,
    *,
    quality_run_id: str | None = None,
    at_risk_n: int = 10,
) -> str:
    """The summary of one DuckDB file (warehouse or snapshot) as printed by the CLI."""
    tables = table_names(con)
    lines = [RULE, f"Read from {places.source}"]
    lines += _scores_lines(con, tables, at_risk_n)
    lines += _quality_lines(con, tables, quality_run_id, places.command)
    lines += _next_lines(places)
    lines.append(RULE)
    return "\n".join(lines)
