"""`healthscore sql`: SQL on the published snapshot, read-only (analysts need no DuckDB CLI)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.cli.common import _published_or_warehouse
from orchestration.lib.settings import Settings


def cmd_sql(args: argparse.Namespace) -> int:
    from orchestration.lib.reporting.sql_shell import sql_command

    path = Path(args.db) if args.db else _published_or_warehouse(Settings.from_env())
    if not path.exists():
        print(f"No DuckDB file at {path}: run `make run` first (or pass --db).", file=sys.stderr)
        return 2
    queries = list(args.query)
    if args.file:
        queries.append(Path(args.file).read_text())
    interactive = not queries and sys.stdin.isatty()
    if not queries and not interactive:
        queries.append(sys.stdin.read())  # piped: echo "select 1" | healthscore sql
    return sql_command(path, queries, interactive=interactive, as_csv=args.csv, max_rows=args.max_rows)
