"""`export_postgres` against a real PostgreSQL 15 server that the test starts and stops.

initdb refuses root, so the server runs as the `postgres` user on a free port on 127.0.0.1, with
its data directory in a temp folder (tests/support/pg_server.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import duckdb
import pytest

from orchestration.cli.main import main
from orchestration.lib.publish.postgres import export_postgres

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: str) -> list[str]:
    return ["su", "postgres", "-s", "/bin/sh", "-c", cmd] if os.geteuid() == 0 else ["sh", "-c", cmd]


@pytest.fixture(scope="module")
def postgres_dsn():
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    tmp = Path(tempfile.mkdtemp(prefix="hs_pg_"))
    os.chmod(tmp, 0o777)
    data = tmp / "data"
    port = _free_port()
    subprocess.run(_as_postgres(f"{PG_BIN}/initdb -D {data} -A trust -U postgres --no-sync -E UTF8"),
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(
        _as_postgres(
            f"{PG_BIN}/pg_ctl -D {data} -l {tmp}/log -w -o '-p {port} -c listen_addresses=127.0.0.1 "
            f"-k {tmp} -c fsync=off' start"
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres(f"{PG_BIN}/pg_ctl -D {data} -m fast -w stop"), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture()
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "healthscore_published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema bi; create schema raw; create schema scores")
        con.execute(
            """create table bi.health_scores_current as
            select 'ACC-' || i as account_id, 'retention_risk' as objective, date '2026-03-01' as as_of_date,
                   cast(i as bigint) as score_version, 10.5 * i as health_score,
                   case when i = 2 then '' when i = 3 then null else 'Usage fell, "a lot"; tickets up' end as top_reasons,
                   i % 2 = 0 as is_churned, timestamp '2026-03-01 06:00:00' as computed_at
            from range(1, 6) t(i)"""
        )
        con.execute(
            """create table raw._quarantine as select 'b1' as batch_id, 'invoices' as source, 'f' as source_file,
                   cast(1 as bigint) as row_number, 'amount' as column_name, 'cannot parse - as double' as reason,
                   '{"amount": "-"}' as raw_values, timestamp '2026-03-01' as quarantined_at"""
        )
        con.execute("create table scores.score_runs as select cast(1 as bigint) as score_version")
    return path


def test_export_replaces_tables_in_one_transaction(postgres_dsn: str, snapshot: Path) -> None:
    import psycopg2

    counts = export_postgres(postgres_dsn, snapshot)
    assert counts == {"bi.health_scores_current": 5, "scores.score_runs": 1, "raw._quarantine": 1}
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select account_id, health_score, top_reasons, is_churned, as_of_date::text "
            "from bi.health_scores_current order by account_id"
        )
        rows = cur.fetchall()
        assert rows[0] == ("ACC-1", 10.5, 'Usage fell, "a lot"; tickets up', False, "2026-03-01")
        assert rows[1][2] == "" and rows[2][2] is None  # empty string and NULL stay apart
        cur.execute(
            "select data_type from information_schema.columns where table_schema = 'bi' "
            "and table_name = 'health_scores_current' and column_name in ('score_version', 'computed_at') "
            "order by column_name"
        )
        assert [r[0] for r in cur.fetchall()] == ["timestamp without time zone", "bigint"]
        cur.execute("select source, column_name, rows_quarantined from quality.quarantine_summary")
        assert cur.fetchall() == [("invoices", "amount", 1)]

    # A second export replaces the tables; a failing one leaves the previous tables in place.
    with duckdb.connect(str(snapshot)) as con:
        con.execute("delete from bi.health_scores_current where account_id <> 'ACC-1'")
    assert main(["export-postgres", "--dsn", postgres_dsn, "--db", str(snapshot)]) == 0
    with duckdb.connect(str(snapshot)) as con:
        con.execute("delete from bi.health_scores_current")  # would replace with 0 rows...
        con.execute(
            "create table bi.broken as select 'a' || chr(0) || 'b' as x"
        )  # ...but PostgreSQL refuses NUL
    with pytest.raises(psycopg2.Error):
        export_postgres(postgres_dsn, snapshot, tables=["bi.health_scores_current", "bi.broken"])
    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from bi.health_scores_current")
        assert cur.fetchone()[0] == 1
        cur.execute("select to_regclass('bi.broken')")
        assert cur.fetchone()[0] is None
