"""One landing file into a DuckDB stage table (CSV, Parquet, JSON Lines, or through a source
mapping), and the SQL that checks each staged row against the contract: the reason a row is
quarantined, or none."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.lib.contracts.sources import CONTRACTS, SourceContract
from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.ingest.mapping import (
    MappedBatch,
    mapping_select,
)
from orchestration.lib.ingest.sql_checks import check_select
from orchestration.lib.quality.policy import VALIDITY_ERROR_COLUMNS, reference_time
from orchestration.lib.quality.rules import CROSS_FIELD_RULES

# A record dated after now (or after the end of HEALTHSCORE_REFERENCE_DATE) by more than this is
# quarantined as dated in the future: it would move the as_of range past today. One day covers
# clocks and time zones (a local timestamp written as UTC is at most 14 hours ahead).
FUTURE_TOLERANCE = timedelta(days=1)
# Longest CSV line the reader accepts (DuckDB's default is 2 MB; a 5 MB ticket body is real).
MAX_CSV_LINE_BYTES = 64 * 1024 * 1024


class IngestError(Exception):
    """A landing file (or source) that cannot be loaded at all."""


def duckdb_reason(exc: BaseException, limit: int = 1500) -> str:
    """DuckDB's whole message on one line: the reason and its hints, without the echoed SQL
    statement, the reader's option dump and long data lines."""
    lines = []
    for line in str(exc).strip().splitlines():
        if re.match(r"^LINE \d+:", line):  # the echoed SQL statement follows
            break
        text = line.strip()
        if not text or re.match(r"^[a-z_]+ = ", text) or set(text) <= {"^", " "}:
            continue
        lines.append(text if len(text) <= 200 else text[:197] + "...")
    reason = " / ".join(lines)
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _relative(path: Path, landing_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(landing_dir).resolve()))
    except ValueError:
        return str(path)


def _csv_encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(2)
    return "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8"


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, stage: str) -> None:
    """A CSV file into `stage`; every line the reader rejects into `{stage}_rejects` with
    DuckDB's reason (store_rejects), so that one malformed line quarantines one row."""
    p = quote_literal(str(path))
    for suffix in ("_errors", "_scans"):
        con.execute(f"drop table if exists {stage}{suffix}")
    # all_varchar: parsing to contract types happens later, row by row
    relation = (
        f"read_csv({p}, header = true, all_varchar = true, encoding = '{_csv_encoding(path)}', "
        f"max_line_size = {MAX_CSV_LINE_BYTES}, store_rejects = true, "
        f"rejects_table = '{stage}_errors', rejects_scan = '{stage}_scans')"
    )
    con.execute(
        f"create or replace temp table {stage}_read as select row_number() over () as __good, * from {relation}"
    )
    # One row per rejected line. The reader numbers records with the header as line 1; a line
    # with several errors (one per missing field) keeps each kind once, its first message.
    con.execute(
        f"""create or replace temp table {stage}_rejects as
        with kinds as (
            select line, error_type, arg_min(error_message, column_idx) as message,
                arg_min(column_name, column_idx) as column_name, min(csv_line) as csv_line
            from {stage}_errors group by line, error_type
        )
        select line - 1 as __row_number,
            case when count(*) = 1 and min(error_type) in ('INVALID ENCODING', 'CAST ERROR')
                then coalesce(min(column_name), '(line)') else '(line)' end as column_name,
            'line not readable as CSV: ' || string_agg(error_type || ': ' || message, '; ' order by error_type)
                as reason,
            min(csv_line) as raw_values
        from kinds group by line"""
    )
    # A good row's data row number: its rank among the good rows plus the rejected lines before it.
    con.execute(
        f"""create or replace temp table {stage} as
        with rejected as (
            select __row_number - row_number() over (order by __row_number) as good_before from {stage}_rejects
        )
        select r.__good + (select count(*) from rejected where rejected.good_before < r.__good) as __row_number,
            r.* exclude (__good)
        from {stage}_read as r order by r.__good"""
    )
    for suffix in ("_read", "_errors", "_scans"):
        con.execute(f"drop table if exists {stage}{suffix}")


