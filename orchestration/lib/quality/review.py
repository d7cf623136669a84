"""`healthscore dq`: the data-quality review of one quality run, for humans.

For each failing check of a run (the latest by default): its severity and what that means for
the scores (an error stops scoring; a warning's rows were loaded and scored anyway), how many
rows failed out of how many checked, the whole failing sample, and a query that returns the
failing rows of the raw table with their file, row number and load batch. Then the rows the
loader set aside (raw._quarantine) by source, column and reason, with their files and row
numbers, an example and the query that lists them. Reads the published snapshot when there is
one (so it never waits for a running pipeline), else the warehouse file read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.tables import QUARANTINE_SUMMARY_SQL, existing_tables
from orchestration.lib.quality.suites import SUITES_DIR

ROW_NUMBERS_SHOWN = 12  # row numbers listed per file and reason (the query lists them all)


class UnknownSourceError(ValueError):
    """`--source` names no source of the contracts."""


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


def suite_expectations(source: str) -> dict[str, dict[str, Any]]:
    path = SUITES_DIR / f"{source}.json"
    if not path.exists():
        return {}
    return {e["meta"]["check_name"]: e for e in json.loads(path.read_text()).get("expectations", [])}


def failing_rows_query(source: str, expectation: dict[str, Any] | None) -> str | None:
    """SQL returning the raw rows an expectation flags (whole table), with file, row and batch
    first; None for table-level expectations (row count, freshness), which flag no row."""
    if not expectation:
        return None
    table = f"raw.{quote_ident(source)}"
    kind, kwargs = expectation.get("type", ""), expectation.get("kwargs", {})
    column = quote_ident(kwargs["column"]) if kwargs.get("column") else None
    where = None
    if kind == "expect_column_values_to_not_be_null" and column:
        where = f"{column} is null"
    elif kind == "expect_column_values_to_be_in_set" and column:
        values = ", ".join(quote_literal(str(v)) for v in kwargs.get("value_set", []))
        where = f"{column} is not null and {column} not in ({values})"
    elif kind == "expect_column_values_to_be_between" and column:
        bounds = []
        if kwargs.get("min_value") is not None and not isinstance(kwargs["min_value"], dict):
            bounds.append(f"{column} {'<=' if kwargs.get('strict_min') else '<'} {kwargs['min_value']!r}")
        if kwargs.get("max_value") is not None and not isinstance(kwargs["max_value"], dict):
            bounds.append(f"{column} {'>=' if kwargs.get('strict_max') else '>'} {kwargs['max_value']!r}")
        where = " or ".join(bounds) or None
    elif kind == "unexpected_rows_expectation" and kwargs.get("unexpected_rows_query"):
        contract = CONTRACTS.get(source)
        if contract is None:
            return None
        meta = expectation.get("meta", {})
        pk = quote_ident(contract.primary_key)
        ref = contract.column(meta["column"]).references if meta.get("column") else None
        if meta.get("category") == "uniqueness":
            # a key twice in the same load (file); across loads a key repeats by design
            where = (
                f"(_batch_id, {pk}) in (select _batch_id, {pk} from {table} where {pk} is not null "
                f"group by _batch_id, {pk} having count(*) > 1)"
            )
        elif ref and ".no_orphans." in meta.get("check_name", "") and ref in CONTRACTS:
            col, ref_pk = quote_ident(meta["column"]), quote_ident(CONTRACTS[ref].primary_key)
            where = (
                f"{col} is not null and {col} not in "
                f"(select {ref_pk} from raw.{quote_ident(ref)} where {ref_pk} is not null)"
            )
        else:  # the expectation's own query over the whole table; its first column is the key
            flagged = kwargs["unexpected_rows_query"].replace("{batch}", f"(select * from {table})")
            where = f"{pk} in (select #1 from ({flagged}) as flagged)"
    if where is None:
        return None
    return (
        f"select _source_file, _row_number, _batch_id, * exclude (_source_file, _row_number, _batch_id) "
        f"from {table} where {where} order by _source_file, _row_number"
    )


def review(path: Path | str, run_id: str | None = None, source: str | None = None) -> DqReport:
    """Failing checks of `run_id` (default: the latest run) and quarantined rows, optionally one source."""
    if source is not None and source not in CONTRACTS:
        raise UnknownSourceError(f"no source {source!r}; the sources are: {', '.join(sorted(CONTRACTS))}")
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
                           observed_value, unexpected_count, rows_checked, failing_sample
                    from quality.check_results where {where} and not passed
                    order by case severity when 'error' then 0 else 1 end, source, check_name""",
                    params,
                )
                names = [d[0] for d in cursor.description]
                report.failed = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                suites: dict[str, dict[str, dict[str, Any]]] = {}
                for f in report.failed:
                    suite = suites.setdefault(f["source"], suite_expectations(f["source"]))
                    spec = suite.get(f["check_name"])
                    f["description"] = (spec or {}).get("description", "")
                    f["query"] = failing_rows_query(f["source"], spec)
        if "raw._quarantine" in tables:
            where, params = ("where source = ?", [source]) if source else ("", [])
            cursor = con.execute(
                f"""select s.*,
                    (select raw_values from raw._quarantine q
                        where q.source = s.source and q.column_name = s.column_name and q.reason = s.reason
                        order by q.source_file, q.row_number limit 1) as example_values,
                    (select string_agg(q.source_file || ' rows ' || q.row_numbers, '; ' order by q.source_file)
                        from (select source_file, count(*) as n,
                                string_agg(cast(row_number as varchar), ', ' order by row_number)
                                    filter (where rank <= {ROW_NUMBERS_SHOWN})
                                || case when count(*) > {ROW_NUMBERS_SHOWN}
                                    then ' and ' || (count(*) - {ROW_NUMBERS_SHOWN}) || ' more' else '' end
                                    as row_numbers
                            from (select *, row_number() over (
                                    partition by source, column_name, reason, source_file order by row_number) as rank
                                from raw._quarantine) r
                            where r.source = s.source and r.column_name = s.column_name and r.reason = s.reason
                            group by source_file) q) as locations
                from ({QUARANTINE_SUMMARY_SQL}) s {where}
                order by source, rows_quarantined desc, column_name, reason""",
                params,
            )
            names = [d[0] for d in cursor.description]
            report.quarantine = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            for q in report.quarantine:
                q["query"] = (
                    "select source_file, row_number, column_name, reason, raw_values from raw._quarantine "
                    f"where source = {quote_literal(q['source'])} and column_name = {quote_literal(q['column_name'])} "
                    f"and reason = {quote_literal(q['reason'])} order by source_file, row_number"
                )
    return report


