"""Dagster's instance on PostgreSQL: the documented production option, against a real server."""

from __future__ import annotations

import dagster as dg
import psycopg2
import pytest

from tests.support.pg_server import available, postgres_server

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))


def test_runs_and_events_are_stored_in_postgres(tmp_path):
    with postgres_server() as pg:
        (tmp_path / "dagster.yaml").write_text(
            f"""telemetry:
  enabled: false
storage:
  postgres:
    postgres_db:
      hostname: {pg.host}
      port: {pg.port}
      username: {pg.user}
      password: ""
      db_name: {pg.dbname}
      scheme: postgresql+psycopg2
concurrency:
  runs:
    max_concurrent_runs: 1
"""
        )

        @dg.asset
        def tiny() -> int:
            return 1

        instance = dg.DagsterInstance.from_config(str(tmp_path))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = dg.materialize([tiny], instance=instance)
            assert result.success
            assert instance.get_latest_materialization_event(dg.AssetKey("tiny")) is not None
        finally:
            instance.dispose()
        with psycopg2.connect(pg.dsn) as con, con.cursor() as cur:
            cur.execute("select status from runs where run_id = %s", [result.run_id])
            assert cur.fetchone() == ("SUCCESS",)
