"""`healthscore export-postgres`: replace the published tables in PostgreSQL."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.cli.common import _say
from orchestration.lib.settings import Settings


def cmd_export_postgres(args: argparse.Namespace) -> int:
    from orchestration.lib.engines.warehouse import connect
    from orchestration.lib.publish.postgres import export_postgres
    from orchestration.lib.publish.snapshot import publish
    from orchestration.lib.publish.tables import SNAPSHOT_NAME, published_dir

    settings = Settings.from_env()
    snapshot = Path(args.db) if args.db else published_dir(settings) / SNAPSHOT_NAME
    if not snapshot.exists():
        _say(f"No snapshot at {snapshot}: publishing one from {settings.warehouse_path} first.")
        with connect(settings.warehouse_path) as con:
            snapshot = publish(con, snapshot.parent, parquet=False).snapshot_path
    counts = export_postgres(args.dsn, snapshot, log=_say)
    _say(f"Exported {len(counts)} tables ({sum(counts.values()):,} rows) from {snapshot} in one transaction.")
    return 0
