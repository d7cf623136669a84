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

Reading one file into a stage table and the row checks are in files.py.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from orchestration.lib.ingest.files import (
    IngestError,
    _relative,
    _row_rule_checks,
    _stage_file,
    _stage_mapped,
    _validation_sql,
    duckdb_reason,
    file_checksum,
    future_cutoff,
)
from orchestration.lib.ingest.mapping import (
    LoadedMapping,
    MappedBatch,
    find_mapping,
    mappings_dir_from_env,
)


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

    def lit(value: object) -> str:  # Spark has no bare `varchar` type: the engine's string type
        return f"cast(null as {engine.dialect.string_type})" if value is None else quote_literal(str(value))

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
