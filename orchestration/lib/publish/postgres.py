"""Replace the published tables in PostgreSQL in one transaction (`export_postgres`)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestration.lib.engines.dialect import postgres_type, quote_ident, quote_literal
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.tables import (
    PUBLISHED_TABLES,
    QUARANTINE_SUMMARY_SQL,
    QUARANTINE_SUMMARY_VIEW,
    _relation,
    existing_tables,
)


def export_postgres(
    dsn: str,
    snapshot_path: Path,
    *,
    tables: Iterable[str] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, int]:
    """Replace the snapshot's tables in PostgreSQL (same schema.table names) in one transaction.

    Data goes through COPY (psycopg2 `copy_expert`, CSV). BI users see the old tables until the
    commit and the new ones after it. Returns rows loaded per table.
    """
    import psycopg2

    counts: dict[str, int] = {}
    with connect(snapshot_path, read_only=True) as snap:
        present = existing_tables(snap)
        names = [t for t in (tables or PUBLISHED_TABLES) if t in present]
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cur, tempfile.TemporaryDirectory(prefix="hs_pg_") as tmpdir:
                cur.execute(f"drop view if exists {QUARANTINE_SUMMARY_VIEW}")
                for name in names:
                    schema, table = name.split(".", 1)
                    columns = snap.execute(
                        """select column_name, data_type from information_schema.columns
                        where table_schema = ? and table_name = ? order by ordinal_position""",
                        [schema, table],
                    ).fetchall()
                    cols_sql = ", ".join(f"{quote_ident(c)} {postgres_type(t)}" for c, t in columns)
                    pg_name = f"{quote_ident(schema)}.{quote_ident(table)}"
                    cur.execute(f"create schema if not exists {quote_ident(schema)}")
                    cur.execute(f"drop table if exists {pg_name}")
                    cur.execute(f"create table {pg_name} ({cols_sql})")
                    csv_path = Path(tmpdir) / f"{name}.csv"
                    # DuckDB writes NULL as an empty field and an empty string as "", which is
                    # exactly how PostgreSQL's CSV COPY tells them apart.
                    snap.execute(
                        f"copy (select * from {_relation(name)}) to {quote_literal(str(csv_path))} "
                        "(format csv, header true)"
                    )
                    with csv_path.open("r", encoding="utf-8", newline="") as fh:
                        cur.copy_expert(f"copy {pg_name} from stdin with (format csv, header true)", fh)
                    counts[name] = cur.rowcount
                    log(f"postgres {name}: {counts[name]:,} rows")
                if "raw._quarantine" in counts:
                    cur.execute("create schema if not exists quality")
                    cur.execute(f"create view {QUARANTINE_SUMMARY_VIEW} as {QUARANTINE_SUMMARY_SQL}")
        finally:
            conn.close()
    return counts
