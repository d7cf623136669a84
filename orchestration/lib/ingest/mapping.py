"""Bring your own data: a mapping file per source turns a user's export into a source contract.

A mapping (`<mappings dir>/<source>.yml`, see docs/bring-your-own-data.md) names the user's
file(s) and says, for every contract column it fills, where the value comes from:

    source: support_tickets
    files: data/ravenstack_support_tickets.csv   # path or glob, relative to the mapping file
    columns:
      ticket_id: ticket_id                          # a string is a SQL expression over the file's
      opened_at: {column: submitted_at, format: "%Y-%m-%d"}  # columns; a bare name is the column
      priority: {column: priority, values: {medium: normal}}
      status: "case when closed_at is null then 'open' else 'closed' end"

Several files can be combined with `inputs` (name -> path) and a `query` over those names; the
first input is the main one: the query must return each of its rows once (`select main.*, ...`
with left joins to lookups unique on their key), so that row numbers and row accounting stay
those of the user's file.

Relative paths resolve against the folder of the mapping file. No Dagster here, and no rows in
Python: `mapping_select` builds the DuckDB SQL that the loader runs.

The custom attributes and metrics a mapping may declare are in declarations.py.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import ValidationError, model_validator

from orchestration.lib.contracts.sources import CONTRACTS, DATE, FORMATS, TIMESTAMP, get_contract
from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.ingest.declarations import (
    _NAME_RE,
    ColumnMap,
    Declarations,
    MappingError,
    _column_sql,
    _pydantic_errors,
    attribute_select,
)
from orchestration.lib.ingest.sql_checks import sql_errors
from orchestration.lib.yaml_text import load_yaml_mapping

MAPPINGS_DIR_ENV = "HEALTHSCORE_MAPPINGS_DIR"


class Mapping(Declarations):
    source: str
    description: str = ""
    files: str | None = None
    format: Literal["csv", "parquet", "jsonl"] | None = None
    inputs: dict[str, str] | None = None
    query: str | None = None
    columns: dict[str, str | ColumnMap]
    # Columns outside the contract kept for cross-source quality rules (raw._mapped_extras).
    extras: dict[str, str | ColumnMap] = {}

    @model_validator(mode="after")
    def _shape(self) -> Mapping:
        if (self.files is None) == (self.inputs is None):
            raise ValueError("give either `files` (one path or glob) or `inputs` + `query`")
        if self.inputs is not None:
            if not self.inputs:
                raise ValueError("`inputs` is empty")
            if self.query is None:
                raise ValueError("`inputs` needs a `query` over the input names")
            for name in self.inputs:
                if not _NAME_RE.match(name):
                    raise ValueError(f"input name {name!r} must be a lower-case SQL name")
        elif self.query is not None:
            raise ValueError("`query` needs `inputs` (name -> file); with `files` use expressions in columns")
        for name in self.extras:
            if not _NAME_RE.match(name):
                raise ValueError(f"extra {name!r} must be a lower-case SQL name")
        for name in set(self.extras) & set(self.attributes):
            raise ValueError(f"{name!r} is both an extra and an attribute")
        return self

    def column_map(self, target: str) -> ColumnMap | None:
        spec = self.columns.get(target)
        return ColumnMap(expr=spec) if isinstance(spec, str) else spec

    def extra_maps(self) -> dict[str, ColumnMap]:
        return {k: ColumnMap(expr=v) if isinstance(v, str) else v for k, v in self.extras.items()}


@dataclass(frozen=True)
class LoadedMapping:
    """A validated mapping and the file it came from (relative paths resolve against its folder)."""

    mapping: Mapping
    path: Path

    @property
    def source(self) -> str:
        return self.mapping.source

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def _resolve(self, pattern: str) -> list[Path]:
        full = Path(os.path.expanduser(expand_env(pattern)))
        full = full if full.is_absolute() else self.base_dir / full
        return sorted(Path(p) for p in glob.glob(str(full)) if Path(p).is_file())

    def input_patterns(self) -> dict[str, str]:
        m = self.mapping
        return dict(m.inputs) if m.inputs else {"src": m.files or ""}

    def batches(self) -> list[MappedBatch]:
        """One batch per main file (the first input); the other inputs must each be one file."""
        patterns = self.input_patterns()
        names = list(patterns)
        lookups: dict[str, Path] = {}
        for name in names[1:]:
            found = self._resolve(patterns[name])
            if len(found) != 1:
                raise MappingError(
                    f"mapping {self.path}: input {name!r} ({patterns[name]}) must match exactly one file, "
                    f"found {len(found)}"
                )
            lookups[name] = found[0]
        mains = self._resolve(patterns[names[0]])
        return [MappedBatch(self, names[0], main, lookups) for main in mains]

    def format_of(self, path: Path) -> str:
        fmt = self.mapping.format or FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise MappingError(
                f"mapping {self.path}: cannot tell the format of {path.name}; set `format: csv|parquet|jsonl`"
            )
        return fmt


@dataclass(frozen=True)
class MappedBatch:
    """One load batch of a mapped source: the main file plus the lookup files it is joined to."""

    mapping: LoadedMapping
    main_name: str
    main: Path
    lookups: dict[str, Path]

    @property
    def files(self) -> dict[str, Path]:
        return {self.main_name: self.main, **self.lookups}

    def checksum(self, file_checksum: Any) -> str:
        """The main file's SHA-256, combined with the lookups' when there are any (a changed lookup
        changes derived columns, so the batch is new)."""
        main = file_checksum(self.main)
        if not self.lookups:
            return main
        parts = [main] + [f"{n}:{file_checksum(p)}" for n, p in sorted(self.lookups.items())]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def display_path(self) -> str:
        return os.path.relpath(self.main, self.mapping.base_dir)


# ------------------------------------------------------------------------------- loading

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(pattern: str) -> str:
    """${NAME} and ${NAME:-default} in a file path: data that must stay outside the repository
    (a licence that does not allow copying it) is read from where the environment says. A
    relative path set in the environment at the start of the pattern is taken from the current
    directory, as the shell user who typed it means it (a default in the YAML, like any path in
    the mapping, resolves against the mapping's folder)."""

    def value(m: re.Match) -> str:
        set_to = os.environ.get(m.group(1))
        if not set_to:
            return m.group(2) or ""
        if m.start() == 0 and not os.path.isabs(os.path.expanduser(set_to)):
            return os.path.abspath(set_to)
        return set_to

    return _ENV_RE.sub(value, pattern)


def mappings_dir_from_env() -> Path | None:
    value = os.environ.get(MAPPINGS_DIR_ENV, "").strip()
    return Path(value) if value else None


def parse_mapping(text: str, path: Path | str) -> LoadedMapping:
    """Validate a mapping's shape and its columns against the source contract (no file access)."""
    path = Path(path)
    where = f"mapping {path}"
    data = load_yaml_mapping(text, where, MappingError, what="a YAML mapping")
    data.setdefault("source", path.stem)
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(f"{where}: " + "; ".join(_pydantic_errors(exc))) from None
    if mapping.source not in CONTRACTS:
        raise MappingError(
            f"{where}: unknown source {mapping.source!r}; known sources: {', '.join(sorted(CONTRACTS))}"
        )
    contract = get_contract(mapping.source)
    errors = sql_errors(mapping) + mapping.check_source(mapping.source)
    for target in mapping.columns:
        if target not in contract.column_names:
            errors.append(
                f"column {target!r} is not a column of source {mapping.source} (columns: "
                f"{', '.join(contract.column_names)})"
            )
    generated = ("metric", "value") if mapping.wide_metrics else ()
    for target in generated:
        if target in mapping.columns:
            errors.append(f"column {target!r} comes from `metrics` in a wide file: do not map it")
    for required in contract.required_columns:
        if required not in mapping.columns and required not in generated:
            errors.append(f"required column {required!r} of source {mapping.source} is not mapped")
    for target in mapping.columns:
        spec = mapping.column_map(target)
        if spec is None or target not in contract.column_names:
            continue
        col_type = contract.column(target).type
        if spec.format is not None and col_type not in (DATE, TIMESTAMP):
            errors.append(f"column {target!r}: `format` applies to date/timestamp columns, not {col_type}")
        if spec.scale is not None and col_type not in ("double", "bigint"):
            errors.append(f"column {target!r}: `scale` applies to numeric columns, not {col_type}")
    if errors:
        raise MappingError(f"{where}: " + "; ".join(errors))
    return LoadedMapping(mapping, path.resolve())


def load_mapping(path: Path | str) -> LoadedMapping:
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"mapping {path} does not exist")
    return parse_mapping(path.read_text(), path)


