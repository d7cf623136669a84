"""`healthscore sql`: SQL on the published snapshot, read-only, for analysts with no DuckDB CLI.

    healthscore sql                                  an interactive prompt (statements end with ;)
    healthscore sql "select grade, count(*) from bi.health_scores_current group by grade"
    healthscore sql -f my_query.sql --csv > out.csv

Reads the published snapshot by default (replaced atomically after every run, so it never waits
for the pipeline and never blocks it), else the warehouse file, always opened read-only.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import duckdb

from orchestration.lib.engines.warehouse import connect

CELL_WIDTH = 60  # longer text is cut in the table view (--csv prints every value whole)
HELP = """Statements end with ';'. Commands:
  .tables            the tables and views, with their row counts
  .schema TABLE      the columns of a table
  .quit              leave (or Ctrl-D)"""


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (dt.datetime, dt.date, decimal.Decimal)):
        return str(value)
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], total: int, max_rows: int) -> str:
    """A plain text table: numbers right-aligned, long text cut at CELL_WIDTH, a row count below."""
    cells = [[_text(v) for v in row] for row in rows[:max_rows]]
    cells = [[c if len(c) <= CELL_WIDTH else c[: CELL_WIDTH - 3] + "..." for c in row] for row in cells]
    numeric = [
        all(isinstance(row[i], (int, float, decimal.Decimal)) or row[i] is None for row in rows[:max_rows])
        and not all(row[i] is None for row in rows[:max_rows])
        for i in range(len(columns))
    ]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    shown = min(total, max_rows)
    out.append(
        f"({total:,} row{'s' if total != 1 else ''}" + (f", first {shown:,} shown)" if shown < total else ")")
    )
    return "\n".join(out)


def run_statements(
    con: duckdb.DuckDBPyConnection,
    text: str,
    out: TextIO,
    *,
    as_csv: bool = False,
    max_rows: int = 40,
) -> int:
    """Run every statement of `text`; print each result. Returns the number of statements run."""
    statements = con.extract_statements(text)
    for statement in statements:
        cursor = con.execute(statement.query)
        if cursor.description is None:
            continue
        columns = [d[0] for d in cursor.description]
        if as_csv:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(cursor.fetchall())
            continue
        rows = cursor.fetchmany(max_rows + 1)
        total = len(rows)
        if total > max_rows:
            total += len(cursor.fetchall())
        out.write(format_table(columns, rows, total, max_rows) + "\n")
    return len(statements)


def _tables(con: duckdb.DuckDBPyConnection, out: TextIO) -> None:
    rows = con.execute(
        """select table_schema || '.' || table_name, table_type from information_schema.tables
        where table_schema not in ('information_schema', 'pg_catalog') order by 1"""
    ).fetchall()
    listing = []
    for name, kind in rows:
        n = con.execute(f"select count(*) from {name}").fetchone()[0]
        listing.append((name, "view" if "VIEW" in kind else "table", n))
    out.write(format_table(("table", "kind", "rows"), listing, len(listing), len(listing)) + "\n")


def _command(con: duckdb.DuckDBPyConnection, line: str, out: TextIO) -> bool:
    """A dot command; False to leave."""
    word, _, arg = line.strip().partition(" ")
    if word in (".quit", ".exit", ".q"):
        return False
    if word == ".tables":
        _tables(con, out)
    elif word == ".schema" and arg.strip():
        run_statements(con, f"describe {arg.strip().rstrip(';')}", out, max_rows=500)
    else:
        out.write(HELP + "\n")
    return True


def repl(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    out: TextIO | None = None,
    read: Callable[[str], str] = input,
    max_rows: int = 40,
) -> None:
    """Read statements until Ctrl-D or .quit; an error is printed and the prompt continues."""
    out = out or sys.stdout
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:  # pragma: no cover - not on every platform
        pass
    out.write(f"healthscore sql on {source} (read-only). .tables lists the tables, .help the commands.\n")
    buffer: list[str] = []
    while True:
        try:
            line = read("...> " if buffer else "sql> ")
        except EOFError:
            out.write("\n")
            return
        if not buffer and line.strip().startswith("."):
            if not _command(con, line, out):
                return
            continue
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text:
            buffer.clear()
            continue
        if not text.endswith(";"):
            continue
        buffer.clear()
        try:
            run_statements(con, text, out, max_rows=max_rows)
        except duckdb.Error as error:
            out.write(f"Error: {error}\n")


def sql_command(
    source: Path,
    queries: Iterable[str],
    *,
    interactive: bool,
    as_csv: bool = False,
    max_rows: int = 40,
    out: TextIO | None = None,
) -> int:
    """Exit status: 0, or 1 when a statement failed (the error is printed)."""
    out = out or sys.stdout
    with connect(source, read_only=True) as con:
        if interactive:
            repl(con, source, out, max_rows=max_rows)
            return 0
        for text in queries:
            try:
                run_statements(con, text, out, as_csv=as_csv, max_rows=max_rows)
            except duckdb.Error as error:
                print(f"Error: {error}", file=sys.stderr)
                return 1
    return 0
