"""`healthscore dq`: the data-quality review of one quality run, for humans.

Lists the failing checks of a run (the latest by default) with their failing sample, and the
quarantined rows by source, column and reason. Reads the published snapshot when there is one
(so it never waits for a running pipeline), else the warehouse file read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.tables import QUARANTINE_SUMMARY_SQL, existing_tables


@dataclass
class DqReport:
    source_file: Path
    run_id: str | None = None
    checked_at: object = None
    expectations: int = 0
    failed: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)

    @property
    def error_failures(self) -> list[dict]:
        return [f for f in self.failed if f["severity"] == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.error_failures else 0


def _latest_run(con: duckdb.DuckDBPyConnection) -> tuple[str, object] | None:
    return con.execute(
        "select run_id, max(checked_at) from quality.check_results group by run_id order by max(checked_at) desc limit 1"
    ).fetchone()


def review(path: Path | str, run_id: str | None = None, source: str | None = None) -> DqReport:
    """Failing checks of `run_id` (default: the latest run) and quarantined rows, optionally one source."""
    report = DqReport(source_file=Path(path))
    with connect(path, read_only=True) as con:
        tables = existing_tables(con)
        if "quality.check_results" in tables:
            if run_id is None:
                latest = _latest_run(con)
                run_id = latest[0] if latest else None
            report.run_id = run_id
            if run_id is not None:
                where, params = "run_id = ?", [run_id]
                if source:
                    where, params = where + " and source = ?", params + [source]
                stats = con.execute(
                    f"select count(*), max(checked_at) from quality.check_results where {where}", params
                ).fetchone()
                report.expectations, report.checked_at = stats
                cursor = con.execute(
                    f"""select severity, source, category, check_name, expectation, column_name,
                           observed_value, unexpected_count, failing_sample
                    from quality.check_results where {where} and not passed
                    order by case severity when 'error' then 0 else 1 end, source, check_name""",
                    params,
                )
                names = [d[0] for d in cursor.description]
                report.failed = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if "raw._quarantine" in tables:
            where, params = ("where source = ?", [source]) if source else ("", [])
            cursor = con.execute(
                f"""select s.*, (select raw_values from raw._quarantine q
                        where q.source = s.source and q.column_name = s.column_name and q.reason = s.reason
                        order by q.row_number limit 1) as example_values
                from ({QUARANTINE_SUMMARY_SQL}) s {where}
                order by source, rows_quarantined desc, column_name, reason""",
                params,
            )
            names = [d[0] for d in cursor.description]
            report.quarantine = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return report


def _sample(text: str | None, width: int = 110) -> str:
    if not text:
        return ""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if value in ([], None, ""):
        return ""
    out = json.dumps(value, default=str) if not isinstance(value, str) else value
    return out if len(out) <= width else out[: width - 3] + "..."


def format_report(report: DqReport) -> str:
    lines = [f"Data-quality review of {report.source_file}"]
    if report.run_id is None:
        lines.append("No quality results (quality.check_results is missing or empty).")
    else:
        lines.append(
            f"Quality run {report.run_id} at {report.checked_at}: {report.expectations} expectations, "
            f"{len(report.failed)} failed ({len(report.error_failures)} with error severity)"
        )
        by_source: dict[str, list[dict]] = {}
        for f in report.failed:
            by_source.setdefault(f["source"], []).append(f)
        for src, failures in by_source.items():
            lines.append(f"  {src}")
            for f in failures:
                unexpected = "-" if f["unexpected_count"] is None else f"{f['unexpected_count']:,}"
                lines.append(
                    f"    [{f['severity']}] {f['check_name']}: observed {f['observed_value']}, unexpected {unexpected}"
                )
                sample = _sample(f["failing_sample"])
                if sample:
                    lines.append(f"        sample: {sample}")
    total = sum(q["rows_quarantined"] for q in report.quarantine)
    lines.append(f"Quarantined rows (raw._quarantine): {total:,}")
    current = None
    for q in report.quarantine:
        if q["source"] != current:
            current = q["source"]
            lines.append(f"  {current}")
        lines.append(f"    {q['rows_quarantined']:>6,}  {q['column_name']}: {q['reason']}")
        example = _sample(q.get("example_values"), 100)
        if example:
            lines.append(f"            e.g. {example}")
    if report.error_failures:
        lines.append("RESULT: error-severity checks failed (exit status 1).")
    else:
        lines.append("RESULT: no error-severity check failed.")
    return "\n".join(lines)