def load_mappings(directory: Path | str) -> dict[str, LoadedMapping]:
    """Every `<source>.yml` in the folder, validated (shape and contract; see `check_mapping` for SQL)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MappingError(f"mappings folder {directory} does not exist")
    found: dict[str, LoadedMapping] = {}
    for path in sorted(directory.glob("*.y*ml")):
        if path.stem not in CONTRACTS:
            if path.stem.startswith(("example", "_")):
                continue  # example.yml: settings of a worked example, not a mapping
            raise MappingError(
                f"mapping {path}: file name must be <source>.yml; known sources: "
                f"{', '.join(sorted(CONTRACTS))}"
            )
        loaded = load_mapping(path)
        if loaded.source != path.stem:
            raise MappingError(f"mapping {path}: declares source {loaded.source!r} but is named {path.name}")
        found[loaded.source] = loaded
    return found


def find_mapping(source: str, directory: Path | str | None) -> LoadedMapping | None:
    if directory is None:
        return None
    path = Path(directory) / f"{source}.yml"
    return load_mapping(path) if path.is_file() else None


# ------------------------------------------------------------------------------- SQL


def relation_sql(path: Path, fmt: str) -> str:
    """Read a user's file as the loader does (CSV values as text; typing happens in the contract checks)."""
    p = quote_literal(str(path))
    if fmt == "csv":
        return f"read_csv({p}, header = true, all_varchar = true, encoding = 'utf-8')"
    if fmt == "parquet":
        return f"read_parquet({p})"
    return f"read_json({p}, format = 'newline_delimited')"


