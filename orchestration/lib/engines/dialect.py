"""The SQL dialect layer, the one place for what differs in SQL between the engines: identifier
and literal quoting, type names, rounding, date arithmetic, ordered string aggregation
(`Dialect`), the DDL built from them, and DuckDB -> PostgreSQL types for the export.

The SQL builders (loader, quality rules, scorecard compiler) write DuckDB SQL with double-quoted
identifiers; `Dialect.requote` turns that into Spark SQL, `Dialect.q` quotes for any engine."""

from __future__ import annotations

import re
from dataclasses import dataclass

ENGINES = ("duckdb", "postgres", "spark")


def quote_ident(name: str) -> str:
    """An identifier in double quotes (DuckDB, PostgreSQL; Spark: `Dialect.q` or `requote`)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A string literal (every engine)."""
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Dialects
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    name: str
    float_type: str
    string_type: str
    ident_quote: str

    def type(self, contract_type: str) -> str:
        """A contract / DDL type name (varchar, bigint, double, boolean, date, timestamp) here."""
        return {"varchar": self.string_type, "double": self.float_type}.get(contract_type, contract_type)

    def q(self, name: str) -> str:
        ch = self.ident_quote
        return ch + name.replace(ch, ch + ch) + ch

    def requote(self, sql: str) -> str:
        """SQL written with double-quoted identifiers, for this engine: Spark quotes identifiers
        with backticks ("x" is a string literal there). For SQL whose literals hold no '"'."""
        return sql if self.ident_quote == '"' else sql.replace('"', self.ident_quote)

    def float(self, value: float) -> str:
        """A float literal that is a float on this engine (Spark reads 0.25 as a decimal)."""
        text = repr(float(value))
        return f"{text}D" if self.name == "spark" else text

    def _decimal(self, expr: str, digits: int) -> str:
        # Round in decimal, the same on every engine: first to 9 places (float noise of the last
        # bits, which differs by engine, must not decide a half), then half away from zero.
        return f"cast(cast({expr} as decimal(38, 9)) as decimal(38, {digits}))"

    def round(self, expr: str, digits: int) -> str:
        """A float rounded to `digits` places, as a float (Postgres has no round(double, n))."""
        return f"cast({self._decimal(expr, digits)} as {self.float_type})"

    def round_text(self, expr: str, digits: int) -> str:
        """A float rounded to `digits` places as text, '12.0' on every engine."""
        return f"cast({self._decimal(expr, digits)} as {self.string_type})"

    def add_days(self, date_expr: str, days: int | str) -> str:
        if self.name == "spark":
            return f"date_add({date_expr}, {days})"
        return f"({date_expr} + {days})"

    def sha256_hex(self, expr: str) -> str:
        if self.name == "postgres":
            return f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"
        if self.name == "spark":
            return f"sha2({expr}, 256)"
        return f"sha256({expr})"

    def cte(self, name: str, body: str) -> str:
        """One `with` entry. PostgreSQL gets `as materialized`: its planner otherwise folds a CTE
        used once into the next and copies each computed column's expression into every place
        that uses it. The scorecard's stages use each other's columns dozens of times, so the
        expressions grew multiplicatively (5 days x 20,000 accounts: over 12 minutes)."""
        return f"{name} as {'materialized ' if self.name == 'postgres' else ''}({body})"

    def string_agg(self, expr: str, sep: str, order_by: str) -> str:
        """Ordered string aggregation (NULLs skipped)."""
        if self.name == "spark":
            return f"listagg({expr}, {sep}) within group (order by {order_by})"
        return f"string_agg({expr}, {sep} order by {order_by})"


def create_table_sql(dialect: Dialect, table: str, body: str) -> str:
    """`create table if not exists` from a DuckDB-typed column list, for this engine.

    Spark's Parquet tables take no constraints (primary key, not null): on Spark the loader and
    the quality gates are what keep them, as they do everywhere."""
    body = re.sub(r"\b(double|varchar)\b", lambda m: dialect.type(m.group(1)), body)
    if dialect.name == "spark":
        body = re.sub(r"\s+(primary key|not null)\b", "", body)
        return f"create table if not exists {table} ({body}) using parquet"
    return f"create table if not exists {table} ({body})"


DIALECTS = {
    "duckdb": Dialect("duckdb", float_type="double", string_type="varchar", ident_quote='"'),
    "postgres": Dialect("postgres", float_type="double precision", string_type="varchar", ident_quote='"'),
    "spark": Dialect("spark", float_type="double", string_type="string", ident_quote="`"),
}
DUCKDB = DIALECTS["duckdb"]


# DuckDB column type -> PostgreSQL type, for the export of the published tables.
_PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "HUGEINT": "numeric",
    "UBIGINT": "numeric",
    "UINTEGER": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIME": "time",
    "UUID": "uuid",
}


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type for a DuckDB column type (text for anything exotic: lists, structs)."""
    t = duckdb_type.upper()
    if t in _PG_TYPES:
        return _PG_TYPES[t]
    if re.fullmatch(r"DECIMAL\(\d+,\s*\d+\)", t):
        return t.replace("DECIMAL", "numeric")
    return "text"
