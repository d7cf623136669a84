"""The as_of dimension: one partition per day, from the data's first day."""

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from orchestration.lib import clock
from orchestration.lib.settings import Settings

DEFAULT_START = "2020-01-01"


def start_marker(settings: Settings | None = None) -> Path:
    """Where the scoring asset records the first day of the feature mart (next to the warehouse)."""
    return (settings or Settings.from_env()).warehouse_path.parent / "partitions_start"


def partitions_start() -> str:
    """$HEALTHSCORE_PARTITIONS_START, else the data's first day as the last scoring run recorded
    it, else 2020-01-01 (before any run): the Partitions tab does not count years without data."""
    if os.environ.get("HEALTHSCORE_PARTITIONS_START"):
        return os.environ["HEALTHSCORE_PARTITIONS_START"]
    try:
        return dt.date.fromisoformat(start_marker().read_text().strip()).isoformat()
    except (OSError, ValueError):
        return DEFAULT_START


def partitions_end() -> str | None:
    """$HEALTHSCORE_PARTITIONS_END, the last partition (an example whose data stops on its reference
    date sets it: `healthscore run/dev --example`), else None: partitions run up to today."""
    end = os.environ.get("HEALTHSCORE_PARTITIONS_END")
    return dt.date.fromisoformat(end).isoformat() if end else None


def build_daily_partitions() -> dg.DailyPartitionsDefinition:
    end = partitions_end()
    if end:  # Dagster's end_date is the first day after the last partition
        after = (dt.date.fromisoformat(end) + dt.timedelta(days=1)).isoformat()
        return dg.DailyPartitionsDefinition(start_date=partitions_start(), end_date=after)
    # end_offset=1: today's partition exists today, so the daily run can score "as of today"; with
    # HEALTHSCORE_TODAY set in the future, partitions run up to that day too.
    return dg.DailyPartitionsDefinition(
        start_date=partitions_start(), end_offset=1 + max(0, clock.offset().days)
    )


daily_partitions = build_daily_partitions()
