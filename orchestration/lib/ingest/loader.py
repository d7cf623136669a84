"""Landing zone -> raw tables, inside the warehouse.

Rules (docs/sources.md):
- Files live under `<landing>/<source>/` as CSV (with a header), Parquet or JSON Lines.
- A file is identified by its SHA-256: a file whose content was already loaded for that
  source is skipped, so loading the same file twice never duplicates rows.
- Rows that break the contract go to `raw._quarantine` with file, row number, column, reason
  and the raw values; the other rows load. Breaking the contract: a line the CSV reader cannot
  read (too few or too many fields, not UTF-8, an unterminated quote: DuckDB's own reason), a
  JSON Lines line that is not a JSON object, a required value missing, a value that does not
  parse as the contract type or is outside the allowed set, a value outside the range of a
  column where a bad value would corrupt scores (quality policy, VALIDITY_ERROR_COLUMNS) or an
  error-severity cross-field rule, and a record dated in the future (after now, or after
  HEALTHSCORE_REFERENCE_DATE, plus FUTURE_TOLERANCE) in a source whose dates say when it
  happened. Every batch records rows landed = rows loaded + rows quarantined in
  `raw._load_batches`.
- A file that is unusable as a whole fails the source with an error naming the file and the
  real cause: empty (0 bytes), not readable at all in its format (DuckDB's full reason), every
  line rejected, required columns missing. A file with a header and no rows loads 0 rows. A
  source's new files load in one transaction: all of them or none.

All parsing and validation is SQL run by DuckDB; Python never holds the rows.

With a mapping (`<mappings dir>/<source>.yml`, orchestration/lib/ingest/mapping.py) a source's files are
the user's own exports, wherever the mapping points: the mapping's SELECT turns each file into the
contract's columns first, then the same checks, quarantine and accounting apply. Quarantined
rows keep the user's original columns in `raw_values`.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.lib import clock
from orchestration.lib.contracts.sources import CONTRACTS, FORMATS, LOAD_METADATA_COLUMNS, SourceContract
from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.dialect import create_table_sql, quote_ident, quote_literal
from orchestration.lib.engines.duckdb import DuckDBEngine
from orchestration.lib.engines.factory import as_engine
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.ingest.declarations import (
    DECLARATION_COLUMNS,
    Declarations,
    MappingError,
    attribute_select,
    declaration_rows,
    landing_declarations,
)
from orchestration.lib.ingest.mapping import (
    LoadedMapping,
    MappedBatch,
    find_mapping,
    mapping_select,
    mappings_dir_from_env,
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


@dataclass
class FileLoad:
    path: str
    checksum: str
    batch_id: str
    format: str
    rows_landed: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    skipped: bool = False
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class SourceLoad:
    source: str
    files: list[FileLoad] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def new_files(self) -> list[FileLoad]:
        return [f for f in self.files if not f.skipped]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.new_files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.new_files)

    @property
    def rows_landed(self) -> int:
        return sum(f.rows_landed for f in self.new_files)

    @property
    def batch_ids(self) -> list[str]:
        return [f.batch_id for f in self.new_files]


RAW_BOOKKEEPING_DDL = {
    "raw._load_batches": """
        batch_id varchar primary key,
        source varchar not null,
        source_file varchar not null,
        file_checksum varchar not null,
        file_format varchar not null,
        rows_landed bigint not null,
        rows_loaded bigint not null,
        rows_quarantined bigint not null,
        ignored_columns varchar,
        loaded_at timestamp not null
    """,
    "raw._quarantine": """
        batch_id varchar not null,
        source varchar not null,
        source_file varchar not null,
        row_number bigint not null,
        column_name varchar not null,
        reason varchar not null,
        raw_values varchar,
        quarantined_at timestamp not null
    """,
    # Columns outside the contracts that a mapping keeps for cross-source quality rules.
    "raw._mapped_extras": """
        batch_id varchar not null,
        source varchar not null,
        row_number bigint not null,
        record_id varchar,
        name varchar not null,
        value varchar
    """,
    # Custom attributes (declared in a mapping or <landing>/<source>/_features.yml): one row per
    # loaded record and attribute, the value as canonical text (docs/features.md).
    "raw._attribute_values": """
        batch_id varchar not null,
        source varchar not null,
        row_number bigint not null,
        record_id varchar not null,
        name varchar not null,
        value varchar
    """,
    # The current declarations of custom attributes and metrics, per source (replaced at each load).
    "raw._feature_declarations": """
        source varchar not null,
        kind varchar not null,
        name varchar not null,
        feature_type varchar not null,
        description varchar,
        origin varchar,
        windows varchar,
        aggregations varchar,
        declared_in varchar
    """,
}


def ensure_raw_schema(con: duckdb.DuckDBPyConnection | Engine) -> None:
    """Create the raw schema, its bookkeeping tables and one table per contract (on any engine)."""
    engine = as_engine(con)
    engine.create_schema("raw")
    for table, body in RAW_BOOKKEEPING_DDL.items():
        engine.execute(create_table_sql(engine.dialect, table, body))
    for contract in CONTRACTS.values():
        cols = [f"{quote_ident(c.name)} {c.type}" for c in contract.columns]
        cols += [f"{name} {typ}" for name, typ, _ in LOAD_METADATA_COLUMNS]
        body = engine.dialect.requote(", ".join(cols))
        engine.execute(create_table_sql(engine.dialect, contract.raw_table, body))


def discover_files(landing_dir: Path, source: str) -> list[Path]:
    folder = Path(landing_dir) / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)


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


def _insert_extras(con: duckdb.DuckDBPyConnection, loaded: LoadedMapping, stage: str, batch_id: str) -> None:
    contract = CONTRACTS[loaded.source]
    for name in loaded.mapping.extras:
        con.execute(
            "insert into raw._mapped_extras "
            f"select {quote_literal(batch_id)}, {quote_literal(loaded.source)}, c.__row_number, "
            f"cast(c.{quote_ident(contract.primary_key)} as varchar), {quote_literal(name)}, "
            f"s.{quote_ident('__extra_' + name)} "
            f"from {stage}_checked as c join {stage} as s on s.__row_number = c.__row_number "
            "where len(c.__violations) = 0"
        )


def _insert_attributes(
    con: duckdb.DuckDBPyConnection, contract: SourceContract, decls: Declarations, stage: str, batch_id: str
) -> None:
    values = ", ".join(
        f"({quote_literal(name)}, a.{quote_ident('__attr_' + name)})" for name in decls.attributes
    )
    con.execute(
        "insert into raw._attribute_values "
        f"select {quote_literal(batch_id)}, {quote_literal(contract.name)}, c.__row_number, "
        f"cast(c.{quote_ident(contract.primary_key)} as varchar), v.name, v.value "
        f"from {stage}_checked as c join {stage}_attrs as a on a.__row_number = c.__row_number "
        f"cross join lateral (values {values}) as v(name, value) "
        "where len(c.__violations) = 0 and v.value is not null"
    )


def _write_declarations(con: duckdb.DuckDBPyConnection, source: str, rows: list[tuple]) -> None:
    con.execute("delete from raw._feature_declarations where source = ?", [source])
    if rows:
        marks = ", ".join("?" for _ in DECLARATION_COLUMNS)
        con.executemany(f"insert into raw._feature_declarations values ({marks})", [list(r) for r in rows])


def load_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    landing_dir: Path,
    *,
    log: Callable[[str], None] | None = None,
    mappings_dir: Path | None = None,
    loaded_at: datetime | None = None,
    now: datetime | None = None,
) -> SourceLoad:
    """Load every new file of one source. Raises IngestError naming the file on a whole-file problem.

    With a mapping for the source in `mappings_dir` (default: $HEALTHSCORE_MAPPINGS_DIR), its
    files are the mapping's instead of `<landing>/<source>/`. `loaded_at` (naive UTC, default:
    now) is the load time recorded on every row: a current-state export's version applies from
    its date (tests pin it). `now` (default: the clock, HEALTHSCORE_TODAY moves it) decides
    which records are dated in the future."""
    contract = CONTRACTS[source]
    log = log or (lambda _msg: None)
    started = time.perf_counter()
    ensure_raw_schema(con)
    result = SourceLoad(source=source)
    try:
        mapping = find_mapping(source, mappings_dir or mappings_dir_from_env())
        batches = mapping.batches() if mapping else []
        decls: Declarations | None = (
            mapping.mapping if mapping is not None else landing_declarations(landing_dir, source)
        )
    except MappingError as exc:
        raise IngestError(f"source {source}: {exc}") from exc
    declared_in = str(mapping.path) if mapping is not None else f"{source}/_features.yml"
    _write_declarations(con, source, declaration_rows(source, decls, declared_in))
    attributes = decls if decls is not None and decls.attributes else None
    if mapping is not None:
        files: list = batches
        if not batches:
            log(f"{source}: no files match mapping {mapping.path}")
            return result
    else:
        files = discover_files(landing_dir, source)
    if not files:
        log(f"{source}: no files in {Path(landing_dir) / source}")
        return result

    loaded = {
        r[0]
        for r in con.execute(
            "select file_checksum from raw._load_batches where source = ?", [source]
        ).fetchall()
    }
    pending: list[tuple[Path | MappedBatch, FileLoad]] = []
    for path in files:
        if isinstance(path, MappedBatch):
            try:
                checksum, fmt = path.checksum(file_checksum), path.mapping.format_of(path.main)
            except (MappingError, OSError) as exc:
                raise IngestError(f"source {source}: file {path.main}: {exc}") from exc
            display = path.display_path()
        else:
            checksum, fmt, display = (
                file_checksum(path),
                FORMATS[path.suffix.lower()],
                _relative(path, landing_dir),
            )
        fl = FileLoad(
            path=display,
            checksum=checksum,
            batch_id=f"{source}-{checksum[:16]}",
            format=fmt,
        )
        result.files.append(fl)
        if checksum in loaded or any(p[1].checksum == checksum for p in pending):
            fl.skipped = True
            log(f"{source}: {fl.path} already loaded (sha256 {checksum[:12]}), skipped")
        else:
            pending.append((path, fl))
    if not pending:
        result.seconds = time.perf_counter() - started
        return result

    loaded_at = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    rule_checks = _row_rule_checks(contract, future_cutoff(now or clock.now()))
    target_cols = ", ".join(quote_ident(c) for c in contract.column_names)
    meta_cols = ", ".join(name for name, _, _ in LOAD_METADATA_COLUMNS)
    con.execute("begin transaction")
    try:
        for i, (path, fl) in enumerate(pending):
            stage = f"__stage_{i}"
            try:
                if isinstance(path, MappedBatch):
                    columns, user_relation = _stage_mapped(con, path, stage)
                else:
                    columns, user_relation = _stage_file(con, path, fl.format, stage), stage
                if attributes is not None:
                    con.execute(
                        f"create or replace temp table {stage}_attrs as "
                        + attribute_select(attributes, user_relation)
                    )
            except duckdb.Error as exc:
                raise IngestError(
                    f"source {source}: file {fl.path} cannot be read as {fl.format}: {duckdb_reason(exc)}"
                ) from exc
            except IngestError as exc:
                raise IngestError(f"source {source}: file {fl.path}: {exc}") from exc
            readable, rejected = con.execute(
                f"select (select count(*) from {stage}), (select count(*) from {stage}_rejects)"
            ).fetchone()
            if readable == 0 and rejected > 0:  # nothing readable: the file is not what it says it is
                row, reason, count = con.execute(
                    f"select min(__row_number), reason, count(*) from {stage}_rejects group by reason "
                    "order by count(*) desc, reason limit 1"
                ).fetchone()
                raise IngestError(
                    f"source {source}: file {fl.path}: none of its {rejected:,} data line(s) can be read; "
                    f"{count:,} of them (first: row {row}): {reason}"
                )
            missing = [c for c in contract.required_columns if c.lower() not in columns]
            if missing:
                raise IngestError(
                    f"source {source}: file {fl.path} is missing required column(s) {', '.join(missing)}; "
                    f"found: {', '.join(sorted(columns)) or 'none'}"
                )
            fl.ignored_columns = sorted(set(columns) - {c.lower() for c in contract.column_names})
            fl.rows_landed = readable + rejected  # a header-only file loads 0 rows

            checked = _validation_sql(contract, columns, stage, mapped=isinstance(path, MappedBatch))
            if attributes is not None:
                # a value that does not parse as its attribute's type quarantines the row, like a
                # contract column's
                checked = (
                    "select c.* replace (list_concat(c.__violations, a.__attr_violations) as __violations) "
                    f"from ({checked}) as c join {stage}_attrs as a on a.__row_number = c.__row_number"
                )
            con.execute(f"create or replace temp table {stage}_checked as {checked}")
            if rule_checks:
                con.execute(
                    f"update {stage}_checked set __violations = list_concat(__violations, "
                    f"list_filter([{', '.join(rule_checks)}], lambda x: x is not null))"
                )
            batch = quote_literal(fl.batch_id)
            file_lit = quote_literal(fl.path)
            ts = quote_literal(loaded_at.isoformat(sep=" "))
            con.execute(
                f"insert into {contract.raw_table} ({target_cols}, {meta_cols}) "
                f"select {target_cols}, {batch}, {file_lit}, {quote_literal(fl.checksum)}, __row_number, "
                f"cast({ts} as timestamp) from {stage}_checked where len(__violations) = 0"
            )
            con.execute(
                "insert into raw._quarantine "
                f"select {batch}, {quote_literal(source)}, {file_lit}, __row_number, v.column, v.reason, "
                f"__raw_values, cast({ts} as timestamp) "
                f"from (select __row_number, __raw_values, unnest(__violations) as v from {stage}_checked)"
            )
            con.execute(
                "insert into raw._quarantine "
                f"select {batch}, {quote_literal(source)}, {file_lit}, __row_number, column_name, reason, "
                f"raw_values, cast({ts} as timestamp) from {stage}_rejects"
            )
            if isinstance(path, MappedBatch):
                _insert_extras(con, path.mapping, stage, fl.batch_id)
            if attributes is not None:
                _insert_attributes(con, contract, attributes, stage, fl.batch_id)
            fl.rows_quarantined = (
                rejected
                + con.execute(f"select count(*) from {stage}_checked where len(__violations) > 0").fetchone()[
                    0
                ]
            )
            fl.rows_loaded = fl.rows_landed - fl.rows_quarantined
            con.execute(
                "insert into raw._load_batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    fl.batch_id,
                    source,
                    fl.path,
                    fl.checksum,
                    fl.format,
                    fl.rows_landed,
                    fl.rows_loaded,
                    fl.rows_quarantined,
                    ",".join(fl.ignored_columns) or None,
                    loaded_at,
                ],
            )
            inputs = [f"_in_{n}" for n in path.files] if isinstance(path, MappedBatch) else []
            for suffix in (
                *("", "_checked", "_json", "_src", "_attrs", "_rejects"),
                *inputs,
                *[f"{i}{kind}" for i in inputs for kind in ("_json", "_rejects")],
            ):
                con.execute(f"drop table if exists {stage}{suffix}")
            log(
                f"{source}: {fl.path}: {fl.rows_landed:,} rows landed, {fl.rows_loaded:,} loaded, "
                f"{fl.rows_quarantined:,} quarantined (batch {fl.batch_id})"
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    result.seconds = time.perf_counter() - started
    return result


def _ship_declarations(engine: Engine, mem: duckdb.DuckDBPyConnection, source: str) -> None:
    """The source's current declarations, from the staging DuckDB to the engine (replacing its own)."""
    rows = mem.execute("select * from raw._feature_declarations where source = ?", [source]).fetchall()
    known = engine.execute("select count(*) from raw._feature_declarations where source = ?", [source])
    if not rows and not known.fetchone()[0]:
        return

    def lit(value: object) -> str:
        return "cast(null as varchar)" if value is None else quote_literal(str(value))

    selects = [f"select * from raw._feature_declarations where source <> {quote_literal(source)}"]
    selects += ["select " + ", ".join(lit(v) for v in row) for row in rows]
    engine.replace_rows("raw._feature_declarations", " union all ".join(selects))


