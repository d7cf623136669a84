"""The as_of dimension: one partition per day."""

import os

import dagster as dg

# end_offset=1: today's partition exists today, so the daily run can score "as of today".
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("HEALTHSCORE_PARTITIONS_START", "2020-01-01"),
    end_offset=1,
)