def mapping_select(loaded: LoadedMapping, relation: str, source_columns: list[str]) -> str:
    """A SELECT over `relation` (which has `__row_number` plus the user's columns) giving
    `__row_number`, every contract column as text, `__map_violations` (rows whose dates do not
    match their format), `__raw_values` (the user's original columns as JSON) and `__extra_<name>`."""
    m = loaded.mapping
    contract = get_contract(m.source)
    cols, violations = [], []
    for col in contract.columns:
        spec = m.column_map(col.name)
        if spec is None:
            cols.append(f"cast(null as varchar) as {quote_ident(col.name)}")
            continue
        text, violation = _column_sql(col.name, spec, col.type)
        cols.append(f"{text} as {quote_ident(col.name)}")
        if violation:
            violations.append(violation)
    for name, spec in m.extra_maps().items():
        text, _ = _column_sql(name, spec, None)
        cols.append(f"{text} as {quote_ident('__extra_' + name)}")
    raw = ", ".join(f"{quote_literal(c)}: {quote_ident(c)}" for c in source_columns if c != "__row_number")
    raw_sql = f"cast(to_json({{{raw}}}) as varchar)" if raw else "null"
    viol = f"list_filter([{', '.join(violations)}], lambda x: x is not null)" if violations else "[]"
    if m.wide_metrics:
        return _wide_metrics_select(m, cols, viol, raw_sql, relation)
    return (
        f"select __row_number, {', '.join(cols)}, {viol} as __map_violations, {raw_sql} as __raw_values "
        f"from {relation}"
    )


def _wide_metrics_select(m: Mapping, cols: list[str], viol: str, raw_sql: str, relation: str) -> str:
    """account_metrics from a wide file: one measurement per row and metric with a value (an empty
    cell is no measurement); measurement_id gets `:<metric>` so that each is its own record."""
    selects = []
    for name, metric in m.metrics.items():
        value, _ = _column_sql(f"metrics.{name}", metric.wide_origin(), "double")
        per_metric = []
        for col in cols:
            target = col.rsplit(" as ", 1)[1]
            if target == quote_ident("metric"):
                col = f"{quote_literal(name)} as {target}"
            elif target == quote_ident("value"):
                col = f"{value} as {target}"
            elif target == quote_ident("measurement_id"):
                col = f"{col.rsplit(' as ', 1)[0]} || {quote_literal(':' + name)} as {target}"
            per_metric.append(col)
        selects.append(
            f"select __row_number, {', '.join(per_metric)}, {viol} as __map_violations, "
            f"{raw_sql} as __raw_values from {relation} where {value} is not null"
        )
    return " union all ".join(selects)