def load_source_into(
    engine: Engine,
    source: str,
    landing_dir: Path,
    *,
    log: Callable[[str], None] | None = None,
    mappings_dir: Path | None = None,
) -> SourceLoad:
    """`load_source` on any engine.

    On DuckDB the files load straight into the warehouse. Elsewhere DuckDB (in memory) still
    parses and validates the files with the same rules, then the new rows, quarantined rows and
    batch records are shipped to the engine's raw tables in Arrow batches, inside one transaction
    where the engine has them (PostgreSQL). Spark has none: the batch records go last, so a failed
    load leaves no batch record and its file is loaded again next time (stray rows of a failed
    load are then visible until a rerun; docs/scale-out.md)."""
    if isinstance(engine, DuckDBEngine):
        return load_source(engine.con, source, landing_dir, log=log, mappings_dir=mappings_dir)
    ensure_raw_schema(engine)
    contract = CONTRACTS[source]
    # A temporary file, not ":memory:": an in-memory database holds every parsed row in this
    # process (6.5 GB RSS for M's 9.7M usage events); a file under the same cap spills instead.
    with (
        tempfile.TemporaryDirectory(prefix="healthscore-load-") as tmp,
        connect(Path(tmp) / "staging.duckdb") as mem,
    ):
        ensure_raw_schema(mem)
        known = engine.execute("select * from raw._load_batches where source = ?", [source]).fetchall()
        if known:
            mem.executemany(
                "insert into raw._load_batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [list(r) for r in known],
            )
        result = load_source(mem, source, landing_dir, log=log, mappings_dir=mappings_dir)
        _ship_declarations(engine, mem, source)
        if not result.batch_ids:
            return result
        started = time.perf_counter()
        batches = ", ".join(quote_literal(b) for b in result.batch_ids)
        engine.begin()
        try:
            for table, key in (
                (contract.raw_table, "_batch_id"),
                ("raw._quarantine", "batch_id"),
                ("raw._mapped_extras", "batch_id"),
                ("raw._attribute_values", "batch_id"),
                ("raw._load_batches", "batch_id"),
            ):
                reader = mem.sql(f"select * from {table} where {key} in ({batches})").to_arrow_reader(100_000)
                engine.append_arrow(table, reader)
            engine.commit()
        except BaseException:
            engine.rollback()
            raise
        result.seconds += time.perf_counter() - started
        return result