def _sample_lines(text: str | None) -> list[str]:
    """Every sampled failing row or value, one JSON object per line (nothing cut)."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [text]
    if value in ([], None, ""):
        return []
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else json.dumps(item, default=str) for item in items]


def _count(n: int | None, checked: int | None) -> str:
    if n is None:
        return "table-level check"
    text = f"{n:,} row{'' if n == 1 else 's'} failed"
    if checked:
        text += f" of {checked:,} checked ({100 * n / checked:.2f}%)"
    return text


def _observed(f: dict) -> str:
    """The observed value when it says more than the count (a share, a date, a row count)."""
    observed = f["observed_value"]
    if observed is None or (
        f["unexpected_count"] is not None and str(observed) == str(f["unexpected_count"])
    ):
        return ""
    if f["expectation"].startswith("expect_column_values"):
        try:
            return f"; {float(observed):.2f}% of the column's values"
        except ValueError:
            pass
    return f"; observed {observed}"


def format_report(report: DqReport, warehouse: Path | None = None) -> str:
    """The review as text. `warehouse`: where the failing-rows queries run (raw.* is not in the snapshot)."""
    lines = [f"Data-quality review of {report.source_file}"]
    if report.run_id is None:
        lines.append("No quality results (quality.check_results is missing or empty).")
    else:
        warnings = len(report.failed) - len(report.error_failures)
        lines.append(
            f"Quality run {report.run_id} at {report.checked_at}: {report.expectations} expectations; failed: "
            f"{len(report.error_failures)} with error severity (they stop scoring), {warnings} with warning "
            "severity (not blocking: the flagged rows were loaded and are in the scores)"
        )
        by_source: dict[str, list[dict]] = {}
        for f in report.failed:
            by_source.setdefault(f["source"], []).append(f)
        for src, failures in by_source.items():
            lines.append(f"  {src}")
            for f in failures:
                label = "error" if f["severity"] == "error" else "warning"
                lines.append(f"    [{label}] {f['check_name']}")
                if f.get("description"):
                    lines.append(f"        {f['description']}")
                consequence = (
                    "blocking: the scores were not rebuilt from this source"
                    if f["severity"] == "error"
                    else "not blocking: these rows were loaded and scored anyway"
                )
                lines.append(
                    f"        {_count(f['unexpected_count'], f.get('rows_checked'))}{_observed(f)}; {consequence}"
                )
                sample = _sample_lines(f["failing_sample"])
                if sample:
                    shown = len(sample)
                    total = f["unexpected_count"]
                    of = f" of {total:,}" if total is not None and total > shown else ""
                    lines.append(f"        sample ({shown}{of}):")
                    lines.extend(f"          {item}" for item in sample)
                if f.get("query"):
                    lines.append("        the rows, with file, row number and batch (run on the warehouse):")
                    lines.append(f"          {f['query']};")
        if report.failed and warehouse is not None:
            lines.append(
                f'  Run a query with: healthscore sql --db {warehouse} "<query>"  (while no pipeline run writes)'
            )
    total = sum(q["rows_quarantined"] for q in report.quarantine)
    lines.append(f"Rows set aside by the loader (raw._quarantine, not loaded, not scored): {total:,}")
    current = None
    for q in report.quarantine:
        if q["source"] != current:
            current = q["source"]
            lines.append(f"  {current}")
        lines.append(f"    {q['rows_quarantined']:>6,}  {q['column_name']}: {q['reason']}")
        if q.get("locations"):
            lines.append(f"            in {q['locations']}")
        example = _sample_lines(q.get("example_values"))
        if example:
            lines.append(f"            e.g. {example[0]}")
        lines.append(f"            {q['query']};")
    if report.error_failures:
        lines.append("RESULT: error-severity checks failed (exit status 1).")
    else:
        lines.append("RESULT: no error-severity check failed.")
    return "\n".join(lines)
