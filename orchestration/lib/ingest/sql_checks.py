"""Configuration is data: the SQL pieces of a mapping are parsed, never trusted.

A mapping's `query` and `expr` values (and those of custom attributes and metrics) are SQL that
the loader runs inside the warehouse. They are parsed by DuckDB's own parser (no execution) before
anything runs: a query must be exactly one SELECT, an expr exactly one expression. Anything else
(a second statement after `;`, DDL, a clause in an expr) rejects the mapping, naming the file and
the key (docs/bring-your-own-data.md, docs/reliability.md).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

_PARSER: duckdb.DuckDBPyConnection | None = None


def _parser() -> duckdb.DuckDBPyConnection:
    global _PARSER
    if _PARSER is None:
        _PARSER = duckdb.connect()  # in memory, never attached to anything: parsing only
    return _PARSER


def _statement_kinds(sql: str) -> list[str]:
    try:
        statements = _parser().extract_statements(sql)
    except duckdb.Error as exc:
        raise ValueError(f"does not parse: {str(exc).strip().splitlines()[0]}") from None
    return [str(s.type).rsplit(".", 1)[-1] for s in statements]


def check_select(sql: str) -> None:
    """Raise ValueError unless `sql` is exactly one SELECT statement (WITH and UNION included)."""
    kinds = _statement_kinds(sql)
    if len(kinds) != 1:
        raise ValueError(
            f"must be exactly one SELECT statement, found {len(kinds)} statements ({', '.join(kinds) or 'none'})"
        )
    if kinds[0] != "SELECT":
        raise ValueError(f"must be a SELECT statement, found {kinds[0]}")


def _select_ast(sql: str) -> dict[str, Any]:
    return json.loads(_parser().execute("select json_serialize_sql(?)", [sql]).fetchone()[0])


def check_expression(sql: str) -> None:
    """Raise ValueError unless `sql` is exactly one SQL expression: no statement separator, no
    FROM / WHERE / alias, not a list of values."""
    if not sql.strip():
        raise ValueError("is empty")
    kinds = _statement_kinds(f"select\n{sql}\n")
    if len(kinds) != 1:
        raise ValueError(f"must be one expression, found {len(kinds)} statements ({', '.join(kinds)})")
    wrapped = _select_ast(f"select (\n{sql}\n) as __value")
    if wrapped.get("error"):
        raise ValueError(f"must be one expression: {wrapped.get('error_message')}")
    plain = _select_ast(f"select\n{sql}\n")
    node = {} if plain.get("error") else plain["statements"][0]["node"]
    items = node.get("select_list", [])
    if (
        node.get("type") != "SELECT_NODE"
        or len(items) != 1
        or node.get("from_table", {}).get("type") != "EMPTY"
        or any(
            node.get(k)
            for k in ("where_clause", "having", "qualify", "sample", "group_expressions", "modifiers")
        )
        or node.get("cte_map", {}).get("map")
        or items[0].get("alias")
        or items[0].get("class") == "STAR"
    ):
        raise ValueError("must be one expression over the file's columns (no FROM, WHERE, alias, list or *)")


def sql_errors(decls: Any) -> list[str]:
    """Every query / expr of a mapping (or of a landing zone's feature declarations), checked:
    one message per bad value, naming its key."""
    errors = []
    query = getattr(decls, "query", None)
    if query is not None:
        try:
            check_select(query)
        except ValueError as exc:
            errors.append(f"query {exc}")
    entries = [("columns", k, v) for k, v in getattr(decls, "columns", {}).items()]
    entries += [("extras", k, v) for k, v in getattr(decls, "extras", {}).items()]
    entries += [("attributes", k, v) for k, v in getattr(decls, "attributes", {}).items()]
    entries += [("metrics", k, v) for k, v in getattr(decls, "metrics", {}).items()]
    for section, key, spec in entries:
        expr = spec if isinstance(spec, str) else spec.expr
        if expr is None:
            continue
        try:
            check_expression(expr)
        except ValueError as exc:
            errors.append(f"{section}.{key}: expr {exc}")
    return errors
