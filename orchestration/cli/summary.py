"""`healthscore summary`: the summary of the published scores (also printed after a run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.cli.common import _published_or_warehouse, _readable_warehouse, _say
from orchestration.lib.commands import command_with_data_dir, short_path
from orchestration.lib.settings import Settings


def print_summary(
    settings: Settings,
    run_id: str | None = None,
    dagster_home: Path | None = None,
    source: Path | None = None,
    log_file: Path | None = None,
    example: str = "",
) -> None:
    """The summary of `source` (default: the warehouse, or the snapshot on PostgreSQL / Spark).
    `run_id`: the quality run to report (default: the latest)."""
    from orchestration.lib.engines.warehouse import connect
    from orchestration.lib.publish.tables import SNAPSHOT_NAME, published_dir
    from orchestration.lib.reporting.summary import RULE, Places, summary_text

    path = source or _readable_warehouse(settings)
    _say("")
    if not path.exists():
        _say(RULE)
        _say(f"No warehouse at {path} yet: run `make run`.")
        _say(RULE)
        return
    published = published_dir(settings)

    def existing(p: Path) -> Path | None:
        return short_path(p) if p.exists() else None

    places = Places(
        source=short_path(path),
        snapshot=existing(published / SNAPSHOT_NAME),
        report=existing(published / "report.html"),
        data_docs=existing(published / "data_docs" / "index.html"),
        dagster_home=short_path(dagster_home) if dagster_home else None,
        log_file=short_path(log_file) if log_file else None,
        # Files under another data dir (an example's, yours): the commands must be pointed there.
        command=command_with_data_dir(),
        ui_command=f"make dev EXAMPLE={example}" if example else "make dev",
    )
    import duckdb

    try:
        with connect(path, read_only=True) as con:
            _say(summary_text(con, places, quality_run_id=run_id))
    except duckdb.Error as error:  # e.g. an interrupted run still holds the file: say so, go on
        _say(f"{RULE}\nNo summary: {path} could not be read ({error}).\n{RULE}")


def cmd_summary(_args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    # The published snapshot when there is one: never waits for (nor blocks) a running pipeline.
    print_summary(settings, source=_published_or_warehouse(settings))
    return 0