def check_mapping(loaded: LoadedMapping, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Check a mapping against its files: they exist, the query runs, every format string is valid
    and every expression references known columns (each projected with LIMIT 0 in DuckDB)."""
    where = f"mapping {loaded.path}"
    own = con is None
    con = con or duckdb.connect()
    try:
        batches = loaded.batches()
        if not batches:
            raise MappingError(
                f"{where}: no file matches {list(loaded.input_patterns().values())[0]!r} "
                f"(relative paths resolve against {loaded.base_dir})"
            )
        first = batches[0]
        views = []
        for name, path in first.files.items():
            rel = relation_sql(path, loaded.format_of(path))
            view = f"__check_{name}"
            try:
                con.execute(f"create or replace temp view {view} as select * from {rel}")
                con.execute(
                    f"create or replace temp view {quote_ident(name)} as "
                    f"select cast(0 as bigint) as __row_number, * from {view}"
                )
            except duckdb.Error as exc:
                raise MappingError(
                    f"{where}: input {name!r} ({path}) cannot be read: {_first_line(exc)}"
                ) from None
            views += [view, name]
        relation = quote_ident(first.main_name)
        if loaded.mapping.query:
            try:
                con.execute(f"create or replace temp view __check_query as {loaded.mapping.query}")
                con.execute("select * from __check_query limit 0")
            except duckdb.Error as exc:
                raise MappingError(f"{where}: query does not run: {_first_line(exc)}") from None
            relation = "__check_query"
            views.append("__check_query")
        columns = [d[0] for d in con.execute(f"select * from {relation} limit 0").description]
        if "__row_number" not in columns:
            raise MappingError(
                f"{where}: query must keep every row of the main input "
                f"{first.main_name!r}: select {first.main_name}.*, ..."
            )
        contract = get_contract(loaded.source)
        types = {c.name: c.type for c in contract.columns}
        targets = [(t, loaded.mapping.column_map(t), types[t]) for t in loaded.mapping.columns]
        targets += [(f"extras.{n}", s, None) for n, s in loaded.mapping.extra_maps().items()]
        targets += [
            (f"metrics.{n}", m.wide_origin(), "double")
            for n, m in loaded.mapping.metrics.items()
            if m.wide_origin() is not None
        ]
        errors = []
        for target, spec, col_type in targets:
            text, violation = _column_sql(target, spec, col_type)
            try:
                con.execute(f"select {text}, {violation or 'null'} from {relation} limit 0")
                if spec.format is not None:
                    con.execute(f"select try_strptime('2024-01-01', {quote_literal(spec.format)})")
            except duckdb.Error as exc:
                message = _first_line(exc)
                if spec.format is not None and "format" in message.lower():
                    errors.append(f"column {target!r}: bad format string {spec.format!r}: {message}")
                else:
                    errors.append(
                        f"column {target!r}: {message} (source columns: {', '.join(c for c in columns if c != '__row_number')})"
                    )
        if loaded.mapping.attributes:
            try:
                con.execute(f"select * from ({attribute_select(loaded.mapping, relation)}) limit 0")
            except duckdb.Error as exc:
                errors.append(
                    f"attributes: {_first_line(exc)} (source columns: "
                    f"{', '.join(c for c in columns if c != '__row_number')})"
                )
        if errors:
            raise MappingError(f"{where}: " + "; ".join(errors))
        for view in reversed(views):
            con.execute(f"drop view if exists {quote_ident(view)}")
    finally:
        if own:
            con.close()


def check_mappings_dir(directory: Path | str) -> dict[str, LoadedMapping]:
    """Load and fully check every mapping of a folder (what `healthscore run` does up front)."""
    mappings = load_mappings(directory)
    for loaded in mappings.values():
        check_mapping(loaded)
    return mappings


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