def _stage_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, stage: str) -> dict[str, str]:
    """Read a file into a temp table `stage` with a 1-based `__row_number`, and the lines that
    cannot be read as rows into `{stage}_rejects` (__row_number, column_name, reason, raw_values).

    Returns {lower-cased column name: actual column name}.
    """
    p = quote_literal(str(path))
    if path.stat().st_size == 0:
        raise IngestError("the file is empty (0 bytes: no header, no rows)")
    con.execute(
        f"create or replace temp table {stage}_rejects (__row_number bigint, column_name varchar, "
        "reason varchar, raw_values varchar)"
    )
    if fmt == "csv":
        _stage_csv(con, path, stage)
        sql = None
    elif fmt == "parquet":
        sql = (
            f"create or replace temp table {stage} as select file_row_number + 1 as __row_number, "
            f"* exclude (file_row_number) from read_parquet({p}, file_row_number = true)"
        )
    elif fmt == "jsonl":
        # Each line as text first, so that a line that is not a JSON object is quarantined alone.
        lines = (
            f"read_csv({p}, columns = {{'line': 'varchar'}}, header = false, delim = '\x1e', quote = '', "
            f"escape = '', auto_detect = false, max_line_size = {MAX_CSV_LINE_BYTES})"
        )
        con.execute(
            f"create or replace temp table {stage}_lines as "
            f"select row_number() over () as __row_number, line from {lines} where trim(line) <> ''"
        )
        con.execute(
            f"insert into {stage}_rejects select __row_number, '(line)', "
            "'line not readable as JSON Lines: ' || case when json_valid(line) then 'a JSON ' || "
            "lower(json_type(line)) || ', not an object' else 'not valid JSON' end, line "
            f"from {stage}_lines where coalesce(case when json_valid(line) then json_type(line) end, '') <> 'OBJECT'"
        )
        con.execute(
            f"create or replace temp table {stage}_json as select __row_number, "
            "case when json_valid(line) then cast(line as json) end as json "
            f"from {stage}_lines where __row_number not in (select __row_number from {stage}_rejects)"
        )
        con.execute(f"drop table {stage}_lines")
        keys = [
            r[0]
            for r in con.execute(
                f"select distinct unnest(json_keys(json)) from {stage}_json order by 1"
            ).fetchall()
        ]
        select = ", ".join(f"json ->> {quote_literal(k)} as {quote_ident(k)}" for k in keys)
        sql = f"create or replace temp table {stage} as select __row_number{', ' + select if select else ''} from {stage}_json"
    else:  # pragma: no cover - FORMATS guards this
        raise IngestError(f"unsupported format {fmt}")
    if sql:
        con.execute(sql)
    names = [r[0] for r in con.execute(f"select * from {stage} limit 0").description]
    return {n.strip().lower(): n for n in names if n != "__row_number"}


def _validation_sql(
    contract: SourceContract, columns: dict[str, str], stage: str, *, mapped: bool = False
) -> str:
    """A query over the staged file: typed contract columns plus a list of violations per row.

    `mapped`: the stage comes from `mapping_select`; its `__raw_values` (the user's columns) and
    `__map_violations` (dates not matching their format) are kept."""
    typed, checks, raw_values = [], [], []
    for col in contract.columns:
        actual = columns.get(col.name.lower())
        src = quote_ident(actual) if actual else "null"
        text = f"nullif(trim(cast({src} as varchar)), '')"
        target = col.type
        raw_values.append(f"{quote_literal(col.name)}: cast({src} as varchar)")
        if col.allowed_values:
            # Canonicalise case ('smb' -> 'SMB'); anything else is a violation.
            whens = " ".join(
                f"when {quote_literal(v.lower())} then {quote_literal(v)}" for v in col.allowed_values
            )
            value = f"case lower({text}) {whens} end"
            checks.append(
                f"case when {text} is not null and ({value}) is null then "
                f"{{'column': {quote_literal(col.name)}, 'reason': 'value ' || {text} || ' is not one of "
                f"{', '.join(col.allowed_values)}'}} end"
            )
        elif target == "varchar":
            value = text
        else:
            value = f"try_cast({text} as {target})"
            checks.append(
                f"case when {text} is not null and {value} is null then "
                f"{{'column': {quote_literal(col.name)}, 'reason': 'cannot parse ' || {text} || ' as {target}'}} end"
            )
        if col.required:
            checks.append(
                f"case when {text} is null then "
                f"{{'column': {quote_literal(col.name)}, 'reason': 'required value is missing'}} end"
            )
        typed.append(f"{value} as {quote_ident(col.name)}")
    violations = f"list_filter([{', '.join(checks)}], lambda x: x is not null)" if checks else "[]"
    raw = f"cast(to_json({{{', '.join(raw_values)}}}) as varchar)"
    if mapped:
        # A date that does not match its format is reported once, not again as "missing".
        own = f"list_filter({violations}, lambda x: not list_contains(list_transform(__map_violations, lambda m: m.column), x.column))"
        violations, raw = f"list_concat(__map_violations, {own})", "__raw_values"
    return (
        f"select __row_number, {', '.join(typed)}, {violations} as __violations, "
        f"{raw} as __raw_values from {stage}"
    )


def _number(value: float) -> str:
    return f"{value:g}"


def _row_rule_checks(contract: SourceContract, future_cutoff: datetime) -> list[str]:
    """Violations decided on the typed row (`{stage}_checked`), each a {column, reason} struct
    or null: ranges of the columns where a bad value corrupts scores, error-severity cross-field
    rules (both from the quality policy, so the gates and the loader agree), and dates in the
    future. Such a row never loads, so it cannot block a run at the quality gates."""
    checks = []
    for col in contract.columns:
        if (contract.name, col.name) not in VALIDITY_ERROR_COLUMNS:
            continue
        c, name = quote_ident(col.name), quote_literal(col.name)
        if col.min_value is not None:
            checks.append(
                f"case when {c} < {col.min_value!r} then {{'column': {name}, 'reason': 'value ' || "
                f"cast({c} as varchar) || ' is below the minimum {_number(col.min_value)}'}} end"
            )
        if col.max_value is not None:
            checks.append(
                f"case when {c} > {col.max_value!r} then {{'column': {name}, 'reason': 'value ' || "
                f"cast({c} as varchar) || ' is above the maximum {_number(col.max_value)}'}} end"
            )
    for rule in CROSS_FIELD_RULES.get(contract.name, ()):
        if rule.severity != "error":
            continue
        checks.append(
            f"case when not coalesce(({rule.ok}), true) then {{'column': {quote_literal(', '.join(rule.columns))}, "
            f"'reason': {quote_literal(f'{rule.name}: {rule.description}')}}} end"
        )
    if not contract.dated_ahead:
        cutoff = quote_literal(future_cutoff.isoformat(sep=" ", timespec="seconds"))
        dated = [(contract.known_at, contract.freshness_column)]
        if contract.known_at != contract.freshness_column:
            dated.append((quote_ident(contract.freshness_column), contract.freshness_column))
        for expression, column in dated:
            checks.append(
                f"case when cast({expression} as timestamp) > cast({cutoff} as timestamp) then "
                f"{{'column': {quote_literal(column)}, 'reason': 'dated in the future: ' || "
                f"cast({expression} as varchar) || ' is after {future_cutoff:%Y-%m-%d %H:%M} UTC (now or the "
                f"reference date, plus {FUTURE_TOLERANCE.days} day)'}} end"
            )
    return checks


def future_cutoff(now: datetime) -> datetime:
    """Records dated after this are quarantined as dated in the future."""
    reference = reference_time()
    return min(now, reference) + FUTURE_TOLERANCE if reference is not None else now + FUTURE_TOLERANCE


def _stage_mapped(
    con: duckdb.DuckDBPyConnection, batch: MappedBatch, stage: str
) -> tuple[dict[str, str], str]:
    """Stage every input of a mapped batch, run the mapping's query, project onto the contract.

    Returns {column: column} for the contract columns (all present: unmapped ones are null) and
    the relation holding the user's own columns (attributes are read from it)."""
    loaded = batch.mapping
    for name, path in batch.files.items():
        _stage_file(con, path, loaded.format_of(path), f"{stage}_in_{name}")
        con.execute(f"create or replace temp view {quote_ident(name)} as select * from {stage}_in_{name}")
        if name != batch.main_name:
            bad = con.execute(
                f"select __row_number, reason from {stage}_in_{name}_rejects limit 1"
            ).fetchone()
            if bad is not None:  # a lookup missing a line would silently blank the rows it maps
                raise IngestError(f"lookup input {name!r} ({path}): row {bad[0]}: {bad[1]}")
    con.execute(
        f"create or replace temp table {stage}_rejects as select * from {stage}_in_{batch.main_name}_rejects"
    )
    relation = f"{stage}_in_{batch.main_name}"
    if loaded.mapping.query:
        try:
            check_select(loaded.mapping.query)
        except ValueError as exc:  # parse_mapping checked it already; never run anything else
            raise IngestError(f"mapping {loaded.path}: query {exc}") from None
        con.execute(f"create or replace temp table {stage}_src as {loaded.mapping.query}")
        names = [d[0] for d in con.execute(f"select * from {stage}_src limit 0").description]
        counts = con.execute(
            f"select (select count(*) from {relation}), count(*), count(distinct __row_number) from {stage}_src"
            if "__row_number" in names
            else f"select (select count(*) from {relation}), count(*), -1 from {stage}_src"
        ).fetchone()
        if not counts[0] == counts[1] == counts[2]:
            raise IngestError(
                f"the query of mapping {loaded.path} must return each row of input {batch.main_name!r} once "
                f"(select {batch.main_name}.*, ... with left joins to lookups unique on their key): "
                f"{counts[0]} input rows, {counts[1]} query rows"
            )
        relation = f"{stage}_src"
    for name in batch.files:
        con.execute(f"drop view if exists {quote_ident(name)}")
    names = [d[0] for d in con.execute(f"select * from {relation} limit 0").description]
    con.execute(f"create or replace temp table {stage} as " + mapping_select(loaded, relation, names))
    contract = CONTRACTS[loaded.source]
    return {c.lower(): c for c in contract.column_names}, relation
